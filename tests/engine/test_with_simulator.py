"""The engine's key scenarios against the real WeCom simulator over loopback HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from iotwx_watch.config import Config, SuiteConfig
from iotwx_watch.engine import Engine, Outcome, code_key
from iotwx_watch.events import AuthChange, AuthCode, Event, SuiteTicket
from iotwx_watch.sim.server import WeComSimulator
from iotwx_watch.state.model import AuthCodeEntry, State
from iotwx_watch.wecom import WeComClient
from tests.engine.fakes import Clock  # shared by the engine and the simulator

SUITE_A = "dkA1b2c3d4e5f6a7b8"
SUITE_B = "dkB1b2c3d4e5f6a7b8"
SECRETS = {SUITE_A: "sim-secret-aaaa-1111", SUITE_B: "sim-secret-bbbb-2222"}
T0 = 1795852800  # 2026-11-28T08:00:00Z


@dataclass
class World:
    """The simulator, a real client pointed at it, and an engine over a fresh state."""

    sim: WeComSimulator
    client: WeComClient
    clock: Clock
    state: State = field(default_factory=State)
    notices: list[Outcome] = field(default_factory=list)
    engine: Engine = field(init=False)

    def __post_init__(self) -> None:
        self.engine = self.new_engine()

    def new_engine(self) -> Engine:
        suites = tuple(SuiteConfig(sid, secret) for sid, secret in SECRETS.items())
        return Engine(config=Config(suites=suites), state=self.state, api=self.client,
                      persist=lambda: None, clock=self.clock, on_outcome=self.notices.append)

    def ticket(self, suite_id: str = SUITE_A, ts: int | None = None) -> SuiteTicket:
        """WeCom pushes a ticket; the event the extractor would make of its log entry."""
        stamp = int(self.clock()) if ts is None else ts
        return SuiteTicket(suite_id, self.sim.push_ticket(suite_id, timestamp=stamp), stamp)

    def code(self, corpid: str, suite_id: str = SUITE_A, info_type: Any = "create_auth",
             ts: int | None = None) -> AuthCode:
        """A customer authorizes (or the provider clicks 重新获取): the auth code event."""
        stamp = int(self.clock()) if ts is None else ts
        value = self.sim.issue_auth_code(suite_id, corpid, info_type=info_type, timestamp=stamp,
                                         corp_name=f"corp {corpid}")
        return AuthCode(info_type, suite_id, value, stamp)

    def handle(self, *events: Event) -> None:
        self.engine.handle(events)

    def endpoints(self) -> list[str]:
        return [call.endpoint for call in self.sim.calls]

    def errcodes(self, endpoint: str) -> list[int | None]:
        return [call.errcode for call in self.sim.calls_to(endpoint)]

    def entry(self, event: AuthCode) -> dict[str, Any]:
        suite = self.state.to_json()["suites"][event.suite_id]
        data: dict[str, Any] = suite["auth_codes"][code_key(event.auth_code)]
        return data

    def corp(self, corpid: str, suite_id: str = SUITE_A) -> dict[str, Any]:
        data: dict[str, Any] = self.state.to_json()["suites"][suite_id]["corps"][corpid]
        return data


@pytest.fixture
def world() -> Iterator[World]:
    clock = Clock(T0)
    with WeComSimulator(clock=clock) as sim:
        for suite_id, secret in SECRETS.items():
            sim.add_suite(suite_id, secret)
        with WeComClient(base_url=sim.base_url, timeout_s=5) as client:
            yield World(sim=sim, client=client, clock=clock)


def test_two_suites_two_corps_each_redeemed_once(world: World) -> None:
    """Two suites with their own tickets and tokens; create_auth for two corps; all recorded."""
    one, two = world.code("wwCorpOne"), world.code("wwCorpTwo", suite_id=SUITE_B)
    world.handle(world.ticket(SUITE_A), world.ticket(SUITE_B), one, two)
    assert ["get_suite_token", "get_permanent_code"] * 2 == world.endpoints()
    assert [SUITE_A, SUITE_A, SUITE_B, SUITE_B] == [c.suite_id for c in world.sim.calls]
    assert world.sim.permanent_code_for("wwCorpOne") == world.corp("wwCorpOne")["permanent_code"]
    assert world.sim.permanent_code_for("wwCorpTwo") == world.corp("wwCorpTwo", SUITE_B)[
        "permanent_code"]
    assert ("corp wwCorpOne", 1000002, "active") == (
        world.corp("wwCorpOne")["corp_name"], world.corp("wwCorpOne")["agentid"],
        world.corp("wwCorpOne")["status"])
    assert ["corp_obtained", "corp_obtained"] == [n.kind for n in world.notices]


def test_create_auth_delivered_three_times_is_one_redemption(world: World) -> None:
    """WeCom's three deliveries of one create_auth give one get_permanent_code, no 40078."""
    code = world.code("wwCorpOne")
    world.handle(world.ticket(), code, code)
    world.clock.advance(5)
    world.handle(code)
    assert [0] == world.errcodes("get_permanent_code")
    assert ("redeemed", 1) == (world.entry(code)["status"], world.entry(code)["attempts"])


