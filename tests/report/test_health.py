"""Tests for iotwx_watch.report.health: one judgement of the state, at an injected time."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from iotwx_watch.config import Config, SourceConfig, SuiteConfig
from iotwx_watch.report.health import (
    ACTION_NEW_CODE,
    BLOCKED_IP_QUIET_S,
    FAILED_CODE_HORIZON_S,
    SOURCE_BEHIND_S,
    SOURCE_STALE_S,
    WHERE,
    HealthReport,
    assess,
    observe_sources,
)
from iotwx_watch.state.model import (
    AuthCodeEntry,
    BlockedIpEntry,
    CorpEntry,
    ReadProblem,
    State,
    TicketEntry,
    TokenEntry,
)

NOW = 1_800_000_000.0
SUITE = "dkA1b2c3d4e5f6a7b8"
CONFIG = Config(suites=(SuiteConfig(SUITE, suite_secret="s3cr3t-value"),),
                sources=(SourceConfig("callback", "/var/log/wxcallback/receive.log"),))


def state_with_ticket(age_s: float, *, rejected: bool = False) -> State:
    state = State()
    state.suite(SUITE).suite_ticket = TicketEntry(
        value="ticket-value-xyz", timestamp=int(NOW - age_s), received_at=NOW - age_s,
        rejected=rejected,
    )
    return state


def codes(h: HealthReport) -> list[str]:
    return [p.code for p in h.problems]


def code_entry(status: str, *, timestamp: float = NOW - 60, updated_at: float = NOW - 30,
               corpid: str | None = None, **kw: object) -> AuthCodeEntry:
    return AuthCodeEntry(
        status=status,  # type: ignore[arg-type]
        info_type="create_auth", timestamp=int(timestamp), first_seen=timestamp,
        updated_at=updated_at, corpid=corpid, **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("age_s", "level", "problem"),
    [
        (60, "ok", []),
        (20 * 60 - 1, "ok", []),
        (20 * 60, "warn", ["ticket_stale"]),
        (30 * 60 - 1, "warn", ["ticket_stale"]),
        (30 * 60, "critical", ["ticket_expired"]),
    ],
)
def test_ticket_age_levels(age_s: float, level: str, problem: list[str]) -> None:
    """The newest ticket warns from 20 minutes and is critical from 30 (its validity)."""
    h = assess(state_with_ticket(age_s), now=NOW, config=CONFIG)
    assert level == h.level
    assert problem == codes(h)
    ticket = h.suites[0].ticket
    assert ticket is not None
    assert float(age_s) == ticket.age_s


def test_healthy_state_exits_zero() -> None:
    """A fresh ticket and nothing pending is healthy: exit code 0."""
    assert 0 == assess(state_with_ticket(30), now=NOW, config=CONFIG).exit_code


def test_missing_ticket_of_configured_suite_needs_action() -> None:
    """A configured suite without any ticket is a warning (exit 1), even with no state at all."""
    h = assess(State(), now=NOW, config=CONFIG)
    assert ["ticket_missing"] == codes(h)
    assert 1 == h.exit_code
    assert SUITE == h.suites[0].suite_id


def test_rejected_ticket_is_critical() -> None:
    """A ticket WeCom answered 40085 to is critical whatever its age."""
    h = assess(state_with_ticket(60, rejected=True), now=NOW, config=CONFIG)
    assert ["ticket_rejected"] == codes(h)
    assert "critical" == h.level


def test_suite_not_in_config_has_no_ticket_problem() -> None:
    """A suite known only from the state file is shown but not judged on its ticket."""
    state = state_with_ticket(3600)
    h = assess(state, now=NOW, config=Config(sources=CONFIG.sources))
    assert [] == codes(h)
    assert [False] == [s.configured for s in h.suites]


def test_token_validity() -> None:
    """The cached token's remaining validity is reported, and an expired one is not valid."""
    state = state_with_ticket(60)
    state.suite(SUITE).suite_access_token = TokenEntry(value="tok-123456", expires_at=NOW + 90)
    token = assess(state, now=NOW, config=CONFIG).suites[0].token
    assert token is not None
    assert (90.0, True) == (token.valid_for_s, token.valid)
    state.suite(SUITE).suite_access_token = TokenEntry(value="tok-123456", expires_at=NOW - 1)
    token = assess(state, now=NOW, config=CONFIG).suites[0].token
    assert token is not None
    assert False is token.valid


