"""A progress line for a long catch-up, on a terminal only.

Reading a backlog of gigabytes takes seconds; a person at a terminal should see that
something is happening and when it will end. :class:`ProgressLine` redraws one line on
the stream it is given (``\\r``, no newline) with the bytes done, the rate and the time
left, once the catch-up has taken longer than ``delay_s``, and erases it when done. The
CLI decides whether there is a person to show it to (a terminal, not systemd) and
passes nothing otherwise, so the run loop never looks at its environment.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TextIO

MB = 1_000_000


class ProgressLine:
    """``catching up: 412 of 1,024 MB (40 %), 355 MB/s, 2 s left`` on one redrawn line."""

    def __init__(
        self,
        stream: TextIO,
        *,
        clock: Callable[[], float] = time.monotonic,
        delay_s: float = 2.0,
        interval_s: float = 0.25,
    ) -> None:
        self._stream = stream
        self._clock = clock
        self._started = clock()
        self._delay_s = delay_s
        self._interval_s = interval_s
        self._drawn_at: float | None = None
        self._width = 0

    def update(self, done: int, total: int) -> None:
        """Redraw, at most every ``interval_s``, once ``delay_s`` has passed."""
        now = self._clock()
        elapsed = now - self._started
        if elapsed < self._delay_s:
            return
        if self._drawn_at is not None and now - self._drawn_at < self._interval_s:
            return
        self._drawn_at = now
        self._draw(render(done, total, elapsed))

    def close(self) -> None:
        """Erase the line (if one was drawn), so the log lines that follow start clean."""
        if self._width:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()
            self._width = 0

    def _draw(self, text: str) -> None:
        pad = max(0, self._width - len(text))
        self._stream.write("\r" + text + " " * pad)
        self._stream.flush()
        self._width = max(self._width, len(text))


def render(done: int, total: int, elapsed: float) -> str:
    """The words of the line: bytes done of the total, the rate so far, the time left."""
    total = max(total, done)
    rate = done / elapsed if elapsed > 0 else 0.0
    percent = f" ({100 * done // total} %)" if total else ""
    left = f", {(total - done) / rate:.0f} s left" if rate > 0 and total > done else ""
    return (f"catching up: {done / MB:,.0f} of {total / MB:,.0f} MB{percent}, "
            f"{rate / MB:,.0f} MB/s{left}")


def progress_for(stream: TextIO, env: Mapping[str, str]) -> ProgressLine | None:
    """A progress line on ``stream`` when a person watches it: a terminal, and not a
    service's (systemd sets ``INVOCATION_ID`` and, for the journal, ``JOURNAL_STREAM``)."""
    if "INVOCATION_ID" in env or "JOURNAL_STREAM" in env:
        return None
    try:
        if not stream.isatty():
            return None
    except (AttributeError, ValueError):  # a closed or odd stream
        return None
    return ProgressLine(stream)
