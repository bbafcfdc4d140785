"""Tests for the engine's decisions: tickets, tokens, ledger, corps, IPs (fake clock and API)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from structlog.testing import capture_logs

from iotwx_watch.config import SuiteConfig
from iotwx_watch.engine.authchanges import PENDING_MEMO_S
from iotwx_watch.engine.ledger import code_key
from iotwx_watch.errors import WeComError
from iotwx_watch.events import AuthChange, AuthCode, BlockedIP, Event, SuiteTicket
from iotwx_watch.state.model import CancelCheck, CorpEntry, State
from iotwx_watch.state.store import StateStore
from tests.engine.fakes import (
    CODE,
    OTHER,
    SECRET,
    SUITE,
    T0,
    Clock,
    FakeApi,
    Rig,
    blocked,
    code,
    ticket,
)
from tests.engine.fakes import rig as rig


def test_newest_ticket_wins_older_and_foreign_never_replace(rig: Rig) -> None:
    """The newest ticket per suite by TimeStamp is kept; older or unconfigured ones are ignored."""
    rig.handle(ticket(T0 - 60, "new"), ticket(T0 - 600, "old"), ticket(T0, "x", "dkForeign"))
    rig.handle(SuiteTicket(OTHER, "b-ticket", T0 - 900))
    data = rig.state.to_json()["suites"]
    assert {"value": "new", "timestamp": T0 - 60, "received_at": "2026-11-28T08:00:00Z"} == \
        data[SUITE]["suite_ticket"]
    assert "b-ticket" == data[OTHER]["suite_ticket"]["value"]
    assert "dkForeign" not in data
    assert [] == rig.fake.calls


def test_redeems_a_code_and_records_the_corp(rig: Rig) -> None:
    """A fresh code is redeemed at once; the corp, its secret and the ledger are recorded."""
    rig.handle(ticket(T0 - 60), code())
    assert [("get_suite_token", f"ticket-{T0 - 60}"), ("get_permanent_code", CODE)] == \
        rig.fake.calls
    suite = rig.state.to_json()["suites"][SUITE]
    assert {"corp_name": "name-wwCorpOne", "agentid": 1000002, "permanent_code": f"perm-{CODE}",
            "obtained_at": "2026-11-28T08:00:00Z", "status": "active", "state": "st",
            "auth_timestamp": T0} == \
        suite["corps"]["wwCorpOne"]
    entry = suite["auth_codes"][code_key(CODE)]
    assert ("redeemed", 1, "wwCorpOne") == (entry["status"], entry["attempts"], entry["corpid"])
    assert "code" not in entry
    assert ["corp_obtained"] == rig.kinds()
    assert not rig.engine.failed


def test_ledger_is_saved_as_redeeming_before_the_call_and_redeemed_after(rig: Rig) -> None:
    """persist() runs with the entry 'redeeming' before get_permanent_code, and after it."""
    statuses_at_call: list[str] = []
    rig.fake.on_redeem = lambda: statuses_at_call.append(rig.saved[-1]["suites"][SUITE][
        "auth_codes"][code_key(CODE)]["status"])
    rig.handle(ticket(T0), code())
    assert ["redeeming"] == statuses_at_call
    assert "redeemed" == rig.saved[-1]["suites"][SUITE]["auth_codes"][code_key(CODE)]["status"]


def test_same_code_three_times_and_across_restart_is_redeemed_once(rig: Rig) -> None:
    """WeCom's three deliveries of a callback, and a restart, give one get_permanent_code."""
    rig.handle(ticket(T0), code(), code())
    rig.clock.advance(5)
    rig.handle(code())
    rig.state = State.from_json(json.loads(json.dumps(rig.state.to_json())))
    restarted = rig.new_engine()
    restarted.recover()
    restarted.handle([code()])
    assert 1 == [c[0] for c in rig.fake.calls].count("get_permanent_code")
    assert "redeemed" == rig.entry()["status"]