def test_pending_code_warns_until_its_deadline_then_is_critical() -> None:
    """A pending code is a warning while it can still be redeemed, critical past 10 minutes."""
    state = state_with_ticket(60)
    state.suite(SUITE).auth_codes["a" * 16] = code_entry("pending", code="the-code-123")
    h = assess(state, now=NOW, config=CONFIG)
    assert [("auth_code_pending", "warn")] == [(p.code, p.level) for p in h.problems]
    late = assess(state, now=NOW + 600, config=CONFIG)
    assert [("auth_code_pending", "critical")] == [(p.code, p.level) for p in late.problems]
    assert ACTION_NEW_CODE in late.problems[0].action  # type: ignore[operator]


def test_failed_code_says_what_to_do() -> None:
    """A failed code is critical and tells the operator to click 重新获取."""
    state = state_with_ticket(60)
    state.suite(SUITE).auth_codes["b" * 16] = code_entry("failed", errcode=40078, error="used")
    h = assess(state, now=NOW, config=CONFIG)
    view = h.suites[0].auth_codes[0]
    assert ("failed", "critical", 40078) == (view.status, view.level, view.errcode)
    assert ACTION_NEW_CODE in view.action
    assert ["auth_code_failed"] == codes(h)


def test_failed_code_superseded_by_later_redemption_is_settled() -> None:
    """Once a later code for the same corp was redeemed, an old failure is no longer a task."""
    state = state_with_ticket(60)
    suite = state.suite(SUITE)
    suite.auth_codes["c" * 16] = code_entry("expired", corpid="wwcorp1",
                                            timestamp=NOW - 900, updated_at=NOW - 300)
    suite.corps["wwcorp1"] = CorpEntry(corp_name="One", agentid=1000002,
                                       permanent_code="pc-secret", obtained_at=NOW - 100)
    assert [] == codes(assess(state, now=NOW, config=CONFIG))


def test_code_of_unknown_corp_is_settled_only_by_a_recovery() -> None:
    """A failure whose corp is unknown stays a task when another corp authorizes later,
    and is settled by a later reset_permanent_code (what 重新获取 sends)."""
    state = state_with_ticket(60)
    suite = state.suite(SUITE)
    suite.auth_codes["e" * 16] = code_entry("failed", timestamp=NOW - 300,
                                            updated_at=NOW - 290)
    suite.auth_codes["f" * 16] = code_entry("redeemed", corpid="wwother", timestamp=NOW - 200,
                                            updated_at=NOW - 190)
    assert ["auth_code_failed"] == codes(assess(state, now=NOW, config=CONFIG))
    reset = code_entry("redeemed", corpid="wwlost", timestamp=NOW - 100, updated_at=NOW - 90)
    reset.info_type = "reset_permanent_code"
    suite.auth_codes["9" * 16] = reset
    assert [] == codes(assess(state, now=NOW, config=CONFIG))


def test_old_failures_become_history() -> None:
    """A failure older than the horizon is shown in counts only, not as a task."""
    state = state_with_ticket(60)
    state.suite(SUITE).auth_codes["d" * 16] = code_entry(
        "failed", timestamp=NOW - FAILED_CODE_HORIZON_S - 900,
        updated_at=NOW - FAILED_CODE_HORIZON_S - 1,
    )
    h = assess(state, now=NOW, config=CONFIG)
    assert [] == codes(h)
    assert {"failed": 1} == dict(h.suites[0].auth_code_counts)


def test_blocked_ips_say_where_and_settle() -> None:
    """IPs to whitelist name the console; resolved or long-quiet ones no longer count."""
    state = state_with_ticket(60)
    state.blocked_ips["121.46.1.2"] = BlockedIpEntry("app", NOW - 100, NOW - 50, count=3)
    state.blocked_ips["203.0.113.9"] = BlockedIpEntry("provider", NOW - 100, NOW - 90,
                                                      resolved_at=NOW - 10)
    state.blocked_ips["198.51.100.7"] = BlockedIpEntry("app", NOW - 2 * BLOCKED_IP_QUIET_S,
                                                       NOW - BLOCKED_IP_QUIET_S - 1)
    h = assess(state, now=NOW, config=CONFIG)
    waiting = [(b.ip, b.whitelist, b.where) for b in h.blocked_ips if b.waiting]
    assert [("121.46.1.2", "app", WHERE["app"])] == waiting
    assert [("ip_to_whitelist", "warn")] == [(p.code, p.level) for p in h.problems]


