"""Tests for `iotwx-watch status`, run as a real process: the health model for humans and
scripts, secrets masked by default, and an exit code monitoring can use as is."""

from __future__ import annotations

import json
import secrets
import time

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
    assert "health: OK" in result.stdout
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
