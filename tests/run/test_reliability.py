"""Never stuck, never re-reading: positions saved with the state, a fixed cause retried at
once, and a full disk that loses nothing. Real `iotwx-watch` processes, the simulator."""

from __future__ import annotations

import json
import os
import signal

import pytest

from tests.conftest import SECRETS, SUITE_A, SUITE_B, Workdir, wait_for
from tests.run.support import Daemon, corps, fill, permanent_code_calls, small_tmpfs

NOISE = (
    '203.0.113.9 - - [28/Nov/2026:14:00:00 +0800] "GET /wxcallback/basic/?auth_code=x HTTP/1.1" '
    '200 7 "-" "curl/8"\n'
    "2026-11-28 14:00:00 INFO callback handled in 3 ms\n"
    "PHP Notice:  Undefined index: AuthCode in /www/cb.php on line 12\n"
)


def offsets(work: Workdir) -> dict[str, int]:
    return {path: cursor["offset"] for path, cursor in work.state().get("sources", {}).items()}


def redeemed_calls(work: Workdir) -> int:
    return sum(1 for call in work.sim.calls
               if "get_permanent_code" in call.endpoint and call.errcode == 0)


def test_noise_only_once_saves_both_positions(workdir: Workdir) -> None:
    """Logs with nothing but noise: `once` writes the state with each offset at the file's
    size, and a second `once` re-reads nothing (no second state write)."""
    workdir.append(workdir.receive_log, NOISE * 50)
    workdir.append(workdir.policy_log, NOISE * 20)
    first = workdir.run("once")
    assert 0 == first.returncode, first.stdout + first.stderr
    expected = {str(workdir.receive_log): workdir.receive_log.stat().st_size,
                str(workdir.policy_log): workdir.policy_log.stat().st_size}
    assert expected == offsets(workdir)
    written = workdir.state_file.stat().st_mtime_ns
    second = workdir.run("once")
    assert 0 == second.returncode, second.stdout + second.stderr
    assert written == workdir.state_file.stat().st_mtime_ns


def test_a_redeemed_code_is_not_read_again_by_the_next_once(workdir: Workdir) -> None:
    """After a pass that redeemed a code, the next pass starts past it: no duplicate."""
    workdir.log_authorization("wwcorp0000000011")
    workdir.append(workdir.receive_log, NOISE)
    assert 0 == workdir.run("once").returncode
    again = workdir.run("once")
    assert 0 == again.returncode
    assert "engine.auth_code_duplicate" not in again.stdout + again.stderr
    assert 1 == redeemed_calls(workdir)


def test_start_at_end_sees_a_code_appended_between_two_passes(workdir: Workdir) -> None:
    """start = "end": the first pass saves the end as its position even though it saw no
    event, so a code appended before the second pass is redeemed by it."""
    workdir.append(workdir.receive_log, NOISE * 10)
    workdir.write_config('start = "end"\n')
    assert 0 == workdir.run("once").returncode
    assert workdir.receive_log.stat().st_size == offsets(workdir)[str(workdir.receive_log)]
    workdir.log_authorization("wwcorp0000000012")
    result = workdir.run("once")
    assert 0 == result.returncode, result.stdout + result.stderr
    assert "wwcorp0000000012" in corps(workdir, SUITE_A)


def test_block_then_unblock_redeems_on_the_next_once(workdir: Workdir) -> None:
    """Our address refused (60020): `once` exits 1; the operator whitelists it; the next
    `once`, seconds later, redeems the kept code exactly once and exits 0."""
    workdir.sim.block_ip("127.0.0.1")
    workdir.log_authorization("wwcorp0000000013")
    blocked = workdir.run("once")
    assert 1 == blocked.returncode, blocked.stdout + blocked.stderr
    workdir.sim.unblock_ip()
    fixed = workdir.run("once")
    assert 0 == fixed.returncode, fixed.stdout + fixed.stderr
    assert "wwcorp0000000013" in corps(workdir, SUITE_A)
    assert 1 == redeemed_calls(workdir)
    assert 1 == permanent_code_calls(workdir) - sum(
        1 for c in workdir.sim.calls if "get_permanent_code" in c.endpoint and c.errcode != 0)


def test_missing_secret_then_added_and_reloaded(workdir: Workdir) -> None:
    """No suite_secret: the code waits (status says to give the secret); the operator adds
    it and reloads the daemon (SIGHUP): the code is redeemed without a new callback."""
    workdir.write_config(secrets={SUITE_A: None, SUITE_B: SECRETS[SUITE_B]})
    daemon = Daemon(workdir)
    try:
        daemon.wait_ready()
        workdir.log_authorization("wwcorp0000000014")

        def waiting() -> bool:
            ledger = workdir.state().get("suites", {}).get(SUITE_A, {}).get("auth_codes", {})
            return any(e.get("waiting_for") == "config" for e in ledger.values())

        wait_for(waiting, what="the code waiting for the config")
        status = workdir.run("status")
        assert 1 == status.returncode
        assert f"give suite {SUITE_A} its suite_secret" in status.stdout
        assert 0 == permanent_code_calls(workdir)
        workdir.write_config()
        daemon.process.send_signal(signal.SIGHUP)
        wait_for(lambda: "wwcorp0000000014" in corps(workdir, SUITE_A), what="redeemed")
    finally:
        code, output = daemon.stop()
    assert 0 == code, output
    assert 1 == redeemed_calls(workdir)


