"""SIGKILL a real follower process at arbitrary points while the log is written and rotated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.follow.support import append

# The follower process: resume from the saved cursor, append every chunk to OUT, save the
# cursor after each batch (tmp + rename), forever. Like the daemon's loop, minus extraction.
CHILD = r"""
import json, os, sys
from iotwx_watch.follow.follower import Cursor, Follower
from iotwx_watch.run.wakeup import Wakeup
path, state, out = sys.argv[1:4]
cursor = None
if os.path.exists(state):
    with open(state) as f:
        cursor = Cursor.from_json(json.load(f))
wakeup = Wakeup([path], mode="inotify", poll_interval_s=0.05)
wakeup.start()
follower = Follower(path, cursor=cursor, rotate_settle_s=0.05)
fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
while True:
    for chunk in follower.read():
        os.write(fd, chunk.data)
    saved = follower.cursor_at(follower.position)
    if saved is not None:
        with open(state + ".tmp", "w") as f:
            json.dump(saved.to_json(), f)
        os.replace(state + ".tmp", state)
    wakeup.wait(0.05)
"""


def rotate(path: Path) -> None:
    for n in range(8, 0, -1):
        older = path.with_name(f"{path.name}.{n}")
        if older.exists():
            older.rename(path.with_name(f"{path.name}.{n + 1}"))
    path.rename(path.with_name(f"{path.name}.1"))


def delivered(out: Path) -> list[bytes]:
    return out.read_bytes().splitlines() if out.exists() else []


def wait_for_count(out: Path, n: int, child: subprocess.Popen[bytes], bound: float = 20) -> None:
    deadline = time.monotonic() + bound
    while len(set(delivered(out))) < n:
        assert child.poll() is None, "follower process died"
        assert time.monotonic() < deadline, f"{len(set(delivered(out)))} of {n} lines"
        time.sleep(0.01)  # polling a condition with a deadline, not waiting for time


def wait_for_state(state: Path, child: subprocess.Popen[bytes], bound: float = 20) -> None:
    deadline = time.monotonic() + bound
    while not state.exists():
        assert child.poll() is None, "follower process died"
        assert time.monotonic() < deadline, "no cursor saved"
        time.sleep(0.01)


def test_sigkill_at_random_points_loses_nothing(tmp_path: Path) -> None:
    """Across SIGKILLs and rotations (also while dead) every line arrives, in order, whole."""
    log, state, out = tmp_path / "receive.log", tmp_path / "state.json", tmp_path / "out"
    command = [sys.executable, "-u", "-c", CHILD, str(log), str(state), str(out)]
    written: list[bytes] = []
    for round_ in range(6):
        child = subprocess.Popen(command)
        try:
            for i in range(150):
                line = b"round %d line %04d" % (round_, i)
                written.append(line)
                append(log, line + b"\n")
                if i == 75 and round_ % 2:
                    rotate(log)  # while running
            wait_for_count(out, len(written) - 40, child)
            # Documented window: with no state at all, a file rotated before the first
            # read is unknown. Kill only once a cursor was saved.
            wait_for_state(state, child)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        if round_ % 3 == 2:
            append(log, b"dead %d\n" % round_)
            written.append(b"dead %d" % round_)
            rotate(log)  # while dead
    child = subprocess.Popen(command)
    try:
        wait_for_count(out, len(written), child)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    got = delivered(out)
    assert set(written) == set(got)
    firsts = list(dict.fromkeys(got))
    assert written == firsts
