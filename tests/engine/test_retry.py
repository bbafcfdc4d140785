"""Tests for the engine's failure paths: backoff, deadlines, 60020, 40085, bad secrets, crashes."""

from __future__ import annotations

import json

import pytest
from structlog.testing import capture_logs

from iotwx_watch.config import SuiteConfig
from iotwx_watch.engine.ledger import code_key
from iotwx_watch.engine.timing import (
    BLOCKED_IP_RETENTION_S,
    BLOCKED_IP_SLACK,
    MAX_BLOCKED_IPS,
    backoff_delay,
)
from iotwx_watch.errors import WeComError
from iotwx_watch.events import AuthChange, BlockedIP
from iotwx_watch.state.model import State
from tests.engine.fakes import (
    CODE,
    SUITE,
    T0,
    Rig,
    blocked,
    code,
    ticket,
)
from tests.engine.fakes import rig as rig


def test_token_invalid_refetches_once_and_retries_once(rig: Rig) -> None:
    """42009 on get_permanent_code: one new token, one retry of the same code."""
    rig.fake.redeem_faults.append(WeComError(42009, "suite_access_token expired"))
    rig.handle(ticket(T0), code())
    assert ["get_suite_token", "get_permanent_code", "get_suite_token", "get_permanent_code"] \
        == [c[0] for c in rig.fake.calls]
    assert ("redeemed", 2) == (rig.entry()["status"], rig.entry()["attempts"])


def test_token_invalid_twice_does_not_loop(rig: Rig) -> None:
    """A second token-invalid answer is not chased with more refetches: retry a minute later."""
    rig.fake.redeem_faults += [WeComError(40082, "bad token"), WeComError(40082, "bad token")]
    rig.handle(ticket(T0), code())
    assert 4 == len(rig.fake.calls)
    assert T0 + 60 == rig.engine.next_due()
    rig.clock.advance(59)
    rig.engine.tick()
    assert 4 == len(rig.fake.calls)


def test_40085_waits_for_the_next_ticket_then_retries(rig: Rig) -> None:
    """40085: the ticket is marked rejected, nothing is called until another ticket is
    pushed, and that one is used whatever its TimeStamp (a poisoned ticket is demoted)."""
    rig.fake.token_faults.append(WeComError(40085, "invalid suite_ticket"))
    rig.handle(ticket(T0 + 200, "poisoned"), code())
    assert ["ticket_rejected"] == rig.kinds()
    assert ("pending", "ticket", 40085) == (
        rig.entry()["status"], rig.entry()["waiting_for"], rig.entry()["errcode"])
    assert T0 + 600 == rig.engine.next_due()
    rig.clock.advance(120)
    rig.engine.tick()
    rig.handle(ticket(T0 + 200, "poisoned"))
    assert 1 == len(rig.fake.calls)
    rig.handle(ticket(T0 + 100, "real"))
    assert [("get_suite_token", "poisoned"), ("get_suite_token", "real"),
            ("get_permanent_code", CODE)] == rig.fake.calls
    assert "redeemed" == rig.entry()["status"]


def test_a_far_future_ticket_is_ignored(rig: Rig) -> None:
    """A TimeStamp beyond clock skew (forged: 999999999999) never becomes the newest ticket."""
    rig.handle(ticket(T0), ticket(999_999_999_999, "forged"), code())
    assert ("get_suite_token", f"ticket-{T0}") == rig.fake.calls[0]
    assert "redeemed" == rig.entry()["status"]
    assert {"future_timestamp": 1} == ignored_counts(rig)
    assert T0 == rig.state.suite(SUITE).suite_ticket.timestamp  # type: ignore[union-attr]


def test_an_ignored_record_is_logged_with_its_own_timestamp_and_kind(rig: Rig) -> None:
    """The warning names the record's TimeStamp as ``record_timestamp``: a field called
    ``timestamp`` is the log line's own time, and the pipeline writes over it."""
    with capture_logs() as logs:
        rig.handle(ticket(999_999_999_999, "forged"))
    ignored = [entry for entry in logs if entry["event"] == "engine.record_ignored"]
    assert [("future_timestamp", "suite_ticket", 999_999_999_999)] == [
        (e["reason"], e["info_type"], e["record_timestamp"]) for e in ignored]
    assert all("timestamp" not in entry for entry in logs)


def test_a_ticket_with_the_same_timestamp_but_another_value_replaces_it(rig: Rig) -> None:
    """WeCom's TimeStamp has one-second resolution: the later of two equal ones wins."""
    rig.handle(ticket(T0, "first"), ticket(T0, "second"), code())
    assert ("get_suite_token", "second") == rig.fake.calls[0]


