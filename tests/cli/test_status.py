"""Tests for `iotwx-watch status`, run as a real process: the health model for humans,
scripts and Nagios, secrets masked by default, and exit codes monitoring can use as is."""

from __future__ import annotations

import json
import secrets
import time

import pytest

from iotwx_watch.state.model import (
    AuthCodeEntry,
    BlockedIpEntry,
    CorpEntry,
    State,
    TicketEntry,
    TokenEntry,
)
from iotwx_watch.state.store import StateStore
from tests.conftest import SUITE_A, SUITE_B, Workdir

CORP = "wwcorp0000000001"


def obtain_corp(work: Workdir) -> str:
    """The state a redemption leaves: fresh tickets for both suites, a token, one corp
    with its secret, the code redeemed. Returns the secret."""
    now = time.time()
    secret = "pc-" + secrets.token_urlsafe(30)
    state = State()
    for suite in (SUITE_A, SUITE_B):
        state.suite(suite).suite_ticket = TicketEntry("t-" + suite, int(now - 30), now - 30)
    suite_a = state.suite(SUITE_A)
    suite_a.suite_access_token = TokenEntry("tok-" + secrets.token_hex(8), now + 7000)
    suite_a.corps[CORP] = CorpEntry("Corp One", 1000002, secret, now - 5)
    suite_a.auth_codes["510f7f9f541f8ef7"] = AuthCodeEntry(
        "redeemed", "create_auth", int(now - 5), now - 5, now - 4, attempts=1, corpid=CORP
    )
    save_state(work, state)
    return secret


def save_state(work: Workdir, state: State) -> None:
    StateStore(work.state_file).save(state)


def test_no_state_yet_means_no_ticket_yet(workdir: Workdir) -> None:
    """Without a state file status is not an error: no ticket yet, exit 1."""
    result = workdir.run("status")
    assert 1 == result.returncode, result.stderr
    assert "ticket: none yet" in result.stdout
    assert "no suite_ticket yet" in result.stdout


def test_healthy_after_a_redemption_and_secret_masked(workdir: Workdir) -> None:
    """Fresh tickets and a redeemed corp: exit 0, corp shown with its secret masked."""
    secret = obtain_corp(workdir)
    result = workdir.run("status")
    assert 0 == result.returncode, result.stdout + result.stderr
    assert "OK: all is well: 2 suites, 1 active corp, nothing to do" == result.stdout.split("\n")[0]
    corp_line = next(line for line in result.stdout.splitlines() if CORP in line)
    assert "Corp One" in corp_line and "agentid 1000002" in corp_line
    assert f"****{secret[-4:]}" in corp_line
    assert secret not in result.stdout + result.stderr


def test_show_secrets_reveals_them(workdir: Workdir) -> None:
    """--show-secrets prints the app secret in full, in text and JSON."""
    secret = obtain_corp(workdir)
    assert secret in workdir.run("status", "--show-secrets").stdout
    data = json.loads(workdir.run("status", "--json", "--show-secrets").stdout)
    assert secret == data["suites"][SUITE_A]["corps"][CORP]["permanent_code"]


def test_json_is_the_health_model(workdir: Workdir) -> None:
    """--json prints only JSON on stdout: level, exit code, suites, corps, problems."""
    secret = obtain_corp(workdir)
    result = workdir.run("status", "--json")
    data = json.loads(result.stdout)
    assert (0, "ok", []) == (data["exit_code"], data["level"], data["problems"])
    corp = data["suites"][SUITE_A]["corps"][CORP]
    assert ("Corp One", 1000002, "active") == (corp["corp_name"], corp["agentid"], corp["status"])
    assert secret not in result.stdout
    assert {"redeemed": 1} == data["suites"][SUITE_A]["auth_code_counts"]
    assert data["suites"][SUITE_A]["token"]["valid"] is True


