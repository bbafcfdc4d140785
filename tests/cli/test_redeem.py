"""Tests for `iotwx-watch redeem`: a pasted code takes the engine's path, at most once."""

from __future__ import annotations

import subprocess
import time

from tests.conftest import SUITE_A, Workdir, ticket_record


def redeem(work: Workdir, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        work.command("redeem", *args), input=stdin, capture_output=True, text=True,
        timeout=60, check=False,
    )


def test_redeem_from_stdin_once(workdir: Workdir) -> None:
    """A code piped on stdin is redeemed; the same code again makes no second call."""
    now = int(time.time())
    ticket = workdir.sim.push_ticket(SUITE_A, timestamp=now)
    workdir.append(workdir.receive_log, ticket_record(SUITE_A, ticket, now))
    assert 0 == workdir.run("once").returncode
    code = workdir.sim.issue_auth_code(SUITE_A, "wwcorp0000000009", agentid=1000009)

    first = redeem(workdir, SUITE_A, stdin=code + "\n")
    assert 0 == first.returncode, first.stderr
    assert "corpid: wwcorp0000000009  agentid: 1000009" in first.stdout
    corp = workdir.state()["suites"][SUITE_A]["corps"]["wwcorp0000000009"]
    assert workdir.sim.permanent_code_for("wwcorp0000000009") == corp["permanent_code"]
    assert code not in first.stdout + first.stderr

    again = redeem(workdir, SUITE_A, "-", stdin=code + "\n")
    assert "redeemed" in again.stdout
    assert 1 == len(workdir.sim.calls_to("get_permanent_code"))


def test_redeem_unknown_suite_is_usage_error(workdir: Workdir) -> None:
    """A suite that is not configured exits 2 without asking for the code."""
    result = redeem(workdir, "dkNotConfigured01", "x" * 64)
    assert 2 == result.returncode
    assert "not in the config" in result.stderr