def test_ticket_older_than_30_minutes_is_not_used(rig: Rig) -> None:
    """A ticket past 30 minutes is kept on record but not sent; a newer one unblocks the code."""
    rig.handle(ticket(T0 - 31 * 60), code())
    assert [] == rig.fake.calls
    entry = rig.entry()
    assert ("pending", "ticket") == (entry["status"], entry["waiting_for"])
    rig.clock.advance(30)
    rig.handle(ticket(T0 + 20, "fresh"))
    assert [("get_suite_token", "fresh"), ("get_permanent_code", CODE)] == rig.fake.calls
    assert "redeemed" == rig.entry()["status"]


def test_suite_token_is_cached_until_expiry_minus_margin(rig: Rig) -> None:
    """One get_suite_token serves later codes until expires_in minus the margin."""
    rig.handle(ticket(T0), code("code-one-111111"))
    rig.clock.advance(600)
    rig.handle(ticket(T0 + 600), code("code-two-222222", ts=T0 + 600))
    assert 1 == rig.fake.tokens
    rig.clock.advance(7200 - 300 - 600)  # now at expiry minus the margin
    rig.handle(ticket(T0 + 6900), code("code-three-3333", ts=T0 + 6900))
    assert 2 == rig.fake.tokens
    token = rig.state.to_json()["suites"][SUITE]["suite_access_token"]
    assert {"value": "sat-dkSuiteAAAA-2", "expires_at": "2026-11-28T11:55:00Z"} == token


def test_reset_permanent_code_replaces_the_secret_and_keeps_the_old_date(rig: Rig) -> None:
    """reset_permanent_code: new secret, previous_obtained_at = when the old one was obtained."""
    rig.handle(ticket(T0), code("first-code-11111"))
    rig.clock.advance(3600)
    rig.handle(ticket(T0 + 3600), code("reset-code-22222", ts=T0 + 3600,
                                       info_type="reset_permanent_code"))
    corp = rig.state.to_json()["suites"][SUITE]["corps"]["wwCorpOne"]
    assert ("perm-reset-code-22222", "2026-11-28T09:00:00Z", "2026-11-28T08:00:00Z") == (
        corp["permanent_code"], corp["obtained_at"], corp["previous_obtained_at"])
    assert ["corp_obtained", "secret_reset"] == rig.kinds()


def test_cancel_auth_removes_the_secret_and_marks_the_corp(rig: Rig) -> None:
    """A cancel_auth WeCom confirms (get_auth_info: 40084) drops the corp's permanent_code
    and marks it cancelled, keeping history."""
    rig.handle(ticket(T0), code())
    rig.clock.advance(60)
    rig.fake.cancelled.add("wwCorpOne")
    rig.handle(AuthChange("cancel_auth", SUITE, "wwCorpOne", T0 + 50))
    corp = rig.state.to_json()["suites"][SUITE]["corps"]["wwCorpOne"]
    assert {"corp_name": "name-wwCorpOne", "agentid": 1000002,
            "obtained_at": "2026-11-28T08:00:00Z", "status": "cancelled",
            "cancelled_at": "2026-11-28T08:00:50Z", "state": "st", "auth_timestamp": T0} == corp
    assert ["corp_obtained", "corp_cancelled"] == rig.kinds()


def test_blocked_ips_from_policy_log_are_counted_as_app(rig: Rig) -> None:
    """60020 addresses from policy_engine.log: whitelist app, first/last seen, count, one notice."""
    rig.handle(BlockedIP("121.46.1.2", hint="1688", corpid="wwCorpOne"))
    rig.clock.advance(30)
    rig.handle(BlockedIP("121.46.1.2"), BlockedIP("121.46.1.3"))
    assert {"whitelist": "app", "first_seen": "2026-11-28T08:00:00Z",
            "last_seen": "2026-11-28T08:00:30Z", "count": 2, "hint": "1688",
            "corpid": "wwCorpOne"} == rig.state.to_json()["blocked_ips"]["121.46.1.2"]
    assert [("ip_to_whitelist", "121.46.1.2", "app"), ("ip_to_whitelist", "121.46.1.3", "app")] \
        == [(n.kind, n.ip, n.whitelist) for n in rig.notices]