def test_operator_tasks_say_what_and_where(workdir: Workdir) -> None:
    """A failed code and IPs to whitelist: exit 1, with 重新获取 and both console paths."""
    now = time.time()
    state = State()
    for suite in (SUITE_A, SUITE_B):
        state.suite(suite).suite_ticket = TicketEntry("t-" + suite, int(now - 60), now - 60)
    state.suite(SUITE_A).auth_codes["0123456789abcdef"] = AuthCodeEntry(
        "failed", "create_auth", int(now - 120), now - 120, now - 100, attempts=1,
        errcode=40078, error="used or expired",
    )
    state.blocked_ips["121.46.1.2"] = BlockedIpEntry("app", now - 100, now - 10, count=3)
    state.blocked_ips["203.0.113.9"] = BlockedIpEntry("provider", now - 100, now - 10)
    save_state(workdir, state)
    result = workdir.run("status")
    assert 1 == result.returncode
    out = result.stdout
    assert "重新获取" in out
    assert "服务商管理后台 → 服务商信息 → 基本信息 → IP白名单" in out
    assert "代开发应用详情 → 企业可信IP" in out and "代开发应用上线" in out
    data = json.loads(workdir.run("status", "--json").stdout)
    assert ["auth_code_failed", "ip_to_whitelist", "ip_to_whitelist"] == sorted(
        p["code"] for p in data["problems"]
    )


def test_stale_ticket_needs_action(workdir: Workdir) -> None:
    """A ticket older than 20 minutes makes status exit 1 and say how to get a new one."""
    now = time.time()
    state = State()
    for suite in (SUITE_A, SUITE_B):
        state.suite(suite).suite_ticket = TicketEntry("t-" + suite, int(now - 25 * 60), now)
    save_state(workdir, state)
    result = workdir.run("status")
    assert 1 == result.returncode
    assert "刷新Ticket" in result.stdout


def test_corrupt_state_is_exit_2_with_one_line(workdir: Workdir) -> None:
    """A corrupt state file: exit 2 and a single error line on stderr, nothing on stdout."""
    workdir.state_file.parent.mkdir(parents=True, exist_ok=True)
    workdir.state_file.write_text("{not json", encoding="utf-8")
    result = workdir.run("status")
    assert 2 == result.returncode
    errors = [line for line in result.stderr.splitlines() if line.startswith("iotwx-watch:")]
    assert 1 == len(errors)
    assert str(workdir.state_file) in errors[0]
    assert "" == result.stdout


def test_status_reads_while_the_daemon_holds_the_lock(workdir: Workdir) -> None:
    """status does not take the lock: it works while another process holds it."""
    obtain_corp(workdir)
    with StateStore(workdir.state_file).lock():
        result = workdir.run("status")
    assert 0 == result.returncode, result.stderr


def problems_state(work: Workdir) -> None:
    """A failed code, a corp with an app-whitelist refusal, a provider refusal, and a
    suite's last error: the page has something to say about each."""
    now = time.time()
    state = State()
    for suite in (SUITE_A, SUITE_B):
        state.suite(suite).suite_ticket = TicketEntry("t-" + suite, int(now - 60), now - 60)
    suite_a = state.suite(SUITE_A)
    suite_a.corps[CORP] = CorpEntry("示例科技", 1000002, "pc-" + "x" * 20, now - 500)
    suite_a.auth_codes["0123456789abcdef"] = AuthCodeEntry(
        "failed", "create_auth", int(now - 120), now - 120, now - 100, attempts=1,
        errcode=40078, error="WeCom errcode 40078: invalid auth code",
    )
    suite_a.last_error = {"errcode": 40078, "error": "WeCom errcode 40078: invalid auth code",
                          "at": "2026-11-28T14:00:00Z"}
    state.suite(SUITE_B).last_error = {"errcode": -1, "error": "WeCom errcode -1: system busy",
                                       "at": "2026-11-28T14:00:01Z"}
    state.blocked_ips["121.46.1.2"] = BlockedIpEntry("app", now - 100, now - 10, count=3,
                                                     corpid=CORP)
    state.blocked_ips["203.0.113.9"] = BlockedIpEntry("provider", now - 100, now - 10)
    save_state(work, state)


def test_first_line_names_the_worst_problem(workdir: Workdir) -> None:
    """The first line is the most critical problem and how many more there are."""
    problems_state(workdir)
    first = workdir.run("status").stdout.split("\n")[0]
    assert first.startswith("CRITICAL: create_auth auth code 0123456789abcdef: failed")
    assert first.endswith("(and 2 more problems)")


