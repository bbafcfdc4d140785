"""The Redis store against a real redis-server: round trips, and what two instances sharing
one prefix see of each other's writes (claims, fencing, tickets, tokens, sightings)."""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from iotwx_watch.errors import StateError, StateWriteError
from iotwx_watch.log import SecretRegistry
from iotwx_watch.state.model import (
    AuthCodeEntry,
    BlockedIpEntry,
    CorpEntry,
    State,
    TicketEntry,
    TokenEntry,
    decode,
    snapshot,
)
from iotwx_watch.state.redis_store import RedisStore
from tests.redis_server import PASSWORD, RedisServer
from tests.state.support import previous_bytes

T0 = 1795852800.0
SUITE = "dkSuiteAAAA"
KEY = "0123456789abcdef"
_prefixes = itertools.count()


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the module; each test has its own prefix."""
    redis = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield redis
    redis.stop()


@pytest.fixture
def prefix() -> str:
    return f"t{next(_prefixes)}"


def store(server: RedisServer, prefix: str, instance: str = "a",
          clock: Clock | None = None, **kw: object) -> RedisStore:
    return RedisStore(server.url, prefix=prefix, instance=instance, password=PASSWORD,
                      clock=clock or Clock(), **kw)  # type: ignore[arg-type]


def shared_only(state: State) -> dict[str, object]:
    """What Redis holds of a document, as JSON values (the order of keys is not kept)."""
    data = dataclasses.replace(state, sources={}, source_errors={}, updated_at=None).to_json()
    return data


def pending(code: str = "the-auth-code") -> AuthCodeEntry:
    return AuthCodeEntry(status="pending", info_type="create_auth", timestamp=int(T0),
                         first_seen=T0, updated_at=T0, next_attempt_at=T0, code=code)


def outcome(entry: AuthCodeEntry) -> tuple[str, str | None, str | None]:
    return entry.status, entry.error, entry.corpid


def test_a_whole_document_reads_back_equal(server: RedisServer, prefix: str) -> None:
    """The schema-1 fixture (every optional key, unknown keys everywhere) written to Redis
    reads back equal, by another instance too."""
    document = decode(previous_bytes())
    writer = store(server, prefix)
    writer.load()
    writer.save(document)
    expected = shared_only(document)
    assert expected == shared_only(store(server, prefix, "b").load())
    assert expected == shared_only(store(server, prefix, "a").load())


def test_an_empty_prefix_is_an_empty_document(server: RedisServer, prefix: str) -> None:
    """A prefix nothing was written under reads as a new, empty state."""
    assert snapshot(State()) == snapshot(store(server, prefix).load())


def test_prefixes_keep_deployments_apart(server: RedisServer, prefix: str) -> None:
    """What one deployment writes under its prefix is not seen under another."""
    one = store(server, prefix)
    state = one.load()
    state.suite(SUITE).corps["ww1"] = dataclasses.replace(
        decode(previous_bytes()).suites["dk7f3a9c2b41e05d68"].corps["wwa1c7e3b0d2f94e61"])
    one.save(state)
    assert {} == store(server, prefix + "-other").load().suites


def test_a_change_reaches_the_other_instance_on_refresh(server: RedisServer, prefix: str) -> None:
    """B adopts what A wrote; a part B changed and has not written yet stays B's."""
    a, b = store(server, prefix, "a"), store(server, prefix, "b")
    state_a, state_b = a.load(), b.load()
    state_a.suite(SUITE).last_error = {"errcode": 1}
    state_a.suite(SUITE).auth_codes[KEY] = pending()
    a.save(state_a)
    state_b.suite(SUITE).auth_codes["ffffffffffffffff"] = pending("another")
    assert b.refresh(state_b)
    assert {KEY, "ffffffffffffffff"} == set(state_b.suite(SUITE).auth_codes)
    assert {"errcode": 1} == state_b.suite(SUITE).last_error
    assert not b.refresh(state_b)  # nothing new: the revision did not move


def test_only_one_instance_claims_a_code(server: RedisServer, prefix: str) -> None:
    """Both instances hold the code pending; A's claim is accepted, B's refused, and B's
    entry then shows A's claim (redeeming) instead of its own."""
    a, b = store(server, prefix, "a"), store(server, prefix, "b")
    state_a, state_b = a.load(), b.load()
    state_a.suite(SUITE).auth_codes[KEY] = pending()
    a.save(state_a)
    b.refresh(state_b)
    mine, theirs = state_a.suite(SUITE).auth_codes[KEY], state_b.suite(SUITE).auth_codes[KEY]
    mine.status = theirs.status = "redeeming"
    theirs.attempts = 9
    assert a.claim(SUITE, KEY, mine, lease_until=T0 + 600)
    assert not b.claim(SUITE, KEY, theirs, lease_until=T0 + 600)
    assert ("redeeming", 0) == (theirs.status, theirs.attempts)
    assert theirs is state_b.suite(SUITE).auth_codes[KEY]  # adopted in place
    assert b.held_elsewhere(SUITE, KEY, T0)
    assert not a.held_elsewhere(SUITE, KEY, T0)


