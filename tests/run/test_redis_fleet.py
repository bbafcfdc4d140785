"""Three `iotwx-watch run` processes, each following its own logs, one Redis, the bundled
simulator: every code is redeemed exactly once whichever servers log it, a ticket one
server saw serves them all, a killed claim holder is never second-guessed, and a Redis
restart or outage loses nothing."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from iotwx_watch.engine.ledger import code_key
from iotwx_watch.sim.server import WeComSimulator
from tests.conftest import SUITE_A, auth_record, blocked_record, ticket_record, wait_for
from tests.redis_server import PASSWORD, RedisServer
from tests.run.fleet import Fleet
from tests.run.support import Daemon

OUTAGE_S = 3.0  # the 30 s outage is bench/redis_fleet.py --outage 30


@pytest.fixture
def fleet(tmp_path: Path, redis_server: RedisServer, sim: WeComSimulator) -> Iterator[Fleet]:
    """Instances a, b and c running against one Redis (prefix "fleet") and the simulator."""
    group = Fleet.create(tmp_path / "fleet", redis_server, sim)
    group.start()
    try:
        yield group
    finally:
        group.kill_all()


def append_at_once(paths: list[Path], text: str) -> None:
    """Append ``text`` to every file back to back: all opened first, then one write(2)
    each (microseconds apart, as a load balancer's retry lands; no timing is asserted)."""
    data = text.encode("utf-8")
    fds = [os.open(path, os.O_WRONLY | os.O_APPEND) for path in paths]
    try:
        for fd in fds:
            os.write(fd, data)
    finally:
        for fd in fds:
            os.close(fd)


def mirrored_status(fleet: Fleet, name: str, code: str) -> str | None:
    """The code's status in instance ``name``'s mirror of the state."""
    ledger = fleet.works[name].state().get("suites", {}).get(SUITE_A, {}).get("auth_codes", {})
    found: str | None = ledger.get(code_key(code), {}).get("status")
    return found


def test_a_ticket_one_server_saw_lets_another_redeem_and_a_code_in_three_logs_is_redeemed_once(
    fleet: Fleet,
) -> None:
    """Ticket only in a's log, a code only in b's: b redeems it. Then one code in all three
    logs within a millisecond: one get_permanent_code call, one corp with its secret."""
    sim, works = fleet.sim, fleet.works
    now = int(time.time())
    ticket = sim.push_ticket(SUITE_A, timestamp=now)
    works["a"].append(works["a"].receive_log, ticket_record(SUITE_A, ticket, now))
    wait_for(lambda: fleet.shared().suite(SUITE_A).suite_ticket, what="a's ticket in Redis")
    first = sim.issue_auth_code(SUITE_A, "wwfleet000000001")
    works["b"].append(works["b"].receive_log, auth_record(SUITE_A, first, now))
    wait_for(lambda: fleet.corp_secret("wwfleet000000001"), what="b redeems with a's ticket")
    assert "engine.redeemed" in fleet.daemons["b"].text()

    second = sim.issue_auth_code(SUITE_A, "wwfleet000000002")
    append_at_once([w.receive_log for w in works.values()], auth_record(SUITE_A, second, now))
    wait_for(lambda: fleet.corp_secret("wwfleet000000002"), what="the code redeemed")
    fleet.wait_caught_up()
    assert 2 == fleet.redeem_calls()
    assert [0, 0] == [c.errcode for c in sim.calls_to("get_permanent_code")]
    assert sim.permanent_code_for("wwfleet000000002") == fleet.corp_secret("wwfleet000000002")
    entry = fleet.entry(second)
    assert entry is not None
    assert ("redeemed", 1, "wwfleet000000002") == (entry.status, entry.attempts, entry.corpid)
    assert 1 == len(fleet.events("engine.redeemed", key=code_key(second)))
    for work in works.values():  # each mirror follows the shared document
        wait_for(lambda work=work: "wwfleet000000002" in  # type: ignore[misc]
                 work.state()["suites"][SUITE_A]["corps"], what="the corp in every mirror")


def test_the_claim_holder_killed_mid_call_is_never_second_guessed(fleet: Fleet) -> None:
    """The instance whose claim is in flight is SIGKILLed: the others leave the code alone
    (no second call); restarted, it records the documented unknown outcome (failed)."""
    sim, works = fleet.sim, fleet.works
    now = int(time.time())
    ticket = sim.push_ticket(SUITE_A, timestamp=now)
    works["a"].append(works["a"].receive_log, ticket_record(SUITE_A, ticket, now))
    wait_for(lambda: fleet.shared().suite(SUITE_A).suite_ticket, what="the ticket in Redis")
    sim.fail_next("get_permanent_code", delay_s=4.0)
    code = sim.issue_auth_code(SUITE_A, "wwfleet000000003")
    append_at_once([w.receive_log for w in works.values()], auth_record(SUITE_A, code, now))
    def holder() -> str | None:
        claims = fleet.events("state.claimed", key=code_key(code))
        return claims[0][0] if claims else None

    name = wait_for(holder, what="one instance's claim")
    wait_for(lambda: fleet.redeem_calls() == 1, what="the call in flight")
    fleet.daemons[name].kill()
    others = [other for other in works if other != name]
    fleet.wait_caught_up(*others)  # the survivors have read the code and ticked since
    entry = fleet.entry(code)
    assert entry is not None
    assert "redeeming" == entry.status
    assert 1 == fleet.redeem_calls()

    fleet.daemons[name] = Daemon(works[name])
    fleet.daemons[name].wait_ready()

    def settled() -> bool:
        found = fleet.entry(code)
        return found is not None and found.status == "failed"

    wait_for(settled, what="the unknown outcome recorded")
    for other in others:  # the survivors see the outcome too, and never called meanwhile
        wait_for(lambda other=other: mirrored_status(fleet, other, code) == "failed",  # type: ignore[misc]
                 what="the outcome in the survivors' mirrors")
    entry = fleet.entry(code)
    assert entry is not None
    assert "unknown" in (entry.error or "")
    assert entry.code is None
    assert 1 == fleet.redeem_calls()
    assert "engine.auth_code_interrupted" in fleet.daemons[name].text()


def test_a_redis_restart_and_outage_lose_nothing(fleet: Fleet) -> None:
    """Redis stopped (appendonly on) for a few seconds while the logs grow: the instances
    keep reading, `status` exits 2, and once Redis is back every code is redeemed exactly
    once, every sighting counted, and what was there before the restart is still there."""
    sim, works = fleet.sim, fleet.works
    now = int(time.time())
    ticket = sim.push_ticket(SUITE_A, timestamp=now)
    works["c"].append(works["c"].receive_log, ticket_record(SUITE_A, ticket, now))
    before = sim.issue_auth_code(SUITE_A, "wwfleet000000010")
    works["c"].append(works["c"].receive_log, auth_record(SUITE_A, before, now))
    wait_for(lambda: fleet.corp_secret("wwfleet000000010"), what="a corp before the outage")

    fleet.redis.stop()
    later = int(time.time())
    newer = sim.push_ticket(SUITE_A, timestamp=later)
    works["b"].append(works["b"].receive_log, ticket_record(SUITE_A, newer, later))
    codes = {name: sim.issue_auth_code(SUITE_A, f"wwfleet00000002{n}")
             for n, name in enumerate(works)}
    for n, (name, code) in enumerate(codes.items()):
        works[name].append(works[name].receive_log, auth_record(SUITE_A, code, later))
        works[list(works)[(n + 1) % 3]].append(  # each code in a second log too
            list(works.values())[(n + 1) % 3].receive_log, auth_record(SUITE_A, code, later))
    for name in ("a", "b"):
        works[name].append(works[name].policy_log, blocked_record("198.51.100.77"))
    wait_for(lambda: all("runner.state_write_failed" in text for _, text in fleet.outputs()),
             what="every instance noticing the outage")
    status = works["a"].run("status")
    assert 2 == status.returncode, status.stdout + status.stderr
    assert PASSWORD not in status.stdout + status.stderr
    time.sleep(OUTAGE_S)
    assert all(d.process.poll() is None for d in fleet.daemons.values())
    fleet.redis.start()

    def all_redeemed() -> bool:
        return all(fleet.corp_secret(f"wwfleet00000002{n}") for n in range(3))

    wait_for(all_redeemed, timeout=60, what="every code redeemed after the outage")
    fleet.wait_caught_up()
    assert fleet.corp_secret("wwfleet000000010")  # kept across the restart
    assert 4 == fleet.redeem_calls()
    blocked = fleet.shared().blocked_ips["198.51.100.77"]
    assert (2, {"a", "b"}) == (blocked.count, set(blocked.seen_by))
    assert 2 != works["a"].run("status").returncode  # Redis readable again
    exits = fleet.stop()
    assert {name: 0 for name in works} == {name: code for name, (code, _) in exits.items()}