def test_records_of_unknown_suites_change_nothing(rig: Rig) -> None:
    """create_auth, tickets and cancels for a suite not in the config: counted, not stored."""
    rig.handle(ticket(T0, suite="dkMadeUp00001"), code(suite="dkMadeUp00001"),
               AuthChange("cancel_auth", "dkMadeUp00001", "wwSomeCorp", T0))
    assert {} == rig.state.to_json()["suites"]
    assert {"unknown_suite": 3} == ignored_counts(rig)
    assert [] == rig.fake.calls


def test_day_old_codes_and_tickets_are_history(rig: Rig) -> None:
    """A code or ticket a day old when first read is counted, not recorded."""
    rig.handle(ticket(T0 - 90_000), code(ts=T0 - 90_000))
    assert {"old_timestamp": 2} == ignored_counts(rig)
    assert {} == rig.state.to_json()["suites"]


def test_retryable_failures_back_off_exponentially(rig: Rig) -> None:
    """-1 twice: retries 2 s then 4 s later, not before, then success."""
    rig.fake.redeem_faults += [WeComError(-1, "system busy"), WeComError(-1, "system busy")]
    rig.handle(ticket(T0), code())
    assert (T0 + 2, "pending", -1) == (
        rig.engine.next_due(), rig.entry()["status"], rig.entry()["errcode"])
    rig.clock.advance(1.5)
    rig.engine.tick()
    assert 2 == len(rig.fake.calls)
    rig.clock.advance(0.5)
    rig.engine.tick()
    assert T0 + 6 == rig.engine.next_due()
    rig.clock.advance(4)
    rig.engine.tick()
    assert ("redeemed", 3) == (rig.entry()["status"], rig.entry()["attempts"])
    assert rig.engine.next_due() is None


def test_backoff_is_capped_and_stops_at_the_deadline(rig: Rig) -> None:
    """Always -1: delays double up to 60 s, and the code expires rather than pass its deadline."""
    assert [2, 4, 8, 16, 32, 60, 60] == [backoff_delay(n) for n in range(7)]
    rig.fake.redeem_faults += [WeComError(-1, "busy") for _ in range(100)]
    rig.handle(ticket(T0), code())
    while (due := rig.engine.next_due()) is not None:
        rig.clock.now = due
        rig.engine.tick()
    calls = [c[0] for c in rig.fake.calls].count("get_permanent_code")
    assert 14 == calls  # at 0, 2, 6, 14, 30, 62, then every 60 s to 542; 602 is too late
    entry = rig.entry()
    assert ("expired", "code") == (entry["status"], "code" if "code" not in entry else "kept")
    assert "重新获取" in entry["hint"]
    assert ["auth_code_expired"] == rig.kinds()
    assert rig.engine.failed


def test_60020_records_our_ip_and_probes_every_15_s(rig: Rig) -> None:
    """60020: our address goes under blocked_ips as provider; the code is probed 15 s later."""
    rig.fake.redeem_faults.append(blocked())
    rig.handle(ticket(T0), code())
    ip = rig.state.to_json()["blocked_ips"]["203.0.113.7"]
    assert {"whitelist": "provider", "first_seen": "2026-11-28T08:00:00Z",
            "last_seen": "2026-11-28T08:00:00Z", "count": 1, "call": "get_permanent_code"} == ip
    assert [("ip_to_whitelist", "provider")] == [(n.kind, n.whitelist) for n in rig.notices]
    assert ("pending", "ip") == (rig.entry()["status"], rig.entry()["waiting_for"])
    assert T0 + 15 == rig.engine.next_due()
    rig.clock.advance(14)
    rig.engine.tick()
    assert 2 == len(rig.fake.calls)
    rig.clock.advance(1)
    rig.engine.tick()
    assert "redeemed" == rig.entry()["status"]
    assert 2 == rig.entry()["attempts"]
    assert "2026-11-28T08:00:15Z" == rig.state.to_json()["blocked_ips"]["203.0.113.7"][
        "resolved_at"]


def test_a_provider_block_is_probed_with_one_call_for_all_codes(rig: Rig) -> None:
    """Five codes held by 60020 cost one call per probe; the first success frees them all."""
    codes = [f"code-{n}-abcdefgh" for n in range(5)]
    rig.fake.token_faults += [blocked(), blocked(), blocked()]
    rig.handle(ticket(T0), *(code(c) for c in codes))
    assert 1 == len(rig.fake.calls)
    rig.clock.advance(15)
    rig.engine.tick()
    assert 2 == len(rig.fake.calls)
    rig.clock.advance(15)
    rig.engine.tick()
    assert 3 == len(rig.fake.calls)
    rig.clock.advance(15)
    rig.engine.tick()
    assert ["redeemed"] * 5 == [rig.entry(c)["status"] for c in codes]
    redeems = [call for call in rig.fake.calls if call[0] == "get_permanent_code"]
    assert sorted(codes) == sorted(value for _, value in redeems)