def test_a_code_first_seen_by_two_instances_is_claimed_once(
    server: RedisServer, prefix: str
) -> None:
    """The same code recorded by both before either wrote it: the first claim creates the
    entry, the second is refused."""
    a, b = store(server, prefix, "a"), store(server, prefix, "b")
    state_a, state_b = a.load(), b.load()
    for state in (state_a, state_b):
        state.suite(SUITE).auth_codes[KEY] = dataclasses.replace(pending(), status="redeeming")
    won = [a.claim(SUITE, KEY, state_a.suite(SUITE).auth_codes[KEY], lease_until=T0 + 600),
           b.claim(SUITE, KEY, state_b.suite(SUITE).auth_codes[KEY], lease_until=T0 + 600)]
    assert [True, False] == won


def test_many_instances_racing_for_one_claim_get_one_win(server: RedisServer, prefix: str) -> None:
    """Eight instances in eight threads claim the same pending code at once: one wins."""
    seed = store(server, prefix, "seed")
    state = seed.load()
    state.suite(SUITE).auth_codes[KEY] = pending()
    seed.save(state)
    stores = [store(server, prefix, f"i{n}") for n in range(8)]
    states = [s.load() for s in stores]
    wins: list[bool] = []
    barrier = threading.Barrier(len(stores))

    def race(s: RedisStore, st: State) -> None:
        entry = st.suite(SUITE).auth_codes[KEY]
        entry.status = "redeeming"
        barrier.wait()
        wins.append(s.claim(SUITE, KEY, entry, lease_until=T0 + 600))

    threads = [threading.Thread(target=race, args=pair) for pair in zip(stores, states,
                                                                           strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert [True] + [False] * 7 == sorted(wins, reverse=True)


def test_a_stalled_claim_holder_cannot_overwrite_the_take_over(
    server: RedisServer, prefix: str
) -> None:
    """A claims, then stalls past its lease; B marks the code failed (unknown outcome).
    A's late record is refused and A adopts B's record: the fencing token at work."""
    clock = Clock()
    a, b = store(server, prefix, "a", clock), store(server, prefix, "b", clock)
    state_a, state_b = a.load(), b.load()
    state_a.suite(SUITE).auth_codes[KEY] = pending()
    a.save(state_a)
    entry_a = state_a.suite(SUITE).auth_codes[KEY]
    entry_a.status = "redeeming"
    assert a.claim(SUITE, KEY, entry_a, lease_until=T0 + 630)
    b.refresh(state_b)
    clock.now = T0 + 631
    assert not b.held_elsewhere(SUITE, KEY, clock.now)
    entry_b = state_b.suite(SUITE).auth_codes[KEY]
    entry_b.status, entry_b.error, entry_b.code = "failed", "interrupted", None
    b.save(state_b)
    entry_a.status, entry_a.corpid, entry_a.code = "redeemed", "wwLate", None
    a.save(state_a)
    assert ("failed", "interrupted", None) == outcome(entry_a)
    assert "failed" == store(server, prefix, "c").load().suite(SUITE).auth_codes[KEY].status


def test_the_newest_ticket_wins_across_instances(server: RedisServer, prefix: str) -> None:
    """An older ticket written later is refused (the writer adopts the newer one); a ticket
    WeCom rejected gives way to any other; the same ticket only gains `rejected`."""
    a, b = store(server, prefix, "a"), store(server, prefix, "b")
    state_a, state_b = a.load(), b.load()
    state_a.suite(SUITE).suite_ticket = TicketEntry("new", 2000, received_at=T0)
    a.save(state_a)
    state_b.suite(SUITE).suite_ticket = TicketEntry("old", 1000, received_at=T0)
    b.save(state_b)
    assert "new" == state_b.suite(SUITE).suite_ticket.value  # type: ignore[union-attr]
    state_b.suite(SUITE).suite_ticket.rejected = True  # type: ignore[union-attr]
    b.save(state_b)
    a.refresh(state_a)
    assert state_a.suite(SUITE).suite_ticket.rejected  # type: ignore[union-attr]
    state_a.suite(SUITE).suite_ticket = TicketEntry("older-but-good", 1500, received_at=T0)
    a.save(state_a)
    assert "older-but-good" == store(server, prefix).load().suite(SUITE).suite_ticket.value  # type: ignore[union-attr]


def test_sightings_add_up_across_instances(server: RedisServer, prefix: str) -> None:
    """An address seen twice by A and three times by B counts five for both, with the
    earliest first sighting, the latest last one, and both instances' logs."""
    a, b = store(server, prefix, "a"), store(server, prefix, "b")
    state_a, state_b = a.load(), b.load()
    state_a.blocked_ips["198.51.100.7"] = BlockedIpEntry(
        "app", first_seen=T0 + 10, last_seen=T0 + 20, count=2, seen_by={"a": ["/a/p.log"]})
    state_b.blocked_ips["198.51.100.7"] = BlockedIpEntry(
        "app", first_seen=T0 + 5, last_seen=T0 + 15, count=3, seen_by={"b": ["/b/p.log"]})
    a.save(state_a)
    b.save(state_b)
    a.refresh(state_a)
    for state in (state_a, state_b):
        entry = state.blocked_ips["198.51.100.7"]
        assert (5, T0 + 5, T0 + 20) == (entry.count, entry.first_seen, entry.last_seen)
        assert {"a": ["/a/p.log"], "b": ["/b/p.log"]} == entry.seen_by
    state_a.blocked_ips["198.51.100.7"].count += 1
    a.save(state_a)
    assert 6 == store(server, prefix).load().blocked_ips["198.51.100.7"].count


def test_one_instance_fetches_the_token_the_others_reuse_it(
    server: RedisServer, prefix: str
) -> None:
    """Three instances need a suite token at once: one fetches it under the lock, the
    other two wait and take the one it stored."""
    stores = [store(server, prefix, f"i{n}") for n in range(3)]
    states = [s.load() for s in stores]
    fetched: list[str] = []
    barrier = threading.Barrier(3)
    got: list[str] = []

    def need(s: RedisStore, st: State) -> None:
        def fetch() -> str:
            fetched.append(s.instance)
            threading.Event().wait(0.3)  # a slow WeCom: the others must wait, not fetch
            st.suite(SUITE).suite_access_token = TokenEntry("tok-1", expires_at=T0 + 7200)
            return "tok-1"

        barrier.wait()
        got.append(s.refreshing_token(SUITE, fetch, usable=lambda t: t.expires_at > T0))

    threads = [threading.Thread(target=need, args=pair)
               for pair in zip(stores, states, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert 1 == len(fetched)
    assert ["tok-1"] * 3 == got
    assert all(st.suite(SUITE).suite_access_token is not None for st in states)


def test_a_token_one_instance_found_invalid_is_not_taken_back(
    server: RedisServer, prefix: str
) -> None:
    """The stored token is one WeCom refused (not usable): the next caller fetches anew."""
    a = store(server, prefix)
    state = a.load()
    state.suite(SUITE).suite_access_token = TokenEntry("bad", expires_at=T0 + 7200)
    a.save(state)
    state.suite(SUITE).suite_access_token = None

    def fetch() -> str:
        state.suite(SUITE).suite_access_token = TokenEntry("good", expires_at=T0 + 7200)
        return "good"

    assert "good" == a.refreshing_token(SUITE, fetch, usable=lambda t: t.value != "bad")
    assert "good" == store(server, prefix).load().suite(SUITE).suite_access_token.value  # type: ignore[union-attr]


def test_redis_down_is_a_retryable_write_error_without_the_password(
    tmp_path: Path, prefix: str
) -> None:
    """With Redis stopped, save and refresh raise StateWriteError naming the URL, never
    the password."""
    server = RedisServer(tmp_path / "r").start()
    s = store(server, prefix)
    state = s.load()
    server.stop()
    state.suite(SUITE).last_error = {"errcode": 1}
    for action in (lambda: s.save(state), lambda: s.refresh(state)):
        with pytest.raises(StateWriteError) as caught:
            action()
        assert server.url in str(caught.value)
        assert PASSWORD not in str(caught.value)


def test_a_wrong_password_stops_the_start(server: RedisServer, prefix: str) -> None:
    """A password Redis refuses is a StateError at load (exit 2: no retry mends it)."""
    bad = RedisStore(server.url, prefix=prefix, instance="a", password="not-it",
                     secrets=SecretRegistry())
    with pytest.raises(StateError) as caught:
        bad.load()
    assert not isinstance(caught.value, StateWriteError)
    assert "not-it" not in str(caught.value)


def test_an_unknown_layout_or_a_bad_part_is_refused(server: RedisServer, prefix: str) -> None:
    """A prefix written by another layout, or a part that is not an entry, stops the load
    and names the place."""
    client = server.client()
    client.set(f"{prefix}:layout", "2")
    with pytest.raises(StateError, match="layout '2'"):
        store(server, prefix).load()
    client.set(f"{prefix}:layout", "1")
    client.sadd(f"{prefix}:suites", SUITE)
    client.hset(f"{prefix}:s:{SUITE}:c:corps", "ww1", b'{"agentid": true}')
    with pytest.raises(StateError, match=f"suites.{SUITE}.corps.ww1"):
        store(server, prefix).load()


def test_an_acl_user_limited_to_its_prefix_is_enough(server: RedisServer, prefix: str) -> None:
    """The README's ACL (its prefix only, no dangerous commands) runs every operation; the
    same user on another prefix is refused at start (StateError, exit 2)."""
    server.client().execute_command(  # type: ignore[no-untyped-call]
        "ACL", "SETUSER", f"u-{prefix}", "on", ">acl-pass-1234", "resetkeys", f"~{prefix}:*",
        "resetchannels", "-@all", "+@read", "+@write", "+@transaction", "+@scripting",
        "+@connection", "-@dangerous")
    url = server.url.replace("redis://", f"redis://u-{prefix}@")
    limited = RedisStore(url, prefix=prefix, instance="a", password="acl-pass-1234")
    state = limited.load()
    limited.save(decode(previous_bytes()))
    state = limited.load()

    def fetch() -> str:
        state.suite(SUITE).suite_access_token = TokenEntry("tok", expires_at=T0 + 7200)
        return "tok"

    assert "tok" == limited.refreshing_token(SUITE, fetch, usable=lambda t: False)
    assert limited.holds_anything()
    other = RedisStore(url, prefix=prefix + "-x", instance="a", password="acl-pass-1234")
    with pytest.raises(StateError) as caught:
        other.load()
    assert not isinstance(caught.value, StateWriteError)


def test_a_waiter_takes_the_token_the_lock_holder_stored(server: RedisServer, prefix: str) -> None:
    """B dropped the token WeCom refused and finds the lock held by A: B waits, then takes
    A's new token instead of fetching one itself."""
    a = store(server, prefix, "a")
    state_a = a.load()
    state_a.suite(SUITE).suite_access_token = TokenEntry("refused", expires_at=T0 + 7200)
    a.save(state_a)
    lock = f"{prefix}:s:{SUITE}:lock:token"
    server.client().set(lock, "held-by-a", px=10_000)
    polls: list[float] = []

    def poll(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 3:  # A stores its new token and lets go of the lock
            state_a.suite(SUITE).suite_access_token = TokenEntry("fresh", expires_at=T0 + 7200)
            a.save(state_a)
            server.client().delete(lock)

    b = store(server, prefix, "b", sleep=poll)
    state_b = b.load()
    state_b.suite(SUITE).suite_access_token = None  # B's drop_token after 42009
    fetched: list[str] = []

    def fetch() -> str:
        fetched.append("b")
        return "b-token"

    got = b.refreshing_token(SUITE, fetch, usable=lambda t: t.value != "refused")
    assert ("fresh", []) == (got, fetched)


def test_a_secret_obtained_later_survives_a_concurrent_change_of_its_corp(
    server: RedisServer, prefix: str
) -> None:
    """B refreshes the corp's name while A, not yet aware, stores the corp's new Secret:
    A's write is refused at first, then made again over B's (the newer Secret wins)."""
    clock = Clock()
    a, b = store(server, prefix, "a", clock), store(server, prefix, "b", clock)
    state_a = a.load()
    state_a.suite(SUITE).corps["ww1"] = CorpEntry("Old name", 1000002, "secret-0",
                                                 obtained_at=T0)
    a.save(state_a)
    state_b = b.load()
    state_b.suite(SUITE).corps["ww1"].corp_name = "New name"
    b.save(state_b)
    corp = state_a.suite(SUITE).corps["ww1"]
    corp.permanent_code, corp.obtained_at = "secret-1", T0 + 10
    a.save(state_a)
    stored = store(server, prefix, "c").load().suite(SUITE).corps["ww1"]
    assert ("secret-1", T0 + 10) == (stored.permanent_code, stored.obtained_at)
    assert "secret-1" == state_a.suite(SUITE).corps["ww1"].permanent_code
