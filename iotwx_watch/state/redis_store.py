"""The shared state in Redis: this instance's changes written part by part, others' read back.

Every instance of a deployment keeps the whole document in memory, as with a state file;
:meth:`RedisStore.save` writes only the parts this instance changed, each by its rule
(:mod:`iotwx_watch.state.redis_layout`), in one transaction; :meth:`RedisStore.refresh`
reads everything back when the deployment's revision moved. The engine's three contested
operations (claim, a ``redeeming`` entry's owner, the suite token) are
:class:`~iotwx_watch.engine.ledger_port.SharedLedger`'s, implemented here.

redis-py is imported on first connection only: `--help`, `status` of a file deployment
and the file backend never load it. No password is ever in a message: the URL holds none
(the config refuses it) and Redis' own errors are scrubbed by the secret registry.
"""

from __future__ import annotations

import contextlib
import copy
import secrets as token_source
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import msgspec

from iotwx_watch.errors import StateError, StateWriteError
from iotwx_watch.log import SecretRegistry, get_logger
from iotwx_watch.state.codec import ShapeError, format_time, parse_time
from iotwx_watch.state.model import AuthCodeEntry, State, SuiteState, TokenEntry
from iotwx_watch.state.parts import Cut, Part, counted, cut, keeps_mine, place, with_tally
from iotwx_watch.state.redis_layout import (
    CAS_ENTRY,
    LAYOUT,
    MERGE_COUNTED,
    PUT_TICKET,
    PUT_TOKEN,
    RELEASE_LOCK,
    Keys,
    Read,
    claim_of,
    pairs,
    parse_replies,
    tally_from,
)
from iotwx_watch.state.redis_sync import (
    EMPTY_SUITE_REST,
    TICKET,
    TOKEN,
    Remote,
    SyncBook,
    canonical,
    remote_of,
    value_hash,
)

if TYPE_CHECKING:
    import redis
    from redis.client import Pipeline

log = get_logger("state")

IO_TIMEOUT_S = 2.0  # a Redis that does not answer in this time counts as down
LOCK_POLL_S = 0.05