def test_each_hint_is_said_once(workdir: Workdir) -> None:
    """Each whitelist place and each action appears once on the page."""
    problems_state(workdir)
    out = workdir.run("status").stdout
    assert 1 == out.count("服务商管理后台 → 服务商信息 → 基本信息 → IP白名单")
    assert 1 == out.count("代开发应用详情 → 企业可信IP")
    assert 1 == out.count("重新获取")


def test_app_whitelist_task_names_the_corp(workdir: Workdir) -> None:
    """The to-do for an app-whitelist address says which corp's app it is."""
    problems_state(workdir)
    out = workdir.run("status").stdout
    task = next(line for line in out.splitlines() if "121.46.1.2" in line and "[warn]" in line)
    assert task.endswith(f"add it to the app whitelist of 示例科技 ({CORP})")


def test_last_error_is_readable_and_not_repeated(workdir: Workdir) -> None:
    """A suite's last error is a sentence (no raw JSON), and left out when a code shows it."""
    problems_state(workdir)
    out = workdir.run("status").stdout
    assert "last error (2026-11-28T14:00:01Z): WeCom errcode -1: system busy" in out
    assert 1 == out.count("invalid auth code")
    assert '{"errcode"' not in out


@pytest.mark.parametrize(
    ("setup", "expected_code", "expected_state"),
    [("healthy", 0, "OK"), ("stale", 1, "WARNING"), ("problems", 2, "CRITICAL")],
)
def test_nagios_line_and_exit_code(workdir: Workdir, setup: str, expected_code: int,
                                   expected_state: str) -> None:
    """--nagios: one line `IOTWX-WATCH STATE - text | perfdata`, exit 0/1/2 by level."""
    if setup == "healthy":
        obtain_corp(workdir)
    elif setup == "stale":
        now = time.time()
        state = State()
        for suite in (SUITE_A, SUITE_B):
            state.suite(suite).suite_ticket = TicketEntry("t-" + suite, int(now - 1500), now)
        save_state(workdir, state)
    else:
        problems_state(workdir)
    result = workdir.run("status", "--nagios")
    (line,) = result.stdout.splitlines()
    head, perfdata = line.split(" | ")
    assert (expected_code, f"IOTWX-WATCH {expected_state}") == (
        result.returncode, head.split(" - ")[0])
    perf = dict(item.split("=", 1) for item in perfdata.split())
    assert {f"ticket_age_{SUITE_A}", f"ticket_age_{SUITE_B}", "pending_codes",
            "ips_to_whitelist", "state_age"} == set(perf)
    assert perf[f"ticket_age_{SUITE_A}"].endswith("s;1200;1800;0")


def test_nagios_counts_what_waits(workdir: Workdir) -> None:
    """The perfdata counts addresses waiting to be whitelisted and codes pending."""
    problems_state(workdir)
    perf = workdir.run("status", "--nagios").stdout.split(" | ")[1].split()
    assert "ips_to_whitelist=2;;;0" in perf and "pending_codes=0;;;0" in perf


def test_nagios_unknown_when_the_state_is_unreadable(workdir: Workdir) -> None:
    """A corrupt state file: UNKNOWN and exit 3, on the one line Nagios reads."""
    workdir.state_file.parent.mkdir(parents=True, exist_ok=True)
    workdir.state_file.write_text("{not json", encoding="utf-8")
    result = workdir.run("status", "--nagios")
    assert 3 == result.returncode
    assert result.stdout.startswith("IOTWX-WATCH UNKNOWN - ")
    assert 1 == len(result.stdout.splitlines())


def test_nagios_unknown_when_the_config_is_missing(workdir: Workdir) -> None:
    """No config: UNKNOWN and exit 3 (not a plain error and exit 2)."""
    result = workdir.run("status", "--nagios", "--config", str(workdir.root / "none.toml"))
    assert (3, "") == (result.returncode, result.stderr)
    assert result.stdout.startswith("IOTWX-WATCH UNKNOWN - cannot read config")