def test_first_run_over_an_old_log_calls_nothing_for_stale_codes(rig: Rig) -> None:
    """Old codes are recorded expired without a call; only the fresh one is redeemed."""
    rig.handle(ticket(T0 - 86400, "ancient"), code("ancient-code-111", ts=T0 - 86400),
               ticket(T0 - 30, "fresh"), code("fresh-code-22222", ts=T0 - 30))
    assert [("get_suite_token", "fresh"), ("get_permanent_code", "fresh-code-22222")] == \
        rig.fake.calls
    assert ("expired", "redeemed") == (rig.entry("ancient-code-111")["status"],
                                       rig.entry("fresh-code-22222")["status"])
    assert ["corp_obtained"] == rig.kinds()
    assert not rig.engine.failed


def test_a_recently_missed_code_is_reported(rig: Rig) -> None:
    """A code that died minutes ago (daemon was down) is expired and reported, not called."""
    rig.handle(ticket(T0), code(ts=T0 - 900))
    assert [] == rig.fake.calls
    assert ["auth_code_expired"] == rig.kinds()
    assert rig.engine.failed


def test_code_for_a_suite_without_secret_waits_for_the_config() -> None:
    """No suite_secret: no call, the code waits (not failed); once the secret is configured
    and the engine reloaded, it is redeemed at once."""
    rig = Rig(clock=Clock(T0), api=FakeApi(), suites=(SuiteConfig(SUITE),))
    rig.handle(ticket(T0), code())
    assert [] == rig.fake.calls
    entry = rig.entry()
    assert ("pending", "config", f"suite {SUITE} has no suite_secret; no call was made") == (
        entry["status"], entry["waiting_for"], entry["error"])
    assert not rig.engine.failed
    rig.clock.advance(120)
    rig.suites = (SuiteConfig(SUITE, SECRET),)
    rig.engine = rig.new_engine()
    rig.engine.retry_now("reload")
    rig.engine.tick()
    assert "redeemed" == rig.entry()["status"]
    assert 1 == [c[0] for c in rig.fake.calls].count("get_permanent_code")


def test_code_waiting_for_config_expires_at_its_deadline() -> None:
    """A code whose cause is never fixed is expired once its ten minutes are over."""
    rig = Rig(clock=Clock(T0), api=None)
    rig.handle(ticket(T0), code())
    assert ("pending", "config") == (rig.entry()["status"], rig.entry()["waiting_for"])
    assert T0 + 600 == rig.engine.next_due()
    rig.clock.advance(600)
    rig.engine.tick()
    assert "expired" == rig.entry()["status"]


def test_manual_redeem_uses_the_same_ledger(rig: Rig) -> None:
    """redeem() acts now; asking again for a redeemed code returns the entry without a call."""
    rig.handle(ticket(T0))
    first = rig.engine.redeem(SUITE, CODE)
    again = rig.engine.redeem(SUITE, CODE)
    assert ("redeemed", "manual") == (first.status, first.info_type)
    assert again is first
    assert 1 == [c[0] for c in rig.fake.calls].count("get_permanent_code")


def test_no_secret_value_reaches_a_log_line(rig: Rig) -> None:
    """Decisions are logged by id and errcode; tickets, tokens, codes and secrets never appear."""
    rig.fake.redeem_faults += [WeComError(-1, "busy"), blocked()]
    with capture_logs() as logs:
        rig.handle(ticket(T0, "ticket-value-xyz"), code())
        rig.clock.advance(2)
        rig.engine.tick()
        rig.clock.advance(60)
        rig.engine.tick()
    text = json.dumps(logs, default=str)
    events = [entry["event"] for entry in logs]
    assert {"engine.ticket_accepted", "engine.suite_token_fetched", "engine.redeemed",
            "engine.redeem_retry_scheduled", "engine.ip_blocked"} <= set(events)
    for secret in ("ticket-value-xyz", CODE, f"perm-{CODE}", "sat-dkSuiteAAAA-1", SECRET):
        assert secret not in text


def test_state_saved_by_the_store_round_trips_the_engine_work(rig: Rig, tmp_path: Path) -> None:
    """What the engine leaves in State saves and loads unchanged through StateStore."""
    rig.fake.redeem_faults.append(WeComError(-1, "busy"))
    rig.handle(ticket(T0), code("pending-code-111"), BlockedIP("10.0.0.1"))
    store = StateStore(tmp_path / "state.json", clock=rig.clock)
    store.save(rig.state)
    assert rig.state.to_json() == store.load().to_json()
    assert "pending-code-111" == store.load().suite(SUITE).auth_codes[
        code_key("pending-code-111")].code


