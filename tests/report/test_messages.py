"""Tests for iotwx_watch.report.messages and texts: a message stands alone on a phone (the
deployment, the suite, the corp by name and id, the code's key and deadline, the errcode
and its meaning, the advice, the time), in one language, and never carries a secret."""

from __future__ import annotations

import json
from datetime import timedelta, timezone

import pytest

from iotwx_watch.config import Config, SuiteConfig
from iotwx_watch.engine.outcomes import Outcome
from iotwx_watch.report.health import assess
from iotwx_watch.report.messages import (
    MessageContext,
    condition_message,
    outcome_message,
)
from iotwx_watch.report.messages import test_message as make_test_message
from iotwx_watch.report.texts import ADVICE_ZH, CLEARED, LABELS, TITLES, errcode_text
from iotwx_watch.state.model import (
    AuthCodeEntry,
    BlockedIpEntry,
    CorpEntry,
    State,
    TicketEntry,
)

NOW = 1_800_000_000.0
SUITE = "dk7f3a9c2b41e05d68"
KEY = "3f2a9c0d1e2b4a5c"
SECRETS = ("pc-secret-of-corp-one", "ticket-value-secret", "the-auth-code-itself")
CST = timezone(timedelta(hours=8))


def state() -> State:
    s = State()
    suite = s.suite(SUITE)
    suite.suite_ticket = TicketEntry(SECRETS[1], int(NOW - 40 * 60), NOW - 40 * 60)
    suite.corps["wwcorp01"] = CorpEntry("Corp One", 1000002, SECRETS[0], NOW - 60)
    suite.auth_codes[KEY] = AuthCodeEntry(
        "pending", "create_auth", int(NOW - 120), NOW - 120, NOW - 5, attempts=2,
        errcode=60020, code=SECRETS[2], waiting_for="ip", state="customer-7")
    s.blocked_ips["121.46.1.2"] = BlockedIpEntry("app", NOW - 100, NOW - 10, corpid="wwcorp01")
    return s


def ctx(language: str = "en") -> MessageContext:
    return MessageContext("cb-prod-1", language, CST)  # type: ignore[arg-type]


def no_secret(*texts: object) -> list[str]:
    dumped = json.dumps([str(t) for t in texts], ensure_ascii=False)
    return [s for s in SECRETS if s in dumped]


def test_a_new_corp_names_deployment_suite_corp_and_time() -> None:
    """corp_obtained: title with the corp's name and id, then one line each, local time."""
    n = outcome_message(Outcome("corp_obtained", suite_id=SUITE, corpid="wwcorp01",
                                corp_name="Corp One", agentid=1000002), state(), ctx(), NOW)
    assert ("New corp authorized: Corp One (wwcorp01)", "info") == (n.title, n.severity)
    assert ("deployment: cb-prod-1", f"suite: {SUITE}", "corp: Corp One (wwcorp01)",
            "agentid: 1000002",
            "to do: the Secret is in the state file: iotwx-watch status --show-secrets",
            "time: 2027-01-15 16:00:00 +08:00") == n.lines
    assert [] == no_secret(n)


def test_an_app_address_names_the_corp_even_when_the_outcome_does_not() -> None:
    """An IP for the app whitelist: the corp's name comes from the state, and where to add it."""
    n = outcome_message(Outcome("ip_to_whitelist", suite_id=SUITE, corpid="wwcorp01",
                                ip="121.46.1.2", whitelist="app"), state(), ctx("zh-CN"), NOW)
    assert ("121.46.1.2 需加入企业可信IP", "warn") == (n.title, n.severity)
    assert "企业：Corp One (wwcorp01)" in n.lines
    assert any("代开发应用详情 → 企业可信IP" in line for line in n.lines)


