"""Forged log lines, appended as anyone who can POST to the callback URL could: they
must not wipe a Secret, block redemptions, or grow the state. Real `once` processes."""

from __future__ import annotations

import time

from tests.conftest import (
    SUITE_A,
    Workdir,
    auth_record,
    cancel_record,
    ticket_record,
)
from tests.run.support import corps


def test_a_forged_cancel_keeps_the_secret(workdir: Workdir) -> None:
    """A cancel_auth line for a real, still authorized corp changes nothing: WeCom's
    get_auth_info still lists the corp, so the Secret stays (the .bak too)."""
    workdir.log_authorization("wwcorp0000000091")
    assert 0 == workdir.run("once").returncode
    secret = corps(workdir, SUITE_A)["wwcorp0000000091"]["permanent_code"]
    workdir.append(workdir.receive_log, cancel_record(SUITE_A, "wwcorp0000000091",
                                                      int(time.time())))
    assert 0 == workdir.run("once").returncode
    assert 0 == workdir.run("once").returncode
    corp = corps(workdir, SUITE_A)["wwcorp0000000091"]
    assert ("active", secret) == (corp["status"], corp["permanent_code"])
    assert 1 == workdir.state()["ignored_records"]["cancel_refuted"]["count"]
    assert str(secret) in (workdir.state_file.parent / "state.json.bak").read_text()


def test_a_far_future_ticket_cannot_block_redemptions(workdir: Workdir) -> None:
    """A ticket with TimeStamp 999999999999 is ignored: later codes still redeem and
    status still works."""
    now = int(time.time())
    workdir.append(workdir.receive_log, ticket_record(SUITE_A, "forged-ticket-value",
                                                      999_999_999_999))
    workdir.log_authorization("wwcorp0000000092")
    result = workdir.run("once")
    assert 0 == result.returncode, result.stdout + result.stderr
    assert "wwcorp0000000092" in corps(workdir, SUITE_A)
    ticket = workdir.state()["suites"][SUITE_A]["suite_ticket"]
    assert now - 5 <= ticket["timestamp"] <= now + 5
    status = workdir.run("status")
    assert "Traceback" not in status.stderr
    assert "future_timestamp" in status.stdout


def test_made_up_suites_leave_the_state_unchanged(workdir: Workdir) -> None:
    """create_auth lines for SuiteIds not in the config are counted, nothing is stored."""
    now = int(time.time())
    for n in range(20):
        workdir.append(workdir.receive_log,
                       auth_record(f"dkMadeUp{n:010d}", f"made-up-code-{n:06d}-xyz", now))
    assert 0 == workdir.run("once").returncode
    state = workdir.state()
    assert [] == sorted(set(state.get("suites", {})) - {SUITE_A})
    assert 20 == state["ignored_records"]["unknown_suite"]["count"]