def _events(*items: Event) -> Iterable[Event]:
    return items


def test_handle_accepts_any_iterable(rig: Rig) -> None:
    """handle() takes a generator as well as a list."""
    rig.engine.handle(e for e in _events(ticket(T0), code()))
    assert "redeemed" == rig.entry()["status"]


def test_change_auth_and_an_old_cancel_leave_the_secret(rig: Rig) -> None:
    """change_auth only notes the change; a cancel older than the secret is ignored."""
    rig.handle(ticket(T0), code())
    rig.handle(AuthChange("change_auth", SUITE, "wwCorpOne", T0 + 5),
               AuthChange("cancel_auth", SUITE, "wwCorpOne", T0 - 3600))
    corp = rig.state.to_json()["suites"][SUITE]["corps"]["wwCorpOne"]
    assert ("active", f"perm-{CODE}", "2026-11-28T08:00:05Z") == (
        corp["status"], corp["permanent_code"], corp["changed_at"])
    assert ["corp_obtained"] == rig.kinds()


def test_authorize_then_cancel_in_one_batch_ends_cancelled(rig: Rig) -> None:
    """create_auth then cancel_auth read together: redeemed in log order, then cancelled."""
    rig.fake.cancelled.add("wwCorpOne")
    rig.handle(ticket(T0), code(), AuthChange("cancel_auth", SUITE, "wwCorpOne", T0 + 1))
    corp = rig.state.to_json()["suites"][SUITE]["corps"]["wwCorpOne"]
    assert ("cancelled", False) == (corp["status"], "permanent_code" in corp)
    assert ["corp_obtained", "corp_cancelled"] == rig.kinds()


def test_a_forged_cancel_keeps_the_secret(rig: Rig) -> None:
    """A cancel_auth WeCom refutes (get_auth_info answers with the corp) changes nothing:
    the Secret stays, and the record is counted as refuted."""
    rig.handle(ticket(T0), code())
    secret = rig.state.suite(SUITE).corps["wwCorpOne"].permanent_code
    rig.clock.advance(60)
    rig.handle(AuthChange("cancel_auth", SUITE, "wwCorpOne", T0 + 50))
    corp = rig.state.suite(SUITE).corps["wwCorpOne"]
    assert ("active", secret, None) == (corp.status, corp.permanent_code, corp.cancel_check)
    assert 1 == rig.state.ignored_records["cancel_refuted"].count
    assert ["corp_obtained"] == rig.kinds()


def test_an_unconfirmed_cancel_is_retried_and_keeps_the_secret_meanwhile(rig: Rig) -> None:
    """WeCom unreachable when a cancel is logged: the corp stays as it is, the check is
    retried with backoff, and a later answer that the corp is gone cancels it."""
    rig.handle(ticket(T0), code())
    rig.fake.auth_info_faults.append(WeComError(-1001, "get_auth_info: ConnectError"))
    rig.handle(AuthChange("cancel_auth", SUITE, "wwCorpOne", T0 + 5))
    corp = rig.state.suite(SUITE).corps["wwCorpOne"]
    assert corp.cancel_check is not None
    assert ("active", 1) == (corp.status, corp.cancel_check.attempts)
    assert corp.permanent_code is not None
    assert "ConnectError" in (corp.cancel_check.error or "")
    due = rig.engine.next_due()
    assert due is not None and due > T0
    rig.fake.cancelled.add("wwCorpOne")
    rig.clock.now = due
    rig.engine.tick()
    after = rig.state.suite(SUITE).corps["wwCorpOne"]
    assert ("cancelled", None, None) == (after.status, after.permanent_code, after.cancel_check)


class CountingCorps(dict[str, CorpEntry]):
    """A suite's corps that count the walks over them."""

    walks = 0

    def items(self):  # type: ignore[no-untyped-def]
        CountingCorps.walks += 1
        return super().items()