def test_one_address_in_both_whitelists_gives_two_tasks() -> None:
    """An address the engine recorded for both places is a task per place."""
    state = state_with_ticket(60)
    entry = BlockedIpEntry("app", NOW - 100, NOW - 50, count=2)
    entry.extra["whitelists"] = ["app", "provider"]
    state.blocked_ips["121.46.1.2"] = entry
    h = assess(state, now=NOW, config=CONFIG)
    assert ["app", "provider"] == [b.whitelist for b in h.blocked_ips]
    assert "critical" == h.level


def test_sources_missing_stalled_and_fine(tmp_path: Path) -> None:
    """A missing log and a callback log that stopped growing are problems; a fresh one is not."""
    fresh, stalled = tmp_path / "fresh.log", tmp_path / "stalled.log"
    fresh.write_bytes(b"x" * 10)
    stalled.write_bytes(b"y" * 5)
    now = fresh.stat().st_mtime
    os.utime(stalled, (now - SOURCE_STALE_S - 5, now - SOURCE_STALE_S - 5))
    sources = (
        SourceConfig("callback", str(fresh)),
        SourceConfig("callback", str(stalled)),
        SourceConfig("policy_engine", str(tmp_path / "gone.log")),
    )
    state = state_with_ticket(60)
    state.updated_at = now
    for path in (fresh, stalled):
        st = path.stat()
        state.sources[str(path)] = {"dev": st.st_dev, "inode": st.st_ino, "offset": st.st_size}
    observed = observe_sources(sources, state)
    assert [(True, 10, 10), (True, 5, 5), (False, None, None)] == [
        (o.exists, o.size, o.offset) for o in observed
    ]
    h = assess(state, now=now, config=CONFIG, sources=observed)
    assert ["ok", "warn", "warn"] == [s.level for s in h.sources]
    assert ["source_stalled", "source_missing"] == codes(h)


def behind_state(path: Path, offset: int, updated_ago: float, now: float) -> State:
    state = state_with_ticket(60)
    st = path.stat()
    state.sources[str(path)] = {"dev": st.st_dev, "inode": st.st_ino, "offset": offset}
    state.updated_at = now - updated_ago
    return state


def test_log_ahead_of_a_stale_state_is_not_being_read(tmp_path: Path) -> None:
    """A log that grew past the saved position while the state has not been written for
    minutes means nobody reads it: critical, naming the bytes and asking for the service."""
    log = tmp_path / "receive.log"
    log.write_bytes(b"z" * 100)
    now = log.stat().st_mtime + 1
    sources = (SourceConfig("callback", str(log)),)
    stopped = behind_state(log, 40, SOURCE_BEHIND_S + 60, now)
    h = assess(stopped, now=now, config=CONFIG, sources=observe_sources(sources, stopped))
    assert [("source_not_read", "critical")] == [(p.code, p.level) for p in h.problems]
    assert "not reading" in h.problems[0].message
    assert "60 bytes behind" in h.problems[0].message
    assert "systemctl status iotwx-watch" in (h.problems[0].action or "")
    running = behind_state(log, 40, 3, now)
    h = assess(running, now=now, config=CONFIG, sources=observe_sources(sources, running))
    assert [] == codes(h)


def test_unreadable_log_names_the_uid_and_the_fix(tmp_path: Path) -> None:
    """A log the daemon could not open (its reason kept in the state) is critical, never [ok]."""
    log = tmp_path / "receive.log"
    log.write_bytes(b"")
    state = state_with_ticket(60)
    state.updated_at = NOW
    state.source_errors[str(log)] = ReadProblem(
        error="Permission denied", since=NOW - 60, errno=13, uid=61234)
    observed = observe_sources((SourceConfig("callback", str(log)),), state)
    h = assess(state, now=NOW, config=CONFIG, sources=observed)
    problem = h.problems[0]
    assert ("source_unreadable", "critical") == (problem.code, problem.level)
    assert "uid 61234" in problem.message
    assert "Permission denied" in problem.message
    assert "give uid 61234 read access" in (problem.action or "")
    assert ["critical"] == [s.level for s in h.sources]


def test_a_config_without_sources_is_a_problem() -> None:
    """Watching nothing must not look healthy to a monitoring check."""
    h = assess(state_with_ticket(60), now=NOW, config=Config(suites=CONFIG.suites))
    assert [("no_sources", "critical")] == [(p.code, p.level) for p in h.problems]
    assert 1 == h.exit_code
