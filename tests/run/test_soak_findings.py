"""What the fault soak (bench/soak.py) found, each shown by a real daemon and the simulator:
a lost code must stay on `status` until its own recovery."""

from __future__ import annotations

import json
import time

from iotwx_watch.engine.ledger import code_key
from tests.conftest import SUITE_A, Workdir, wait_for
from tests.run.support import Daemon, corps, permanent_code_calls


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
