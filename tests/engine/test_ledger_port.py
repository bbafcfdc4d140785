"""The engine with a shared ledger (engine/ledger_port.py): it calls WeCom only on a claim
the store accepted, leaves another instance's call in flight alone, takes over a claim
whose lease is over, and takes the suite token another instance stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from iotwx_watch.config import Config, WeComConfig
from iotwx_watch.engine import Engine, code_key
from iotwx_watch.errors import StateWriteError, WeComError
from iotwx_watch.events import BlockedIP, SourcePosition
from iotwx_watch.state.model import AuthCodeEntry, State, TicketEntry, TokenEntry
from tests.engine.fakes import CODE, SUITE, T0, Clock, FakeApi, Rig, code, ticket


@dataclass
class FakeLedger:
    """A store shared with other (imagined) instances, scripted by the test."""

    state: State
    accept: bool = True
    elsewhere: set[str] = field(default_factory=set)
    claims: list[tuple[str, float]] = field(default_factory=list)
    stored_token: TokenEntry | None = None
    down: bool = False
    usable_seen: list[bool] = field(default_factory=list)

    def claim(self, suite_id: str, key: str, entry: AuthCodeEntry, *,
              lease_until: float) -> bool:
        if self.down:
            raise StateWriteError("cannot use Redis redis://127.0.0.1:1/0: refused")
        self.claims.append((key, lease_until))
        if not self.accept:
            entry.attempts = 1  # what the instance that won wrote
        return self.accept

    def held_elsewhere(self, suite_id: str, key: str, now: float) -> bool:
        return key in self.elsewhere

    def refreshing_token(self, suite_id: str, fetch: Callable[[], str], *,
                         usable: Callable[[TokenEntry], bool]) -> str:
        if self.stored_token is not None:
            self.usable_seen.append(usable(self.stored_token))
            if self.usable_seen[-1]:
                self.state.suite(suite_id).suite_access_token = self.stored_token
                return self.stored_token.value
        return fetch()


def shared_rig(instance: str | None = "cb-1") -> tuple[Rig, FakeLedger]:
    """A rig whose engine uses a FakeLedger (timeout 10 s, so a lease is deadline + 30 s)."""
    rig = Rig(clock=Clock(T0), api=FakeApi())
    ledger = FakeLedger(rig.state)
    config = Config(suites=rig.suites, wecom=WeComConfig(timeout_s=10))
    rig.engine = Engine(config=config, state=rig.state, api=rig.api,
                        persist=lambda: rig.saved.append(json.loads(json.dumps(
                            rig.state.to_json()))),
                        clock=rig.clock, on_outcome=rig.notices.append, ledger=ledger,
                        instance=instance)
    return rig, ledger


def redeem_calls(rig: Rig) -> int:
    return sum(1 for name, _ in rig.fake.calls if name == "get_permanent_code")


def test_a_claim_the_store_accepts_is_called_with_its_lease() -> None:
    """The claim carries the code's deadline plus three call timeouts as its lease."""
    rig, ledger = shared_rig()
    rig.handle(ticket(T0 - 60), code())
    assert [(code_key(CODE), T0 + 600 + 30)] == ledger.claims
    assert 1 == redeem_calls(rig)
    assert "redeemed" == rig.entry()["status"]


def test_a_claim_another_instance_won_makes_no_call() -> None:
    """The store refuses the claim: no get_permanent_code, and the entry is the store's."""
    rig, ledger = shared_rig()
    ledger.accept = False
    rig.handle(ticket(T0 - 60), code())
    assert 0 == redeem_calls(rig)
    assert 1 == rig.entry()["attempts"]
    assert [] == rig.kinds()


