"""What the fault soak (bench/soak.py) found, each shown by a real daemon and the simulator:
a lost code must stay on `status` until its own recovery, a first start on a full disk must
not crash, and a code WeCom already redeemed is sent again after a timeout ate the answer."""

from __future__ import annotations

import json
import time

from iotwx_watch.engine.ledger import code_key
from tests.conftest import SUITE_A, Workdir, wait_for
from tests.run.support import Daemon, corps, fill, permanent_code_calls, small_tmpfs


def next_second() -> None:
    """Wait until the wall clock's whole second changes (a callback TimeStamp's unit)."""
    start = int(time.time())
    while int(time.time()) == start:
        time.sleep(0.02)


def test_a_code_lost_to_a_kill_stays_on_status_when_another_corp_authorizes(
    workdir: Workdir,
) -> None:
    """Killed during get_permanent_code for one corp, then a later authorization of another
    corp is redeemed: `status` still shows the lost code with 重新获取."""
    workdir.sim.fail_next("get_permanent_code", delay_s=3.0, times=1)
    daemon = Daemon(workdir)
    try:
        daemon.wait_ready()
        _, lost = workdir.log_authorization("wwcorp0000000031")
        wait_for(lambda: permanent_code_calls(workdir) == 1, what="the call in flight")
    finally:
        daemon.kill()
    next_second()
    daemon = Daemon(workdir)
    try:
        workdir.log_authorization("wwcorp0000000032")
        wait_for(lambda: "wwcorp0000000032" in corps(workdir, SUITE_A), what="second corp")
    finally:
        daemon.stop()
    status = workdir.run("status", "--json")
    shown = {a["key"]: a for a in json.loads(status.stdout)["suites"][SUITE_A]["auth_codes"]}
    assert code_key(lost) in shown, "the lost code vanished from status"
    assert "failed" == shown[code_key(lost)]["status"]
    assert "重新获取" in shown[code_key(lost)]["action"]


def test_first_start_on_a_full_disk_runs_and_redeems_once_space_is_back(
    workdir: Workdir,
) -> None:
    """The state disk is full before the daemon ever ran (no lock file yet): `run` starts
    anyway (the pid in the lock file is only a courtesy), waits, and redeems the code once
    space is back."""
    with small_tmpfs(workdir.root / "state"):
        fillers = fill(workdir.root / "state")
        daemon = Daemon(workdir)
        try:
            wait_for(lambda: "daemon.ready" in daemon.text() or daemon.process.poll() is not None,
                     what="ready or dead")
            assert daemon.process.poll() is None, daemon.text()
            workdir.log_authorization("wwcorp0000000034")
            wait_for(lambda: "runner.state_write_failed" in daemon.text(), what="write failure")
            assert 0 == permanent_code_calls(workdir)
            for filler in fillers:
                filler.unlink()
            wait_for(lambda: "wwcorp0000000034" in corps(workdir, SUITE_A), timeout=40,
                     what="redeemed once space is back")
        finally:
            exit_code, output = daemon.stop()
    assert 0 == exit_code, output
    assert 1 == permanent_code_calls(workdir)


def test_a_code_whose_answer_was_lost_to_a_timeout_is_not_sent_again(workdir: Workdir) -> None:
    """WeCom redeems the code but answers after the client's timeout: the code must not
    be sent a second time (at most once, as for a kill during the call)."""
    config = workdir.config_file.read_text(encoding="utf-8")
    workdir.config_file.write_text(config.replace("timeout_s = 5", "timeout_s = 1"))
    workdir.sim.fail_next("get_permanent_code", delay_s=1.5, times=1)
    _, code = workdir.log_authorization("wwcorp0000000033")
    result = workdir.run("once")
    calls = [c for c in workdir.sim.calls_to("get_permanent_code") if c.code_key == code_key(code)]
    assert [True] == [c.spent for c in calls][:1], result.stdout + result.stderr
    assert 1 == len(calls), f"sent {len(calls)} times: {[(c.errcode, c.spent) for c in calls]}"