def test_a_failed_code_names_its_key_deadline_state_and_meaning() -> None:
    """auth_code_failed: the ledger key, the State of the link, the deadline, errcode with
    its meaning (never WeCom's errmsg), what to do; critical."""
    n = outcome_message(Outcome("auth_code_failed", suite_id=SUITE, errcode=40078,
                                detail="WeCom errcode 40078: invalid auth_code, hint: [x], more "
                                       "info at https://open.work.weixin.qq.com",
                                code_key=KEY), state(), ctx(), NOW)
    assert (f"Auth code {KEY} failed", "critical") == (n.title, n.severity)
    assert ["State: customer-7", f"auth code: {KEY}", "valid until: 2027-01-15 16:08:00 +08:00",
            "error: 40078 the auth code was already used or has expired"] == [
        line for line in n.lines if line.startswith(("auth code", "valid", "error", "State"))]
    assert "hint" not in "\n".join(n.lines) and "https" not in "\n".join(n.lines)
    assert (f"auth_code:{SUITE}:{KEY}", KEY) == (n.key, n.fields["code_key"])
    assert [] == no_secret(n)


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_every_outcome_kind_is_whole_in_each_language(language: str) -> None:
    """Every outcome kind gets a title and an advice line in the chosen language."""
    kinds = ["corp_obtained", "secret_reset", "corp_cancelled", "ip_to_whitelist",
             "egress_ip_changed", "auth_code_failed", "auth_code_expired",
             "auth_code_interrupted", "ticket_rejected"]
    action = LABELS[language]["action"]
    for kind in kinds:
        n = outcome_message(Outcome(kind, suite_id=SUITE, corpid="wwcorp01", ip="1.2.3.4",  # type: ignore[arg-type]
                                    whitelist="provider", errcode=40085, code_key=KEY),
                            state(), ctx(language), NOW)
        assert n.title and not n.title.startswith("{"), kind
        assert any(line.startswith(action) for line in n.lines), kind
        if language == "zh-CN":
            assert "the " not in n.title.lower() and "to do" not in "\n".join(n.lines), kind


def test_conditions_start_remind_and_clear() -> None:
    """A critical ticket condition: start with the advice, reminder prefixed, clear as ok."""
    s = state()
    config = Config(suites=(SuiteConfig(SUITE),))
    report = assess(s, now=NOW, config=config)
    problem = next(p for p in report.problems if p.key == f"ticket:{SUITE}")
    start = condition_message(problem, "start", report, s, ctx(), since=NOW)
    remind = condition_message(problem, "reminder", report, s, ctx(), since=NOW - 4 * 3600)
    clear = condition_message(problem, "clear", report, s, ctx("zh-CN"), since=NOW - 3600)
    assert (f"The suite_ticket of {SUITE} has expired (40 min old)", "critical") == (
        start.title, start.severity)
    assert f"to do: {problem.action}" in start.lines
    assert remind.title == "Still open: " + start.title
    assert "since: 2027-01-15 12:00:00 +08:00" in remind.lines
    assert (f"{SUITE} 的 suite_ticket 已恢复正常", "ok", "ticket_recovered") == (
        clear.title, clear.severity, clear.kind)


def test_a_code_waiting_for_the_whitelist_says_until_when_in_chinese() -> None:
    """A pending code held by 60020: the provider whitelist and the code's deadline."""
    s = state()
    report = assess(s, now=NOW, config=Config(suites=(SuiteConfig(SUITE),)))
    problem = next(p for p in report.problems if p.code == "auth_code_pending")
    n = condition_message(problem, "start", report, s, ctx("zh-CN"), since=NOW)
    assert f"授权码 {KEY} 等待兑换" == n.title
    assert ("处理：在 服务商管理后台 → 服务商信息 → 基本信息 → IP白名单 中添加；约一分钟后生效"
            "；每 15 秒重试一次，直到 2027-01-15 16:08:00 +08:00") in n.lines
    assert [] == no_secret(n)


def test_test_message() -> None:
    """`notify test` says which sink and that nothing needs doing."""
    n = make_test_message(ctx(), NOW, "oncall")
    assert ("Test message from iotwx-watch", "info", "test: oncall") == (
        n.title, n.severity, n.lines[1])


def test_both_languages_have_the_same_texts() -> None:
    """Every title, clear title and label exists in both languages (no half-translated
    message), and the Chinese advice covers every titled outcome and condition."""
    assert set(TITLES["en"]) == set(TITLES["zh-CN"])
    assert set(CLEARED["en"]) == set(CLEARED["zh-CN"])
    assert set(LABELS["en"]) == set(LABELS["zh-CN"])
    advised = set(TITLES["en"]) - {"ip_to_whitelist", "auth_code_pending"}
    assert set() == advised - set(ADVICE_ZH)


def test_errcode_text_is_code_and_meaning() -> None:
    """Known errcodes get their meaning in the language; unknown ones just their number."""
    assert ["60020 our IP address is not whitelisted", "60020 访问 IP 不在白名单中",
            "errcode 12345", None] == [errcode_text(60020, "en"), errcode_text(60020, "zh-CN"),
                                       errcode_text(12345, "en"), errcode_text(None, "en")]