def test_full_disk_while_redeeming_loses_no_secret(workdir: Workdir) -> None:
    """The state's filesystem fills up while WeCom answers get_permanent_code: the daemon
    keeps running, keeps the Secret in memory, and writes it once space is back."""
    with small_tmpfs(workdir.root / "state"):
        daemon = Daemon(workdir)
        try:
            daemon.wait_ready()
            wait_for(workdir.state_file.exists, what="the first state write")
            workdir.sim.fail_next("get_permanent_code", delay_s=1.5, times=1)
            _, code = workdir.log_authorization("wwcorp0000000015")
            wait_for(lambda: permanent_code_calls(workdir) == 1, what="the call in flight")
            fillers = fill(workdir.root / "state")
            wait_for(lambda: "runner.state_write_failed" in daemon.text(), what="write failure")
            assert daemon.process.poll() is None, daemon.text()
            assert "wwcorp0000000015" not in corps(workdir, SUITE_A)
            for filler in fillers:
                filler.unlink()
            wait_for(lambda: "wwcorp0000000015" in corps(workdir, SUITE_A), timeout=40,
                     what="the secret written once space is back")
        finally:
            exit_code, output = daemon.stop()
    secret = workdir.sim.permanent_code_for("wwcorp0000000015")
    assert 0 == exit_code, output
    assert 1 == permanent_code_calls(workdir)
    assert secret is not None
    assert code not in output
    assert secret not in output


def test_full_disk_before_the_claim_makes_no_call(workdir: Workdir) -> None:
    """With the disk already full, the ledger cannot say 'redeeming' first, so no call is
    made; once space is back the code is redeemed, once."""
    with small_tmpfs(workdir.root / "state"):
        daemon = Daemon(workdir)
        try:
            daemon.wait_ready()
            wait_for(workdir.state_file.exists, what="the first state write")
            fillers = fill(workdir.root / "state")
            workdir.log_authorization("wwcorp0000000016")
            wait_for(lambda: "runner.state_write_failed" in daemon.text(), what="write failure")
            assert 0 == permanent_code_calls(workdir)
            for filler in fillers:
                filler.unlink()
            wait_for(lambda: "wwcorp0000000016" in corps(workdir, SUITE_A), timeout=40,
                     what="redeemed once space is back")
        finally:
            exit_code, output = daemon.stop()
    assert 0 == exit_code, output
    assert 1 == permanent_code_calls(workdir)


def test_a_log_that_cannot_be_read_is_a_problem_in_status(workdir: Workdir) -> None:
    """A log the daemon cannot read (here a directory where the file should be, which even
    root cannot read as a file) is reported by status with the uid and the fix, not [ok]."""
    workdir.receive_log.unlink()
    workdir.receive_log.mkdir()
    assert 0 == workdir.run("once").returncode
    status = workdir.run("status")
    assert 1 == status.returncode, status.stdout + status.stderr
    assert f"cannot read callback log {workdir.receive_log}" in status.stdout
    assert f"uid {os.geteuid()}" in status.stdout


def test_status_notices_a_reader_that_stopped(workdir: Workdir) -> None:
    """Lines appended after the last pass, with the state untouched for minutes: status
    says iotwx-watch is not reading the log instead of blaming the callback server."""
    assert 0 == workdir.run("once").returncode
    workdir.log_authorization("wwcorp0000000018")
    data = json.loads(workdir.state_file.read_text())
    data["updated_at"] = "2000-01-01T00:00:00Z"
    workdir.state_file.write_text(json.dumps(data))
    status = workdir.run("status")
    assert 1 == status.returncode
    assert f"iotwx-watch is not reading {workdir.receive_log}" in status.stdout


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("timeout_s = 5\n", "timeout_s = nan\n"),
        ("", '\n[metrics]\nlisten = "nonsense"\n'),
        ("", '\n[metrics]\nlisten = "127.0.0.1:99999"\n'),
        ("poll_interval_s = 0.2\n", "poll_interval_s = 0.2\nmax_line_bytes = inf\n"),
        ("poll_interval_s = 0.2\n", 'poll_interval_s = 0.2\nbogus_key = "x"\n'),
        ("", '\n[[suite]]\nsuite_id = "dkZ1"\nsuite_secret_file = "/dev/zero"\n'),
    ],
    ids=["nan-timeout", "listen-nonsense", "port-99999", "inf-line", "unknown-key", "dev-zero"],
)
def test_check_config_rejects_what_once_rejects(workdir: Workdir, old: str, new: str) -> None:
    """A config `once` refuses is refused by check-config too: exit 2, one line naming the
    problem, and the state file is not touched."""
    assert 0 == workdir.run("once").returncode
    before = workdir.state_file.read_bytes()
    text = workdir.config_file.read_text()
    assert old in text
    workdir.config_file.write_text(text.replace(old, new, 1) if old else text + new)
    checked, once = workdir.run("check-config"), workdir.run("once")
    assert (2, 2) == (checked.returncode, once.returncode), checked.stderr + once.stderr
    errors = [[line for line in r.stderr.splitlines() if "error:" in line] for r in (checked, once)]
    assert [1, 1] == [len(lines) for lines in errors]
    assert errors[0] == errors[1]
    assert before == workdir.state_file.read_bytes()


def test_a_config_that_watches_nothing_is_refused(workdir: Workdir) -> None:
    """No [[source]]: check-config, once and run all exit 2 naming the problem; status
    reports it as a problem instead of all is well."""
    text = workdir.config_file.read_text()
    workdir.config_file.write_text(text[: text.index("[[source]]")])
    for command in ("check-config", "once", "run"):
        result = workdir.run(command, timeout=30)
        assert 2 == result.returncode, (command, result.stdout + result.stderr)
        assert "names no [[source]]" in result.stderr
    status = workdir.run("status")
    assert 1 == status.returncode
    assert "watches nothing" in status.stdout
