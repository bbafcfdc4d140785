"""receive.log: WeCom command callbacks (suite_ticket, create_auth, …) wherever they are.

The scanner looks for ``InfoType`` and ``Encrypt`` in each chunk with ``bytes.find``;
around each hit it finds the record (see :mod:`.records`), reads its fields in any
format (see :mod:`.fields`) and builds an event (see :mod:`.callback_events`). A
record whose end has not been read yet is kept, and reported as the resume point.
"""

from __future__ import annotations

from collections import Counter

from iotwx_watch.config import Config
from iotwx_watch.events import Event, SourcePosition
from iotwx_watch.extract.callback_events import EnvelopeOpener, record_events
from iotwx_watch.extract.fields import decode
from iotwx_watch.extract.records import (
    closer_after,
    line_end,
    line_start,
    lines_back,
    lines_forward,
    marker_lines,
    opener_before,
    rfind_xml,
)
from iotwx_watch.extract.search import Needle

TRIGGERS = (b"InfoType", b"Encrypt")  # in every form of a callback and of an envelope
LOOKBACK_LINES = 32  # how far before a hit its record may start
LOOKAHEAD_LINES = 32  # how far after a hit its record may end
CONTEXT_LINES = 4  # lines before a record searched for "收到的id:" and the callback URL
RECORD_MAX_BYTES = 64 * 1024  # a multi-line record larger than this is cut here


class CallbackScanner:
    """Finds callback payloads in receive.log bytes; see the module docstring."""

    kind = "callback"

    def __init__(self, path: str, config: Config | None, *, max_line_bytes: int) -> None:
        self._path = path
        self._max_line = max_line_bytes
        self._envelopes = EnvelopeOpener(config)
        self._needles = [Needle(trigger) for trigger in TRIGGERS]
        self._scanned = -1  # file offset up to which hits were handled (-1: not started)
        self._consumed = 0  # file offset just past the last record handled
        self._resume: int | None = None

    def reset(self) -> None:
        """Forget every position (the bytes restart elsewhere)."""
        self._scanned, self._consumed, self._resume = -1, 0, None

    def resume(self, end_offset: int) -> int:
        """See :class:`~iotwx_watch.extract.chunks.Scanner`."""
        return end_offset if self._resume is None else min(self._resume, end_offset)

    def scan(
        self, buf: bytes, base: int, end: int, *, final: bool, stats: Counter[str]
    ) -> tuple[list[Event], int]:
        """See :class:`~iotwx_watch.extract.chunks.Scanner`."""
        self._scanned = max(self._scanned, base)
        self._consumed = max(self._consumed, base)  # offsets before base are gone
        events: list[Event] = []
        pending_at: int | None = None
        for hit in self._hits(buf, self._scanned - base, end):
            if hit < self._consumed - base:
                continue
            outcome = self._record(buf, base, hit, end, final=final, stats=stats)
            if outcome is None:
                continue
            if isinstance(outcome, int):  # unfinished: wait for more lines
                pending_at = outcome
                self._scanned = base + hit
                break
            events.extend(outcome)
        else:
            self._scanned = base + end
        keep = self._keep(buf, base, end, pending_at)
        return events, keep

    def _hits(self, buf: bytes, lo: int, end: int) -> list[int]:
        hits: list[int] = []
        for needle in self._needles:
            hits.extend(needle.find_all(buf, lo, end))
        hits.sort()
        return hits

    def _record(
        self, buf: bytes, base: int, hit: int, end: int, *, final: bool, stats: Counter[str]
    ) -> list[Event] | int | None:
        """Events of the record around ``hit``; an int (resume offset) when unfinished."""
        floor = self._consumed - base
        ls = line_start(buf, hit, floor)
        le = line_end(buf, hit, end)
        if le - ls > self._max_line:
            return None  # counted as a long line by the chunk layer
        lookback = max(lines_back(buf, ls, LOOKBACK_LINES, floor), ls - RECORD_MAX_BYTES, floor)
        opener = opener_before(buf, lookback, hit)
        if opener is None:
            start, stop = ls, le
        else:
            start = line_start(buf, opener.at, floor)
            bound, enough = lines_forward(buf, le, LOOKAHEAD_LINES, end)
            bound = min(bound, start + RECORD_MAX_BYTES)
            enough = enough or bound < end
            close = closer_after(buf, opener, hit, bound)
            if close >= 0:
                stop = line_end(buf, close - 1, end)
            elif enough or final:
                stop = max(le, bound)
            else:  # resume at the context line it needs, or at its own start
                context_start = lines_back(buf, start, CONTEXT_LINES, floor)
                marker = marker_lines(buf, context_start, start)
                return base + (start if marker < 0 else marker)
        context_start = lines_back(buf, start, CONTEXT_LINES, floor)
        events = record_events(
            decode(buf[start:stop]),
            context=decode(buf[context_start:start]),
            source=SourcePosition(self._path, base + start),
            envelopes=self._envelopes,
            stats=stats,
        )
        if events is not None:  # a trigger word in noise does not end a record's context
            self._consumed = base + stop
        return events

    def _keep(self, buf: bytes, base: int, end: int, pending_at: int | None) -> int:
        """Bytes to keep: an unfinished record, or the tail lines a record to come may
        start in (from the first opener or context marker after the last record)."""
        floor = self._consumed - base
        if pending_at is not None:
            self._resume = pending_at
            return pending_at
        tail = max(
            lines_back(buf, end, LOOKBACK_LINES + CONTEXT_LINES, floor),
            end - RECORD_MAX_BYTES,
            floor,
        )
        last_close = rfind_xml(buf, tail, end, "close")
        marks_from = tail if last_close < 0 else line_end(buf, last_close, end)
        marker = marker_lines(buf, marks_from, end)
        if marker < 0:  # no record can have begun in the tail: keep nothing
            self._resume = None
            return base + end
        self._resume = base + marker
        return base + tail
