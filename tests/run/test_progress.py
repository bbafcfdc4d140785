"""The catch-up's progress line: only after its delay, throttled, erased at the end, and
only for a person at a terminal."""

from __future__ import annotations

import io

from iotwx_watch.run.progress import ProgressLine, progress_for, render


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_nothing_before_the_delay_then_one_redrawn_line_then_erased() -> None:
    """A short catch-up draws nothing; a long one redraws one line at most every
    interval, and close() blanks it so the next log line starts clean."""
    out, clock = io.StringIO(), Clock()
    line = ProgressLine(out, clock=clock, delay_s=2.0, interval_s=0.25)
    clock.now += 1.0
    line.update(100_000_000, 1_000_000_000)
    assert "" == out.getvalue()
    clock.now += 1.5
    line.update(250_000_000, 1_000_000_000)
    clock.now += 0.1
    line.update(260_000_000, 1_000_000_000)  # within the interval: not drawn
    first = "\rcatching up: 250 of 1,000 MB (25 %), 100 MB/s, 8 s left"
    assert first == out.getvalue()
    line.close()
    assert first + "\r" + " " * (len(first) - 1) + "\r" == out.getvalue()


def test_the_words_of_the_line() -> None:
    """Bytes done of the total, the rate so far, and the time left at that rate."""
    assert "catching up: 512 of 1,024 MB (50 %), 256 MB/s, 2 s left" == render(
        512_000_000, 1_024_000_000, 2.0)
    assert "catching up: 0 of 0 MB, 0 MB/s" == render(0, 0, 0.0)


def test_only_on_a_terminal_and_never_under_systemd() -> None:
    """A terminal gets the line; a pipe, a file or a systemd service do not."""
    assert isinstance(progress_for(Tty(), {}), ProgressLine)
    assert progress_for(io.StringIO(), {}) is None
    assert progress_for(Tty(), {"INVOCATION_ID": "x"}) is None
    assert progress_for(Tty(), {"JOURNAL_STREAM": "8:1"}) is None
