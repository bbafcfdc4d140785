"""A long catch-up as real processes: SIGKILL in the middle of a multi-chunk backlog loses
nothing and redeems nothing twice; the progress line shows on a terminal, not in a pipe."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import time
from pathlib import Path

from iotwx_watch.follow.follower import READ_BYTES
from iotwx_watch.sim.core import PERMANENT_CODE
from tests.conftest import SUITE_A, Workdir, auth_record, ticket_record, wait_for
from tests.run.support import Daemon, corps, permanent_code_calls

MiB = 1 << 20
NOISE = b"".join(
    b'10.0.%d.%d - - [28/Nov/2026:17:00:00 +0800] "GET /api/v1/devices/%d HTTP/1.1" 200 %d\n'
    b"[28-Nov-2026 17:00:01 Asia/Shanghai] PHP Notice:  Undefined index: AuthCode in "
    b"/www/receive.php on line %d\n" % (n % 250, n % 199, n, n % 9000, n % 300)
    for n in range(800)
)


def noise(size: int) -> bytes:
    return (NOISE * (size // len(NOISE) + 1))[:size].rsplit(b"\n", 1)[0] + b"\n"


def watch_state(path: Path, until: int) -> int:
    """Stat the state file in a tight loop; return the number of corps once it reaches
    ``until`` (the file is parsed only when it changed), so a SIGSTOP lands within a few
    milliseconds of that write."""
    last = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            stamp = path.stat().st_mtime_ns
        except FileNotFoundError:
            continue
        if stamp != last:
            last = stamp
            try:
                found = len(json.loads(path.read_text())["suites"][SUITE_A]["corps"])
            except (ValueError, KeyError):
                continue
            if found >= until:
                return found
    raise AssertionError(f"fewer than {until} corps in the state after 60 s")


def test_sigkill_in_the_middle_of_a_catch_up_loses_nothing_and_sends_nothing_twice(
    workdir: Workdir,
) -> None:
    """Five codes a read and a half apart, 64 MiB of noise, three more codes: the
    daemon is stopped and killed as soon as the fifth corp is saved. The saved cursor is
    inside the backlog; the next daemon resumes there and redeems the other three; every
    code reached WeCom exactly once and every corp is in the state."""
    sim = workdir.sim
    now = int(time.time())
    ticket = sim.push_ticket(SUITE_A, timestamp=now)
    codes = [sim.issue_auth_code(SUITE_A, f"wwcorp{n:010d}") for n in range(8)]
    parts = [ticket_record(SUITE_A, ticket, now).encode()]
    for code in codes[:5]:
        parts += [auth_record(SUITE_A, code, now).encode(), noise(3 * READ_BYTES // 2)]
    parts.append(noise(64 * MiB))
    parts += [auth_record(SUITE_A, code, now).encode() + noise(4096) for code in codes[5:]]
    workdir.receive_log.write_bytes(b"".join(parts))
    size = workdir.receive_log.stat().st_size

    first = Daemon(workdir)
    try:
        assert 5 == watch_state(workdir.state_file, 5)
        first.process.send_signal(signal.SIGSTOP)  # freeze it where it is, then kill it
        assert "daemon.ready" not in first.text()
    finally:
        first.kill()
    calls_at_kill = permanent_code_calls(workdir)
    saved = workdir.state()["sources"][str(workdir.receive_log)]["offset"]
    assert 5 == calls_at_kill
    assert 0 < saved < size - 64 * MiB  # a cursor inside the backlog, before the noise end

    second = Daemon(workdir)
    try:
        wait_for(lambda: len(corps(workdir, SUITE_A)) == 8, 60, "all eight corps")
        second.wait_ready()
        exit_code, _ = second.stop()
    finally:
        second.kill()
    assert 0 == exit_code
    assert 8 == permanent_code_calls(workdir)
    assert sorted(f"wwcorp{n:010d}" for n in range(8)) == sorted(corps(workdir, SUITE_A))
    for corpid, corp in corps(workdir, SUITE_A).items():
        assert sim.permanent_code_for(corpid) == corp["permanent_code"]


def slow_catch_up(workdir: Workdir) -> None:
    """A code whose redemption WeCom answers 2.5 s late, then another read of noise, so
    the catch-up outlasts the progress line's two-second delay."""
    sim = workdir.sim
    now = int(time.time())
    ticket = sim.push_ticket(SUITE_A, timestamp=now)
    code = sim.issue_auth_code(SUITE_A, "wwcorp0000000001")
    sim.fail_next(PERMANENT_CODE, delay_s=2.5)
    workdir.receive_log.write_bytes(
        ticket_record(SUITE_A, ticket, now).encode() + auth_record(SUITE_A, code, now).encode()
        + noise(3 * MiB)
    )


def clean_env(workdir: Workdir) -> dict[str, str]:
    """The environment of a person's shell: no systemd service variables."""
    env = {k: v for k, v in os.environ.items() if k not in ("INVOCATION_ID", "JOURNAL_STREAM")}
    return {**env, **workdir.env}


def test_progress_line_on_a_terminal(workdir: Workdir) -> None:
    """`once` on a terminal redraws one line (``\\r``) with the bytes done, the rate and
    the time left while a catch-up takes more than two seconds."""
    slow_catch_up(workdir)
    master, slave = pty.openpty()
    cmd = [c for c in workdir.command("once") if c not in ("--log-format", "json")]
    process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                               env=clean_env(workdir))
    os.close(slave)
    output = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 30)
            if not ready:
                break
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            output += data
    finally:
        process.wait(timeout=60)
        os.close(master)
    text = output.decode("utf-8", "replace")
    assert 0 == process.returncode, text
    assert "\rcatching up: " in text
    assert " MB/s" in text


def test_no_progress_line_in_a_pipe(workdir: Workdir) -> None:
    """The same catch-up with stderr piped prints no progress line, only the log lines,
    among them one follow.catch_up with the figures."""
    slow_catch_up(workdir)
    result = subprocess.run(workdir.command("once"), capture_output=True, text=True,
                            timeout=60, env=clean_env(workdir), check=False)
    assert 0 == result.returncode, result.stderr
    assert "catching up" not in result.stderr + result.stdout
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    catch_up = [line for line in lines if line["event"] == "follow.catch_up"]
    assert 1 == len(catch_up)
    assert {"bytes", "seconds", "mb_per_s", "events"} <= set(catch_up[0])
    assert catch_up[0]["bytes"] == workdir.receive_log.stat().st_size
