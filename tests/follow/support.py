"""Helpers for the follower tests: a fake clock and a harness over real temp files.

No tests here; the harness drives a real Follower with a real Wakeup backend and waits
on conditions with a deadline instead of sleeping for time to pass.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any, Literal

import pytest
from structlog.testing import capture_logs

from iotwx_watch.follow.follower import Chunk, Cursor, Follower
from iotwx_watch.run.wakeup import Wakeup

BACKENDS = ["inotify", "poll", "timer"]
Backend = Literal["inotify", "poll", "timer"]
DEADLINE_S = 10.0


class FakeClock:
    """An injectable monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def append(path: Path | str, data: bytes) -> None:
    """Append like a logger opening with O_APPEND per write."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


class Harness:
    """One followed path, its Follower and Wakeup, and everything delivered so far."""

    def __init__(self, path: Path, backend: Backend, **kwargs: object) -> None:
        self.path = path
        self.backend = backend
        self.clock = FakeClock()
        self.kwargs = kwargs
        self.wakeup = self._watch()
        self.chunks: list[Chunk] = []
        self.follower = self._new(kwargs.pop("cursor", None))  # type: ignore[arg-type]

    def _watch(self) -> Wakeup:
        wakeup = Wakeup([str(self.path)], mode=self.backend, poll_interval_s=0.05)
        wakeup.start()
        return wakeup

    def _new(self, cursor: Cursor | None) -> Follower:
        return Follower(str(self.path), cursor=cursor, clock=self.clock, **self.kwargs)  # type: ignore[arg-type]

    def move_to(self, path: Path) -> None:
        """Watch ``path`` instead (a fresh Wakeup); the caller makes the follower for it."""
        self.path = path
        self.wakeup.stop()
        self.wakeup = self._watch()

    def restart(self, cursor: Cursor | None) -> None:
        """Simulate a process restart from a saved cursor."""
        self.follower.close()
        self.follower = self._new(cursor)

    def stop_after(self, data: bytes, lines: int) -> Cursor:
        """Append ``data``, read until ``lines`` lines are delivered, then stop the follower
        as a shutdown does; returns the cursor saved at that point."""
        append(self.path, data)
        self.pump_lines(lines)
        saved = self.saved()
        self.follower.close()
        return saved

    def resume(self, cursor: Cursor, lines: int) -> list[MutableMapping[str, Any]]:
        """Restart from ``cursor`` and read until ``lines`` lines are delivered in all;
        returns what was logged meanwhile."""
        with capture_logs() as logs:
            self.restart(cursor)
            self.pump_lines(lines)
        return logs

    def read(self, **kwargs: bool) -> list[Chunk]:
        got = self.follower.read(**kwargs)
        self.chunks.extend(got)
        return got

    def pump_until(self, predicate: Callable[[], bool], timeout: float = DEADLINE_S) -> None:
        """Read and wait for wake-ups until ``predicate`` holds; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            self.read()
            if predicate():
                return
            if time.monotonic() > deadline:
                pytest.fail(f"condition not met within {timeout}s; got {self.lines()!r}")
            self.wakeup.wait(0.05)

    def data(self) -> bytes:
        return b"".join(c.data for c in self.chunks)

    def lines(self) -> list[bytes]:
        """Delivered complete lines (unterminated pieces joined to what follows)."""
        return self.data().splitlines(keepends=True)

    def pump_lines(self, n: int) -> list[bytes]:
        self.pump_until(lambda: len(self.lines()) >= n)
        return self.lines()

    def saved(self) -> Cursor:
        """The cursor the runner would save: at the follower's current read position."""
        cursor = self.follower.cursor_at(self.position())
        assert cursor is not None
        return cursor

    def position(self) -> int:
        current = self.follower.current_file
        mine = [c for c in self.chunks if c.file == current]
        if not mine:
            return 0
        last = mine[-1]
        return last.offset + len(last.data)

    def close(self) -> None:
        self.follower.close()
        self.wakeup.stop()


@pytest.fixture(params=BACKENDS)
def harness_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[..., Harness]]:
    """Build harnesses on ``tmp_path/receive.log`` for each wake-up backend."""
    made: list[Harness] = []

    def make(**kwargs: object) -> Harness:
        harness = Harness(tmp_path / "receive.log", request.param, **kwargs)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.close()
