"""End-to-end tests of `iotwx-watch once` and `run` as real processes against the simulator:
the main job, the lock, signals, SIGKILL, systemd notify, and no secret in any log line."""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import (
    SECRETS,
    SUITE_A,
    SUITE_B,
    Workdir,
    auth_record,
    blocked_record,
    cancel_record,
    ticket_record,
    wait_for,
)
from tests.run.support import Daemon, NotifyListener, corps, permanent_code_calls


def test_once_does_the_whole_job(workdir: Workdir) -> None:
    """Two suites, two corps (one code pushed three times), a secret reset, a cancel, a
    blocked IP: one `once` records it all and redeems each code exactly once."""
    now = int(time.time())
    sim = workdir.sim
    ticket_a = sim.push_ticket(SUITE_A, timestamp=now - 30)
    ticket_b = sim.push_ticket(SUITE_B, timestamp=now - 20)
    code_1 = sim.issue_auth_code(SUITE_A, "wwcorp0000000001", corp_name="Corp One", agentid=1000002)
    code_2 = sim.issue_auth_code(SUITE_B, "wwcorp0000000002", corp_name="Corp Two", agentid=1000005)
    reset_1 = sim.issue_auth_code(
        SUITE_A, "wwcorp0000000001", corp_name="Corp One", agentid=1000002,
        info_type="reset_permanent_code",
    )
    records = [
        ticket_record(SUITE_A, ticket_a, now - 30),
        ticket_record(SUITE_B, ticket_b, now - 20),
        auth_record(SUITE_A, code_1, now - 10),
        auth_record(SUITE_A, code_1, now - 10),
        auth_record(SUITE_A, code_1, now - 10),
        auth_record(SUITE_B, code_2, now - 9),
        auth_record(SUITE_A, reset_1, now - 5, "reset_permanent_code"),
        cancel_record(SUITE_B, "wwcorp0000000002", now - 1),
    ]
    workdir.append(workdir.receive_log, "noise line\n".join(records))
    workdir.append(workdir.policy_log, "boot\n" + blocked_record("121.46.1.2") * 2)
    sim.cancel_auth("wwcorp0000000002")  # WeCom confirms the logged cancel

    result = workdir.run("once")
    assert 0 == result.returncode, result.stdout + result.stderr

    corp_1 = corps(workdir, SUITE_A)["wwcorp0000000001"]
    assert sim.permanent_code_for("wwcorp0000000001") == corp_1["permanent_code"]
    assert 1000002 == corp_1["agentid"]
    assert "active" == corp_1["status"]
    corp_2 = corps(workdir, SUITE_B)["wwcorp0000000002"]
    assert "cancelled" == corp_2["status"]
    assert corp_2.get("permanent_code") is None
    assert 3 == permanent_code_calls(workdir)
    blocked = workdir.state()["blocked_ips"]["121.46.1.2"]
    assert "app" == blocked["whitelist"]
    assert 2 == blocked["count"]
    assert 0o600 == os.stat(workdir.state_file).st_mode & 0o777

    mtime = workdir.state_file.stat().st_mtime_ns
    again = workdir.run("once")
    assert 0 == again.returncode, again.stderr
    assert 3 == permanent_code_calls(workdir)
    assert mtime == workdir.state_file.stat().st_mtime_ns


def test_no_secret_in_any_log_line(workdir: Workdir) -> None:
    """Every log line of an end-to-end run is free of every secret value involved."""
    sim = workdir.sim
    ticket, code = workdir.log_authorization("wwcorp0000000003")
    sim.fail_next("get_permanent_code", errcode=-1)
    result = workdir.run("--log-level", "debug", "once")
    assert 0 == result.returncode, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "wecom" in output
    secret = sim.permanent_code_for("wwcorp0000000003")
    assert secret
    for value in [*SECRETS.values(), ticket, code, secret]:
        assert value not in output


def test_once_reports_our_blocked_ip(workdir: Workdir) -> None:
    """WeCom refusing our own address (60020): `once` exits 1, records the address for the
    provider's whitelist and keeps the code pending for the next run."""
    sim = workdir.sim
    sim.block_ip("127.0.0.1")
    _, code = workdir.log_authorization("wwcorp0000000006")
    result = workdir.run("once")
    assert 1 == result.returncode, result.stdout + result.stderr
    state = workdir.state()
    assert "provider" == state["blocked_ips"]["127.0.0.1"]["whitelist"]
    ledger = state["suites"][SUITE_A]["auth_codes"]
    assert [("pending", 60020)] == [(e["status"], e.get("errcode")) for e in ledger.values()]
    assert code == next(iter(ledger.values()))["code"]
    status = workdir.run("status")
    assert 1 == status.returncode
    assert "IP白名单" in status.stdout