class RedisStore:
    """One instance's connection to the deployment's shared state (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        instance: str,
        password: str | None,
        secrets: SecretRegistry | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        lock_ttl_s: float = 15.0,
    ) -> None:
        self.url = url
        self.keys = Keys(prefix)
        self.instance = instance
        self.where = f"{url} (prefix {prefix})"
        self._password = password
        self._secrets = secrets or SecretRegistry()
        self._secrets.add(password)
        self._clock = clock
        self._sleep = sleep
        self._lock_ttl_s = lock_ttl_s
        self._book = SyncBook(self._secrets.add)
        self._rev: int | None = None
        self._state: State | None = None
        self._client: redis.Redis | None = None
        self._scripts: dict[str, Any] = {}
        self._decoded: dict[Part, tuple[bytes, tuple[Any, bytes | None]]] = {}
        self._again = False  # a refused write that must win was put back (see save)

    # -- connection ----------------------------------------------------------------------
    def _redis(self) -> redis.Redis:
        if self._client is None:
            import redis as redis_py
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            try:
                self._client = redis_py.Redis.from_url(
                    self.url, password=self._password, socket_timeout=IO_TIMEOUT_S,
                    socket_connect_timeout=IO_TIMEOUT_S, retry=Retry(NoBackoff(), 0),
                    client_name=f"iotwx-watch-{self.instance}",
                )
            except ValueError as exc:  # a query argument redis-py cannot read
                raise StateError(f"state: cannot use {self.url}: {exc}") from None
            self._scripts = {name: self._client.register_script(text) for name, text in (
                ("cas", CAS_ENTRY), ("merge", MERGE_COUNTED), ("ticket", PUT_TICKET),
                ("token", PUT_TOKEN), ("release", RELEASE_LOCK))}
        return self._client

    @contextlib.contextmanager
    def _io(self, *, starting: bool = False) -> Iterator[None]:
        """Redis errors → ours: retryable (StateWriteError) unless, at start, the password
        or the permissions are wrong, which no retry mends (StateError, exit 2)."""
        import redis as redis_py

        try:
            yield
        except redis_py.RedisError as exc:
            text = self._secrets.scrub(str(exc)) or type(exc).__name__
            refused = isinstance(exc, redis_py.AuthenticationError
                                 | redis_py.exceptions.NoPermissionError) or any(
                word in text for word in ("NOAUTH", "WRONGPASS", "NOPERM", "no permissions",
                                          "invalid username-password"))
            if starting and refused:
                raise StateError(f"Redis {self.where} refused iotwx-watch: {text}") from None
            raise StateWriteError(f"cannot use Redis {self.where}: {text}") from None

    def holds_anything(self) -> bool:
        """Whether any key under the prefix exists (a deployment lives there)."""
        with self._io(starting=True):
            return next(self._redis().scan_iter(match=self.keys.pattern(), count=200),
                        None) is not None

    def wipe(self) -> int:
        """Delete every key under the prefix (`state migrate --replace`); returns how many."""
        deleted = 0
        with self._io(starting=True):
            client = self._redis()
            found = list(client.scan_iter(match=self.keys.pattern(), count=500))
            for start in range(0, len(found), 500):
                deleted += int(client.delete(*found[start:start + 500]))
        self._book = SyncBook(self._secrets.add)
        self._rev = None
        return deleted

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- reading -------------------------------------------------------------------------
    def load(self) -> State:
        """The deployment's document (empty for a new prefix); the state this store keeps
        in step from now on."""
        state = State()
        rev, updated_at, remotes = self._read_all(starting=True)
        for part in sorted(remotes, key=lambda p: (p.kind != "rest", p)):
            self._book.adopt(state, part, remotes[part])
        state.updated_at = updated_at
        self._rev, self._state = rev, state
        return state

    def refresh(self, state: State) -> bool:
        """Adopt what other instances wrote since the last read (nothing when the revision
        did not move); parts changed here and not yet written stay as they are."""
        with self._io():
            raw = self._redis().get(self.keys.rev)
        if (int(raw) if raw is not None else None) == self._rev:
            return False
        rev, updated_at, remotes = self._read_all()
        arrived = self._book.pull(state, remotes)
        if updated_at is not None:
            state.updated_at = max(updated_at, state.updated_at or 0.0)
        self._rev = rev
        return arrived

    def _read_all(self, *, starting: bool = False
                  ) -> tuple[int | None, float | None, dict[Part, Remote]]:
        """Everything under the prefix, in three round trips (the suites and the counted
        entries must be known before their keys can be read)."""
        keys, top, per_suite = self.keys, cut(State), cut(SuiteState)
        client = self._redis()
        with self._io(starting=starting):
            pipe = client.pipeline(transaction=True)
            for key in (keys.layout, keys.rev, keys.updated_at):
                pipe.get(key)
            pipe.smembers(keys.suites)
            queued = self._queue_scope(pipe, "", top)
            layout, rev, updated_at, suite_ids, *replies = pipe.execute()
            if layout is not None and layout.decode() != LAYOUT:
                raise StateError(f"Redis {self.where} holds layout {layout.decode()!r}; this "
                                 f"version reads layout {LAYOUT}: not touching it")
            pipe = client.pipeline(transaction=True)
            for suite_id in sorted(raw.decode() for raw in suite_ids):
                queued += self._queue_scope(pipe, suite_id, per_suite)
            replies += pipe.execute()
            found = parse_replies(queued, replies)
            for suite_id in suite_ids:  # a suite with nothing but its id is still a suite
                found.setdefault(Part("rest", suite_id.decode()), Read(EMPTY_SUITE_REST))
            merged = [part for part in found if counted(part)]
            pipe = client.pipeline(transaction=False)
            for part in merged:
                pipe.hgetall(keys.tally(part))
            tallies = dict(zip(merged, pipe.execute(), strict=True))
        try:
            remotes = {part: self._remote(part, read, tallies.get(part))
                       for part, read in found.items()}
        except ShapeError as exc:
            raise StateError(f"Redis {self.where}: {exc}; not overwriting it") from exc
        for gone in set(self._decoded) - set(found):
            del self._decoded[gone]
        stamp = None if updated_at is None else parse_time(updated_at.decode())
        return (int(rev) if rev is not None else None), stamp, remotes

    def _queue_scope(self, pipe: Pipeline, suite_id: str, c: Cut) -> list[Part]:
        """Queue the reads of one scope (the document or a suite): its rest, single
        entries and objects of entries; returns the part each reply (or three) answers."""
        queued = [Part("rest", suite_id)]
        pipe.get(self.keys.of(queued[0]))
        for name in c.ones:
            queued.append(Part("one", suite_id, name))
            pipe.hget(self.keys.of(queued[-1]), "blob")
        for name in c.entries:
            queued.append(Part("entry", suite_id, name))
            for key in (self.keys.of(queued[-1]), self.keys.versions(queued[-1]),
                        self.keys.claims(queued[-1])):
                pipe.hgetall(key)
        return queued

    def _remote(self, part: Part, read: Read, tally: dict[bytes, bytes] | None) -> Remote:
        """A part as read, decoded (and checked) once per distinct blob: a re-read after
        another instance's write decodes only what changed."""
        blob = read.blob
        merged = None
        spec = counted(part)
        if spec is not None:
            merged = tally_from(tally or {})
            blob = with_tally(spec, blob, merged)
        known = self._decoded.get(part)
        if known is not None and known[0] == blob:
            value, canonical_blob = known[1]
        else:
            fresh = remote_of(part, blob)
            value, canonical_blob = fresh.value, fresh.blob
            self._decoded[part] = (blob, (value, canonical_blob))
        return Remote(value, canonical_blob, version=read.version, claim=read.claim,
                      tally=merged)


    # -- writing ------------------------------------------------------------------------
    def save(self, state: State) -> None:
        """Write every part this instance changed, each by its rule, in one transaction (a
        refused part that must still win is written again over what was read: bounded)."""
        self._again = False
        for _ in range(3):
            self._push(state, self._book.changes(state))
            if not self._again:
                return
            self._again = False

    def _push(self, state: State, changes: list[tuple[Part, bytes | None]],
              claim: str = "-") -> list[bool]:
        """Write ``changes``; a part Redis refuses (a newer ticket, an entry someone else
        wrote first) is adopted from Redis instead. Returns, per change, whether it was
        written as this instance had it."""
        suites = sorted({part.suite for part, _ in changes if part.suite}
                        | (set(state.suites) - self._book.suites))
        if not changes and not suites:
            return []
        now = self._clock()
        with self._io():
            pipe = self._redis().pipeline(transaction=True)
            for part, blob in changes:
                self._queue_write(pipe, state, part, blob, claim)
            if suites:
                pipe.sadd(self.keys.suites, *suites)
            pipe.set(self.keys.layout, LAYOUT, nx=True)
            pipe.set(self.keys.updated_at, format_time(now))
            pipe.incr(self.keys.rev)
            replies = pipe.execute()
        rev = int(replies[-1])
        if self._rev is not None and rev == self._rev + 1:
            self._rev = rev  # nobody else wrote meanwhile: no need to read it back
        state.updated_at = now
        self._book.suites.update(suites)
        return [self._settle(state, part, blob, reply, claim)
                for (part, blob), reply in zip(changes, replies, strict=False)]

    def _queue_write(self, pipe: Pipeline, state: State, part: Part, blob: bytes | None,
                     claim: str) -> None:
        key = self.keys.of(part)
        if part.kind == "rest":
            pipe.set(key, blob or b"")
        elif part.field == TICKET:
            ticket = state.suite(part.suite).suite_ticket
            if ticket is None:  # a ticket is never removed: take the fleet's
                pipe.eval("return {0, redis.call('HGET', KEYS[1], 'blob')}", 1, key)
            else:
                self._scripts["ticket"](keys=[key], client=pipe, args=[
                    blob, ticket.timestamp, value_hash(ticket.value), int(ticket.rejected)])
        elif part.field == TOKEN:
            token = state.suite(part.suite).suite_access_token
            before = self._book.base.get(part)
            seen = value_hash(msgspec.json.decode(before)["value"]) if before else ""
            self._scripts["token"](keys=[key], client=pipe, args=[
                blob or b"", value_hash(token.value) if token else "", seen])
        elif part.kind == "one" and blob is not None:
            pipe.hset(key, "blob", blob)
        elif part.kind == "one":
            pipe.delete(key)
        elif counted(part):
            args = self._book.tally_args(part, blob) if blob is not None else []
            self._scripts["merge"](keys=[key, self.keys.tally(part)], client=pipe,
                                   args=[part.key, blob or b"", *args])
        else:
            status = getattr(_local(state, part), "status", None)
            hold = claim if status == "redeeming" else ""
            self._scripts["cas"](keys=[key, self.keys.versions(part), self.keys.claims(part)],
                                 client=pipe, args=[part.key, self._book.versions.get(part, 0),
                                                    blob or b"", hold])

    def _settle(self, state: State, part: Part, blob: bytes | None, reply: Any,
                claim: str) -> bool:
        """What Redis answered to one write: recorded as in step, or its value adopted."""
        if part.kind == "rest" or (part.kind == "one" and part.field not in (TICKET, TOKEN)):
            self._book.record(part, remote_of(part, blob))
            return True
        spec = counted(part)
        if spec is not None:
            tally = tally_from(pairs(reply)) if blob is not None else None
            merged = with_tally(spec, blob, tally) if blob and tally else None
            self._book.adopt(state, part, remote_of(part, merged, tally=tally))
            return True
        if part.kind == "one":  # ticket, token
            if reply[0] == 1:
                self._book.record(part, remote_of(part, blob))
                return True
            self._book.adopt(state, part, remote_of(part, reply[1]))
            log.info("state.adopted", part=part.where(), reason="newer_in_redis")
            return False
        if reply[0] == 1:
            held = claim_of(claim.encode()) if claim not in ("", "-") else None
            if claim == "-" and getattr(_local(state, part), "status", None) == "redeeming":
                held = self._book.claims.get((part.suite, part.key))
            self._book.record(part, remote_of(part, blob, version=int(reply[1]), claim=held))
            return True
        mine = copy.deepcopy(_local(state, part))
        theirs = remote_of(part, reply[2], version=int(reply[1]), claim=claim_of(reply[3]))
        self._book.adopt(state, part, theirs)
        log.info("state.write_refused", part=part.where(), version=int(reply[1]),
                 reason="written by another instance since this one read it")
        if mine is not None and keeps_mine(part, mine, theirs.value):
            place(state, part, mine)  # over the version just read, at the next round
            self._again = True
        return False

    # -- the engine's SharedLedger -------------------------------------------------------
    def claim(
        self, suite_id: str, key: str, entry: AuthCodeEntry, *, lease_until: float
    ) -> bool:
        """Accepted only at the version this instance last read (the fencing token)."""
        state = self._attached()
        part = Part("entry", suite_id, "auth_codes", key)
        won = self._push(state, [(part, canonical(entry))],
                         claim=f"{self.instance}\t{lease_until:.3f}")
        if won and won[0]:
            log.info("state.claimed", suite_id=suite_id, key=key, instance=self.instance,
                     fence=self._book.versions.get(part), lease_until=format_time(lease_until))
        return bool(won and won[0])

    def held_elsewhere(self, suite_id: str, key: str, now: float) -> bool:
        claim = self._book.claims.get((suite_id, key))
        return claim is not None and claim[0] != self.instance and now < claim[1]

    def refreshing_token(
        self, suite_id: str, fetch: Callable[[], str], *, usable: Callable[[TokenEntry], bool]
    ) -> str:
        """Under ``S:lock:token``: a usable token in Redis is taken, else ``fetch()`` and the
        token written at once. Without the lock: wait for the holder's token (bounded)."""
        state = self._attached()
        lock, me = self.keys.token_lock(suite_id), token_source.token_hex(8)
        ones = [Part("one", suite_id, TICKET), Part("one", suite_id, TOKEN)]
        deadline = time.monotonic() + 2 * self._lock_ttl_s
        while True:
            with self._io():
                locked = self._redis().set(lock, me, nx=True, px=int(self._lock_ttl_s * 1000))
            # This instance's own ticket/token changes first (a token WeCom refused is
            # forgotten unless another replaced it), so what is read next is the fleet's.
            self._push(state, self._book.changes(state, ones))
            self._pull_ones(state, ones)
            token = state.suite(suite_id).suite_access_token
            if token is not None and usable(token):
                if locked:
                    self._release(lock, me)
                return token.value
            if locked:
                try:
                    value = fetch()
                    self._push(state, self._book.changes(state, ones))
                    return value
                finally:
                    self._release(lock, me)
            if time.monotonic() > deadline:
                raise StateWriteError(f"another instance has held the suite token lock of "
                                      f"{suite_id} for {2 * self._lock_ttl_s:.0f} s")
            self._sleep(LOCK_POLL_S)

    def _pull_ones(self, state: State, parts: list[Part]) -> None:
        """Read single parts (a suite's ticket and token) and adopt what changed elsewhere."""
        with self._io():
            pipe = self._redis().pipeline(transaction=True)
            for part in parts:
                pipe.hget(self.keys.of(part), "blob")
            blobs = pipe.execute()
        try:
            remotes = {part: remote_of(part, blob) for part, blob in zip(parts, blobs, strict=True)
                       if blob is not None}
        except ShapeError as exc:
            raise StateWriteError(f"Redis {self.where}: {exc}") from exc
        self._book.pull(state, remotes, only=parts)

    def _release(self, lock: str, me: str) -> None:
        with contextlib.suppress(StateWriteError), self._io():
            self._scripts["release"](keys=[lock], args=[me])

    def _attached(self) -> State:
        if self._state is None:
            raise RuntimeError("RedisStore.load() was not called")
        return self._state


def _local(state: State, part: Part) -> Any:
    owner: Any = state.suites.get(part.suite) if part.suite else state
    return None if owner is None else getattr(owner, part.field).get(part.key)