def test_wake_ups_do_not_walk_every_corp_for_cancel_checks(rig: Rig) -> None:
    """A daemon on a busy log asks for due cancel checks at every wake-up; the corps that
    hold one are found by one walk per PENDING_MEMO_S, not one (or two) per wake-up, and
    a check started here, a corp replaced meanwhile and a check that arrived from
    elsewhere are all still acted on."""
    rig.handle(ticket(T0), code())
    suite = rig.state.suite(SUITE)
    suite.corps = CountingCorps(suite.corps)
    suite.corps.update({f"wwOther{n:04d}": CorpEntry(f"c{n}", n) for n in range(1000)})
    CountingCorps.walks = 0
    rig.clock.advance(PENDING_MEMO_S)  # whatever was remembered before is stale now
    for _ in range(200):  # wake-ups within a fraction of a second
        rig.engine.tick()
        rig.engine.next_due()
        rig.clock.advance(PENDING_MEMO_S / 1000)
    assert 1 == CountingCorps.walks
    # a check started here is seen at once, though the remembered walk found none
    rig.fake.auth_info_faults.append(WeComError(-1001, "get_auth_info: ConnectError"))
    rig.handle(AuthChange("cancel_auth", SUITE, "wwCorpOne", T0 + 5))
    due = rig.engine.next_due()
    assert due is not None and due > rig.clock.now
    # the corp object replaced meanwhile (as a Redis adopt does): the live one is checked
    old = suite.corps["wwCorpOne"]
    suite.corps["wwCorpOne"] = CorpEntry(old.corp_name, old.agentid, old.permanent_code,
                                         cancel_check=old.cancel_check)
    rig.fake.cancelled.add("wwCorpOne")
    rig.clock.now = due
    rig.engine.tick()
    assert ("cancelled", None) == (suite.corps["wwCorpOne"].status,
                                   suite.corps["wwCorpOne"].permanent_code)
    # a check that arrives in the state from elsewhere: acted on within PENDING_MEMO_S
    other = suite.corps["wwOther0007"]
    other.permanent_code = "pc-other"
    rig.engine.tick()  # remembers the walk: nothing pending
    other.cancel_check = CancelCheck(T0 + 9, rig.clock.now, rig.clock.now)
    rig.fake.cancelled.add("wwOther0007")
    rig.clock.advance(PENDING_MEMO_S)
    rig.engine.tick()
    after = suite.corps["wwOther0007"]
    assert ("cancelled", None) == (after.status, after.cancel_check)


def test_a_cancel_for_a_corp_never_seen_is_counted(rig: Rig) -> None:
    """Nothing to delete and no code in flight: the record is counted, the state unchanged."""
    rig.handle(ticket(T0), AuthChange("cancel_auth", SUITE, "wwNobody", T0))
    assert {} == rig.state.suite(SUITE).corps
    assert 1 == rig.state.ignored_records["cancel_unknown_corp"].count


def test_change_auth_refreshes_the_corp_from_wecom(rig: Rig) -> None:
    """change_auth asks get_auth_info and takes the corp's current name and agentid."""
    rig.handle(ticket(T0), code())
    rig.state.suite(SUITE).corps["wwCorpOne"].corp_name = "old name"
    rig.handle(AuthChange("change_auth", SUITE, "wwCorpOne", T0 + 5))
    assert "name-wwCorpOne" == rig.state.suite(SUITE).corps["wwCorpOne"].corp_name


def test_require_signature_acts_only_on_verified_records() -> None:
    """A suite that requires signatures ignores plaintext records (counted as unsigned) and
    acts on the same record when it came from a verified envelope."""
    signed = SuiteConfig(SUITE, SECRET, token="tok", encoding_aes_key="k" * 43,
                         require_signature=True)
    rig = Rig(clock=Clock(T0), api=FakeApi(), suites=(signed,))
    rig.handle(ticket(T0), code())
    assert [] == rig.fake.calls
    assert 2 == rig.state.ignored_records["unsigned"].count
    rig.handle(SuiteTicket(SUITE, "signed-ticket", T0, verified=True),
               AuthCode("create_auth", SUITE, CODE, T0, verified=True))
    assert "redeemed" == rig.entry()["status"]