def test_bad_config_exits_2(workdir: Workdir) -> None:
    """A config error exits 2 (systemd does not restart on it), with a one-line message."""
    workdir.config_file.write_text("[[source]]\nkind = 'nginx'\npath = '/x'\n")
    result = workdir.run("run")
    assert 2 == result.returncode
    assert "error:" in result.stderr
    assert 1 == len(result.stderr.strip().splitlines())


@pytest.fixture
def notify_listener(tmp_path: Path) -> Iterator[NotifyListener]:
    listener = NotifyListener(tmp_path / "notify.sock")
    yield listener
    listener.close()


def test_run_under_systemd(workdir: Workdir, notify_listener: NotifyListener) -> None:
    """`run` sends READY/STATUS/WATCHDOG, acts on new lines, reloads on SIGHUP, and
    stops on SIGTERM with exit 0 and the state saved."""
    notify = notify_listener
    env = {"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"}
    daemon = Daemon(workdir, env)
    try:
        ready = notify.wait_for("READY=1")
        status = notify.wait_for("following 2 log(s)")
        notify.wait_for("WATCHDOG=1", after=status)
        assert ready < status
        assert notify.messages[status].startswith("STATUS=WARNING: no suite_ticket yet")

        workdir.log_authorization("wwcorp0000000004")
        wait_for(lambda: corps(workdir, SUITE_A).get("wwcorp0000000004"), what="corp in state")

        extra = workdir.root / "other.log"
        workdir.config_file.write_text(
            workdir.config_file.read_text()
            + f'\n[[source]]\nkind = "policy_engine"\npath = "{extra}"\n'
        )
        daemon.process.send_signal(signal.SIGHUP)
        reloading = notify.wait_for("RELOADING=1")
        notify.wait_for("READY=1", after=reloading)
        notify.wait_for("following 3 log(s)", after=reloading)
        workdir.append(extra, blocked_record("203.0.113.7"))
        wait_for(lambda: "203.0.113.7" in workdir.state().get("blocked_ips", {}), what="ip")

        code_rc, output = daemon.stop()
        assert 0 == code_rc, output
        notify.wait_for("STOPPING=1")
    finally:
        daemon.kill()


def test_second_process_is_refused(workdir: Workdir) -> None:
    """While `run` holds the lock, `once` exits 3 and names the holder's pid."""
    daemon = Daemon(workdir)
    try:
        wait_for(lambda: Path(f"{workdir.state_file}.lock").exists(), what="lock file")
        result = wait_for(
            lambda: (r := workdir.run("once")).returncode == 3 and r, what="exit 3"
        )
        assert f"pid {daemon.pid}" in result.stderr
    finally:
        daemon.stop()


def test_sigkill_and_sigterm_mid_burst_lose_nothing(workdir: Workdir) -> None:
    """`run` killed (SIGKILL) or stopped (SIGTERM, exit 0) while lines are appended:
    after the restarts every record is recorded."""
    ips = [f"198.51.100.{n}" for n in range(1, 121)] + [f"2001:db8::{n:x}" for n in range(1, 81)]
    rng = random.Random(7)
    daemon = Daemon(workdir)
    try:
        for n, ip in enumerate(ips, 1):
            workdir.append(workdir.policy_log, f"noise {n}\n" + blocked_record(ip))
            if n % 40 == 0:
                time.sleep(rng.uniform(0, 0.3))
                if n % 80 == 0:
                    daemon.wait_ready()  # SIGTERM before the handlers exist is plain death
                    code, output = daemon.stop()
                    assert 0 == code, output
                else:
                    daemon.kill()
                daemon = Daemon(workdir)
        wanted = set(ips)
        wait_for(
            lambda: wanted <= set(workdir.state().get("blocked_ips", {})),
            timeout=30,
            what="every blocked IP in the state",
        )
    finally:
        daemon.stop()


def test_sigkill_between_call_and_state_write(workdir: Workdir) -> None:
    """Killed while get_permanent_code is in flight: the code is never sent again; the
    restart reports it as interrupted (exit 1) so the operator asks for a new one."""
    workdir.sim.fail_next("get_permanent_code", delay_s=3.0, times=1)
    daemon = Daemon(workdir)
    try:
        _, code = workdir.log_authorization("wwcorp0000000005")

        def in_flight() -> bool:
            ledger = workdir.state().get("suites", {}).get(SUITE_A, {}).get("auth_codes", {})
            return any(entry.get("status") == "redeeming" for entry in ledger.values())

        wait_for(in_flight, what="ledger entry 'redeeming'")
        # The simulator logs the call on arrival, then answers 3 s late: kill in between.
        wait_for(lambda: permanent_code_calls(workdir) == 1, what="the call to arrive")
    finally:
        daemon.kill()
    result = workdir.run("once")
    assert 1 == result.returncode, result.stdout + result.stderr
    ledger = workdir.state()["suites"][SUITE_A]["auth_codes"]
    assert ["failed"] == [entry["status"] for entry in ledger.values()]
    assert code not in workdir.state_file.read_text()
    assert 1 == permanent_code_calls(workdir)