def test_retry_now_ignores_the_backoff(rig: Rig) -> None:
    """After a fix (once, reload) a waiting code is tried at once, not at its backoff time."""
    rig.fake.redeem_faults.append(blocked())
    rig.handle(ticket(T0), code())
    rig.clock.advance(3)
    assert 1 == rig.engine.retry_now("reload")
    rig.engine.tick()
    assert "redeemed" == rig.entry()["status"]


def test_60020_from_a_new_address_is_an_egress_change(rig: Rig) -> None:
    """A provider-side 60020 from another address than last time says our egress IP changed."""
    rig.fake.token_faults += [blocked("203.0.113.7"), blocked("203.0.113.9")]
    rig.handle(ticket(T0), code())
    rig.clock.advance(60)
    rig.engine.tick()
    assert ["ip_to_whitelist", "ip_to_whitelist", "egress_ip_changed"] == rig.kinds()
    assert "get_suite_token" == rig.state.blocked_ips["203.0.113.9"].call


@pytest.mark.parametrize("errcode", [40080, 40083])
def test_config_error_waits_and_the_secret_is_not_resent(rig: Rig, errcode: int) -> None:
    """A rejected suite_secret holds the codes (not failed) and is not sent again, even after
    a restart; a corrected secret and a reload redeem every held code."""
    rig.fake.token_faults.append(WeComError(errcode, "invalid suite_secret"))
    rig.handle(ticket(T0), code("code-one-111111"), code("code-two-222222"))
    rig.state = State.from_json(json.loads(json.dumps(rig.state.to_json())))
    rig.engine = rig.new_engine()
    rig.engine.recover()
    rig.handle(code("code-three-3333"))
    assert [("get_suite_token", f"ticket-{T0}")] == rig.fake.calls
    held = ("code-one-111111", "code-two-222222", "code-three-3333")
    assert [("pending", "config")] * 3 == [
        (rig.entry(c)["status"], rig.entry(c)["waiting_for"]) for c in held]
    assert errcode == rig.entry("code-three-3333")["errcode"]
    assert not rig.engine.failed
    rig.suites = (SuiteConfig(SUITE, "a-corrected-secret"),)
    rig.clock.advance(60)
    rig.engine = rig.new_engine()
    rig.engine.retry_now("reload")
    rig.engine.tick()
    assert ["redeemed"] * 3 == [rig.entry(c)["status"] for c in held]


def test_dead_code_is_not_retried(rig: Rig) -> None:
    """40078 (used or expired code) is final, with the hint to ask for a new code."""
    rig.fake.redeem_faults.append(WeComError(40078, "invalid auth_code"))
    rig.handle(ticket(T0), code())
    rig.clock.advance(120)
    rig.engine.tick()
    assert 2 == len(rig.fake.calls)
    entry = rig.entry()
    assert ("failed", 40078) == (entry["status"], entry["errcode"])
    assert "重新获取" in entry["hint"]
    assert ["auth_code_failed"] == rig.kinds()


def test_rate_limit_waits_a_minute(rig: Rig) -> None:
    """45009 (rate limited) is retried, but not before a minute has passed."""
    rig.fake.redeem_faults.append(WeComError(45009, "api freq out of limit"))
    rig.handle(ticket(T0), code())
    assert T0 + 60 == rig.engine.next_due()


def test_dead_code_after_a_lost_answer_says_it_may_have_been_redeemed(rig: Rig) -> None:
    """A transport error, then 40078: the error says the first attempt may have spent the code."""
    rig.fake.redeem_faults += [WeComError(-1001, "ReadTimeout"), WeComError(40078, "invalid")]
    rig.handle(ticket(T0), code())
    rig.clock.advance(2)
    rig.engine.tick()
    entry = rig.entry()
    assert ("failed", 40078, 2) == (entry["status"], entry["errcode"], entry["attempts"])
    assert "WeCom may have redeemed it then" in entry["error"]


def test_no_ticket_at_all_expires_the_code_at_its_deadline(rig: Rig) -> None:
    """Without any usable ticket the code waits, calls nothing, and expires at its deadline."""
    rig.handle(code())
    assert T0 + 600 == rig.engine.next_due()
    rig.clock.advance(600)
    rig.engine.tick()
    assert [] == rig.fake.calls
    assert ("expired", ["auth_code_expired"]) == (rig.entry()["status"], rig.kinds())
    assert rig.engine.next_due() is None