def test_reset_permanent_code_then_cancel_auth(world: World) -> None:
    """重新获取 replaces the secret (keeping the old date); cancel_auth then removes it."""
    world.handle(world.ticket(), world.code("wwCorpOne"))
    world.clock.advance(1800)
    world.handle(world.ticket(), world.code("wwCorpOne", info_type="reset_permanent_code"))
    corp = world.corp("wwCorpOne")
    assert world.sim.permanent_code_for("wwCorpOne") == corp["permanent_code"]
    assert ("2026-11-28T08:30:00Z", "2026-11-28T08:00:00Z") == (
        corp["obtained_at"], corp["previous_obtained_at"])
    world.clock.advance(60)
    world.sim.cancel_auth("wwCorpOne")
    world.handle(AuthChange("cancel_auth", SUITE_A, "wwCorpOne", int(world.clock())))
    corp = world.corp("wwCorpOne")
    assert ("cancelled", False) == (corp["status"], "permanent_code" in corp)
    assert ["corp_obtained", "secret_reset", "corp_cancelled"] == [n.kind for n in world.notices]


def test_60020_then_unblocked(world: World) -> None:
    """Blocked: our IP is recorded for the provider whitelist; the next probe (15 s) works."""
    world.sim.block_ip("127.0.0.1", report_as="198.51.100.23")
    code = world.code("wwCorpOne")
    world.handle(world.ticket(), code)
    assert [60020] == world.errcodes("get_suite_token")
    blocked = world.state.to_json()["blocked_ips"]["198.51.100.23"]
    assert ("provider", 1, "get_suite_token") == (
        blocked["whitelist"], blocked["count"], blocked["call"])
    world.sim.unblock_ip()
    world.clock.advance(14)
    world.engine.tick()
    assert 1 == len(world.sim.calls)
    world.clock.advance(1)
    world.engine.tick()
    assert [60020, 0] == world.errcodes("get_suite_token")
    assert "redeemed" == world.entry(code)["status"]
    assert "resolved_at" in world.state.to_json()["blocked_ips"]["198.51.100.23"]


def test_40085_then_a_newer_ticket(world: World) -> None:
    """A ticket WeCom does not accept: 40085, then the code waits for the next push and works."""
    code = world.code("wwCorpOne")
    world.handle(SuiteTicket(SUITE_A, "a-ticket-wecom-never-issued", T0), code)
    assert [40085] == world.errcodes("get_suite_token")
    assert ("pending", "ticket") == (world.entry(code)["status"], world.entry(code)["waiting_for"])
    world.clock.advance(120)
    world.engine.tick()
    assert 1 == len(world.sim.calls)
    world.handle(world.ticket())
    assert [40085, 0] == world.errcodes("get_suite_token")
    assert "redeemed" == world.entry(code)["status"]
    assert ["ticket_rejected", "corp_obtained"] == [n.kind for n in world.notices]


def test_42009_refetches_the_token_once(world: World) -> None:
    """An expired cached token: 42009, one get_suite_token, one retry of the same code."""
    world.handle(world.ticket(), world.code("wwCorpOne"))
    world.sim.expire_tokens()
    world.clock.advance(60)
    second = world.code("wwCorpTwo")
    world.handle(second)
    assert ["get_suite_token", "get_permanent_code", "get_permanent_code", "get_suite_token",
            "get_permanent_code"] == world.endpoints()
    assert [0, 42009, 0] == world.errcodes("get_permanent_code")
    assert ("redeemed", 2) == (world.entry(second)["status"], world.entry(second)["attempts"])


def test_system_busy_twice_then_success(world: World) -> None:
    """-1 twice: backoff 2 s then 4 s, then the code is redeemed."""
    world.sim.fail_next("get_permanent_code", errcode=-1, times=2)
    code = world.code("wwCorpOne")
    world.handle(world.ticket(), code)
    world.clock.advance(2)
    world.engine.tick()
    assert T0 + 6 == world.engine.next_due()
    world.clock.advance(4)
    world.engine.tick()
    assert [-1, -1, 0] == world.errcodes("get_permanent_code")
    assert ("redeemed", 3) == (world.entry(code)["status"], world.entry(code)["attempts"])


def test_expired_code_is_recorded_without_a_call(world: World) -> None:
    """A code past its 10 minutes when first seen: expired, nothing sent to WeCom."""
    stale = world.code("wwCorpOne", ts=T0 - 700)
    world.handle(world.ticket(), stale)
    assert [] == world.sim.calls
    entry = world.entry(stale)
    assert ("expired", False) == (entry["status"], "code" in entry)


def test_wrong_suite_secret_is_sent_once(world: World) -> None:
    """40080: the codes wait for a corrected config, and the rejected secret is not resent."""
    world.sim.add_suite(SUITE_A, "the-secret-was-rotated")
    first, second = world.code("wwCorpOne"), world.code("wwCorpTwo")
    world.handle(world.ticket(), first, second)
    world.engine.retry_now("start")
    world.engine.tick()
    assert [40080] == world.errcodes("get_suite_token")
    assert [("pending", "config")] * 2 == [
        (world.entry(c)["status"], world.entry(c)["waiting_for"]) for c in (first, second)]
    assert not world.engine.failed


def test_restart_after_a_crash_mid_call_does_not_resend(world: World) -> None:
    """An entry saved as 'redeeming' is reported after restart, never sent again."""
    code = world.code("wwCorpOne")
    world.handle(world.ticket())
    world.state.suite(SUITE_A).auth_codes[code_key(code.auth_code)] = _redeeming(code)
    world.state = State.from_json(json.loads(json.dumps(world.state.to_json())))
    engine = world.new_engine()
    engine.recover()
    engine.handle([code])
    assert [] == world.sim.calls_to("get_permanent_code")
    assert ["auth_code_interrupted"] == [n.kind for n in world.notices]
    assert "failed" == world.entry(code)["status"]


def _redeeming(code: AuthCode) -> AuthCodeEntry:
    return AuthCodeEntry(status="redeeming", info_type=code.info_type, timestamp=code.timestamp,
                         first_seen=T0, updated_at=T0, attempts=1)
