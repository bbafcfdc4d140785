"""A service that tells the truth, as real processes: the health verdict in STATUS=, a
reload that fails or needs a restart says so, a busy metrics port never stops
redemption, and `redeem` works while `run` holds the lock."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SUITE_A, Workdir, ticket_record, wait_for
from tests.run.support import Daemon, NotifyListener, corps


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[NotifyListener]:
    notify = NotifyListener(tmp_path / "notify.sock")
    yield notify
    notify.close()


def test_status_line_carries_the_verdict_and_the_worst_problem(
    workdir: Workdir, listener: NotifyListener
) -> None:
    """STATUS= starts with the health verdict and names the worst problem; a reload with
    broken TOML says it failed and keeps running; one that changes [[notify]] says a
    restart is needed."""
    now = int(time.time())
    old = workdir.sim.push_ticket(SUITE_A, timestamp=now - 40 * 60)
    workdir.append(workdir.receive_log, ticket_record(SUITE_A, old, now - 40 * 60))
    daemon = Daemon(workdir, {"NOTIFY_SOCKET": listener.path})
    try:
        first = listener.wait_for("STATUS=")
        assert listener.messages[first].startswith(
            f"STATUS=CRITICAL: the newest suite_ticket of {SUITE_A} is 40 min old "
            "(and 1 more problem) · following 2 log(s), 2 suite(s), 0 active corp(s)")
        good = workdir.config_file.read_text()
        workdir.config_file.write_text(good + "\n[wecom\n")
        daemon.process.send_signal(1)  # SIGHUP
        failed = listener.wait_for("reload failed, running the previous config", after=first)
        assert "is not valid TOML" in listener.messages[failed]
        workdir.config_file.write_text(
            good + '\n[[notify]]\nkind = "webhook"\nurl = "http://127.0.0.1:9/hook"\n')
        daemon.process.send_signal(1)
        listener.wait_for("restart needed to apply notify", after=failed)
        code, output = daemon.stop()
        assert 0 == code, output
    finally:
        daemon.kill()


def test_a_busy_metrics_port_keeps_redeeming(workdir: Workdir) -> None:
    """With [metrics] listen on a port another process holds, `once` still redeems (exit 0),
    and the problem is in the state for `status` to show."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        workdir.extra_config = f'[metrics]\nlisten = "127.0.0.1:{port}"\n\n'
        workdir.write_config()
        workdir.log_authorization("wwcorp0000000051")
        done = workdir.run("once")
        status = workdir.run("status")
    assert 0 == done.returncode, done.stderr
    assert "wwcorp0000000051" in corps(workdir, SUITE_A)
    assert "metrics.listen_failed" in done.stderr
    error = workdir.state()["service_errors"]["metrics_listen"]["error"]
    assert f"[metrics] listen 127.0.0.1:{port} cannot be bound: Address already in use" == error
    assert error in status.stdout


def test_redeem_while_run_holds_the_lock(workdir: Workdir) -> None:
    """`redeem` hands the code to the running daemon and prints its answer; the code never
    appears in any output."""
    now = int(time.time())
    ticket = workdir.sim.push_ticket(SUITE_A, timestamp=now)
    workdir.append(workdir.receive_log, ticket_record(SUITE_A, ticket, now))
    daemon = Daemon(workdir)
    try:
        daemon.wait_ready()
        code = workdir.sim.issue_auth_code(SUITE_A, "wwcorp0000000052", agentid=1000052)
        done = subprocess.run(workdir.command("redeem", SUITE_A, "-"), input=code + "\n",
                              capture_output=True, text=True, timeout=120, check=False)
        assert 0 == done.returncode, done.stdout + done.stderr
        assert "holds the state: handing the code to it" in done.stderr
        assert "auth code: redeemed\ncorpid: wwcorp0000000052  agentid: 1000052" in done.stdout
        wait_for(lambda: corps(workdir, SUITE_A).get("wwcorp0000000052"), what="corp saved")
        spool = workdir.state_file.parent / "redeem-requests"
        assert [] == list(spool.iterdir())
        _, output = daemon.stop()
    finally:
        daemon.kill()
    assert code not in done.stdout + done.stderr + output