def test_a_store_that_cannot_be_written_holds_the_code_back() -> None:
    """Redis down at the claim: no call; the code waits for the state and goes as soon
    as a write works again (retry_waiting_for), not after a full backoff."""
    rig, ledger = shared_rig()
    ledger.down = True
    rig.handle(ticket(T0 - 60), code())
    assert (0, "pending", "state") == (redeem_calls(rig), rig.entry()["status"],
                                       rig.entry()["waiting_for"])
    ledger.down = False
    assert 1 == rig.engine.retry_waiting_for("state")
    rig.engine.tick()
    assert 1 == redeem_calls(rig)


def test_another_instances_call_in_flight_is_left_alone() -> None:
    """A `redeeming` entry held elsewhere survives recover() and tick(); once its holder
    is gone (lease over) it becomes failed with the unknown-outcome record, never resent."""
    rig, ledger = shared_rig()
    key = code_key(CODE)
    rig.state.suite(SUITE).auth_codes[key] = AuthCodeEntry(
        status="redeeming", info_type="create_auth", timestamp=T0, first_seen=T0,
        updated_at=T0, attempts=1)
    ledger.elsewhere.add(key)
    rig.engine.recover()
    rig.engine.tick()
    assert ("redeeming", []) == (rig.entry()["status"], rig.kinds())
    ledger.elsewhere.clear()
    rig.engine.tick()
    assert ("failed", ["auth_code_interrupted"]) == (rig.entry()["status"], rig.kinds())
    assert "unknown" in rig.entry()["error"]
    assert 0 == redeem_calls(rig)


def test_a_token_another_instance_stored_is_reused() -> None:
    """No token here, a usable one in the store: no get_suite_token call."""
    rig, ledger = shared_rig()
    ledger.stored_token = TokenEntry("sat-from-b", expires_at=T0 + 7200)
    rig.handle(ticket(T0 - 60), code())
    assert [("get_permanent_code", CODE)] == rig.fake.calls


def test_a_token_wecom_refused_is_not_taken_back_from_the_store() -> None:
    """After a token-invalid answer the same token in the store is not usable: fetched anew."""
    rig, ledger = shared_rig()
    ledger.stored_token = TokenEntry("sat-stale", expires_at=T0 + 7200)
    rig.fake.redeem_faults.append(WeComError(40082, "invalid suite_access_token"))
    rig.handle(ticket(T0 - 60), code())
    assert [True, False] == ledger.usable_seen
    assert ["get_permanent_code", "get_suite_token", "get_permanent_code"] == [
        name for name, _ in rig.fake.calls]
    assert "redeemed" == rig.entry()["status"]


def test_a_ticket_from_another_instance_frees_the_codes_waiting_for_one() -> None:
    """ticket_waits_over: a code waiting for a ticket goes once its suite holds a usable
    one, however it got there; a rejected ticket frees nothing."""
    rig, _ = shared_rig()
    rig.handle(code())
    assert "ticket" == rig.entry()["waiting_for"]
    rig.state.suite(SUITE).suite_ticket = TicketEntry("bad", T0 - 30, T0, rejected=True)
    assert 0 == rig.engine.ticket_waits_over()
    rig.state.suite(SUITE).suite_ticket = TicketEntry("from-b", T0 - 30, received_at=T0)
    assert 1 == rig.engine.ticket_waits_over()
    rig.engine.tick()
    assert "redeemed" == rig.entry()["status"]


def test_sightings_name_the_instance_and_the_log() -> None:
    """With an instance name, each blocked address says who saw it in which log; without
    one (a state file), nothing new is written."""
    event = BlockedIP("203.0.113.7", 60020, source=SourcePosition("/iotp/policy.log", 0))
    rig, _ = shared_rig("cb-1")
    rig.handle(event, event)
    assert {"cb-1": ["/iotp/policy.log"]} == rig.state.to_json()["blocked_ips"][
        "203.0.113.7"]["seen_by"]
    alone, _ = shared_rig(None)
    alone.handle(event)
    assert "seen_by" not in alone.state.to_json()["blocked_ips"]["203.0.113.7"]