def test_recover_reports_interrupted_and_reschedules_pending(rig: Rig) -> None:
    """After a crash: 'redeeming' becomes failed + notice + hint (no call); 'pending' is retried."""
    rig.fake.redeem_faults.append(WeComError(-1, "busy"))
    rig.handle(ticket(T0), code("was-pending-1111"))
    suite = rig.state.suite(SUITE)
    rig.engine.redeem(SUITE, "manual-code-9999")
    interrupted = suite.auth_codes[code_key("manual-code-9999")]
    interrupted.status = "redeeming"
    calls_before = len(rig.fake.calls)
    rig.state = State.from_json(json.loads(json.dumps(rig.state.to_json())))
    engine = rig.new_engine()
    engine.recover()
    entry = rig.entry("manual-code-9999")
    assert ("failed", calls_before) == (entry["status"], len(rig.fake.calls))
    assert "code" not in entry and "重新获取" in entry["hint"]
    assert "auth_code_interrupted" == rig.kinds()[-1]
    saved = rig.saved[-1]["suites"][SUITE]["auth_codes"][code_key("manual-code-9999")]
    assert "failed" == saved["status"]
    assert engine.failed
    rig.clock.advance(2)
    engine.tick()
    assert "redeemed" == rig.entry("was-pending-1111")["status"]


def test_a_retry_that_succeeds_after_cancel_keeps_nothing(rig: Rig) -> None:
    """A code still retrying when its corp cancels: the cancel is held, and once the late
    success names the corp, WeCom confirms the cancel and no secret is kept."""
    rig.fake.redeem_faults.append(WeComError(-1, "busy"))
    rig.fake.cancelled.add("wwCorpOne")
    rig.handle(ticket(T0), code(), AuthChange("cancel_auth", SUITE, "wwCorpOne", T0 + 1))
    rig.clock.advance(2)
    rig.engine.tick()
    corp = rig.state.to_json()["suites"][SUITE]["corps"]["wwCorpOne"]
    assert ("cancelled", False) == (corp["status"], "permanent_code" in corp)
    assert ("name-wwCorpOne", 1000002) == (corp["corp_name"], corp["agentid"])
    assert ("redeemed", "wwCorpOne") == (rig.entry()["status"], rig.entry()["corpid"])
    assert ["corp_obtained", "corp_cancelled"] == rig.kinds()
    assert {} == rig.state.suite(SUITE).pending_cancels


def test_blocked_ips_stay_within_their_bound(rig: Rig) -> None:
    """10,000 addresses from policy_engine.log: the book keeps about the newest
    MAX_BLOCKED_IPS, and our own address, still refused, is never dropped."""
    rig.fake.redeem_faults += [blocked("203.0.113.7")] * 100
    rig.handle(ticket(T0), code())
    for n in range(10_000):
        rig.clock.advance(1)
        rig.engine.handle([BlockedIP(f"10.{n // 65536}.{n // 256 % 256}.{n % 256}", 60020)])
    assert MAX_BLOCKED_IPS <= len(rig.state.blocked_ips) <= MAX_BLOCKED_IPS + BLOCKED_IP_SLACK
    assert "203.0.113.7" in rig.state.blocked_ips
    assert "10.0.39.15" in rig.state.blocked_ips  # the newest one
    assert "10.0.0.0" not in rig.state.blocked_ips


def test_quiet_app_addresses_are_forgotten_after_30_days(rig: Rig) -> None:
    """An address WeCom has not refused for 30 days is dropped at the next sighting of any."""
    rig.handle(BlockedIP("198.51.100.1", 60020))
    rig.clock.advance(BLOCKED_IP_RETENTION_S + 1)
    rig.handle(BlockedIP("198.51.100.2", 60020))
    assert ["198.51.100.2"] == sorted(rig.state.blocked_ips)


def test_a_lost_answer_to_get_permanent_code_is_not_sent_again(rig: Rig) -> None:
    """The request left and its answer was lost (read timeout): WeCom may have spent the
    code, so it fails with the recovery hint and is never sent a second time."""
    rig.fake.redeem_faults.append(WeComError(-1004, "get_permanent_code: ReadTimeout: timed out"))
    rig.handle(ticket(T0), code())
    rig.clock.advance(120)
    rig.engine.retry_now("start")
    rig.engine.tick()
    assert 1 == [c[0] for c in rig.fake.calls].count("get_permanent_code")
    entry = rig.entry()
    assert ("failed", -1004) == (entry["status"], entry["errcode"])
    assert "not sent again" in entry["error"]
    assert "重新获取" in entry["hint"]


def test_a_lost_answer_to_get_suite_token_is_asked_again(rig: Rig) -> None:
    """A token request whose answer was lost is harmless to repeat: backoff, then success."""
    rig.fake.token_faults.append(WeComError(-1004, "get_suite_token: ReadTimeout: timed out"))
    rig.handle(ticket(T0), code())
    assert ("pending", "network") == (rig.entry()["status"], rig.entry()["waiting_for"])
    rig.clock.advance(2)
    rig.engine.tick()
    assert "redeemed" == rig.entry()["status"]


def ignored_counts(rig: Rig) -> dict[str, int]:
    """The state's count of ignored records, per reason."""
    return {reason: seen.count for reason, seen in rig.state.ignored_records.items()}
