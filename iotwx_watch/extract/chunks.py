"""The byte plumbing every extractor shares: chunk boundaries, offsets, over-long lines.

Scanners never see a partial line: :class:`ChunkExtractor` keeps an unterminated tail
until its newline arrives, drops (and counts) a line longer than ``max_line_bytes``
without ever holding more than that much of it, and hands each scanner the buffered
bytes of complete lines. The scanners look only at the few places where a trigger
string occurs (``bytes.find`` over the whole chunk), so gigabytes of noise cost
little more than reading them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

from iotwx_watch.events import BlockedIP, Event, UnrecognizedRecord, event_type

_SPLIT_MIN = 64 * 1024  # chunks bigger than this are not copied to join a split line
# The kept bytes are joined with this many lines of the next read (at most _HEAD_BYTES):
# more than any scanner looks back from a hit (the callback scanner: 32 lines of record
# and 4 of context), so what the scanners keep afterwards lies in the new read.
_HEAD_LINES = 48
_HEAD_BYTES = 32 * 1024


class Scanner(Protocol):
    """Finds one family of records in complete lines; keeps its own position."""

    kind: str  # the log kind it reads: "callback" or "policy_engine"

    def scan(
        self, buf: bytes, base: int, end: int, *, final: bool, stats: Counter[str],
        need_below: int | None = None,
    ) -> tuple[list[Event], int]:
        """Scan what is new in ``buf[:end]`` (complete lines; ``buf[0]`` is at file offset
        ``base``).

        Returns the events found, in log order, and the lowest file offset this
        scanner may still need to look at (the start of an unfinished record, or
        look-back context for records still to come). With ``need_below``, the caller
        hands on every byte from that offset again and uses the need only if it is
        below: a need at or above it may be reported as ``base + end`` unworked.
        """
        ...

    def resume(self, end_offset: int) -> int:
        """The file offset a fresh scanner must start at so nothing unfinished is lost."""
        ...

    def reset(self) -> None:
        """Forget every position: the bytes start over somewhere else."""
        ...

    def retire(self) -> None:
        """It will not be asked again (the file is of the other kind): let its trigger
        words leave the search it shares with the other scanners."""
        ...


class LineScanner(ABC):
    """A :class:`Scanner` whose records each lie within the complete lines it is handed,
    so nothing is ever pending: it only remembers how far it scanned, so that bytes
    handed over again (kept for another scanner) are not scanned twice."""

    def __init__(self) -> None:
        self._scanned = -1  # file offset up to which lines were scanned (-1: none yet)

    def reset(self) -> None:
        """Forget the position (the bytes restart elsewhere)."""
        self._scanned = -1

    def resume(self, end_offset: int) -> int:
        """See :class:`Scanner`: nothing is ever pending."""
        return end_offset

    def scan(
        self, buf: bytes, base: int, end: int, *, final: bool, stats: Counter[str],
        need_below: int | None = None,
    ) -> tuple[list[Event], int]:
        """See :class:`Scanner`."""
        events = self._scan_lines(buf, base, max(self._scanned - base, 0), end, stats)
        self._scanned = base + end
        return events, base + end

    @abstractmethod
    def _scan_lines(
        self, buf: bytes, base: int, lo: int, end: int, stats: Counter[str]
    ) -> list[Event]:
        """The events in the lines of ``buf[lo:end]`` (not scanned before), in log order."""


class ChunkExtractor:
    """An :class:`~iotwx_watch.extract.Extractor` over one or more scanners.

    Several scanners (callback and policy_engine for ``auto``, operator patterns)
    read the same buffer in one pass; their events are merged in offset order. With
    ``guess``, the first read that yields events decides the log's kind: from then on
    only the scanners of the kind(s) that found something run (each trigger search
    is a pass over the data, so a guessed kind is faster).
    """

    def __init__(
        self, scanners: Sequence[Scanner], *, max_line_bytes: int, guess: bool = False
    ) -> None:
        self.stats: Counter[str] = Counter()
        self._scanners = list(scanners)
        self._guess = guess
        self._max = max_line_bytes
        self._buf = b""
        self._base = 0  # file offset of self._buf[0]
        self._end = 0  # offset just past the last byte fed
        self._complete = 0  # offset just past the last complete line
        self._started = False
        self._discarding = False  # inside an over-long line, until its newline
        self._long_checked = 0  # offset up to which over-long complete lines were counted

    @property
    def resume_offset(self) -> int:
        """See :class:`~iotwx_watch.extract.Extractor`."""
        return min([self._complete, *(s.resume(self._complete) for s in self._scanners)])

    def feed(self, data: bytes, offset: int) -> list[Event]:
        """See :class:`~iotwx_watch.extract.Extractor`."""
        if not self._started or offset != self._end:
            self._restart(offset)
        if not data:
            return []
        self.stats["bytes"] += len(data)
        self._end = offset + len(data)
        if self._discarding:
            newline = data.find(b"\n")
            if newline < 0:
                return []
            self._discarding = False
            data = data[newline + 1 :]
            offset += newline + 1
            self._complete = offset
            self._buf, self._base = b"", offset
        events: list[Event] = []
        if not self._buf:
            buf = data
        else:
            cut = _head_end(data)
            if 0 < cut < len(data) - _SPLIT_MIN:
                # Finish the bytes kept from the last read together with the first lines
                # of this one on their own, so the rest of this chunk need not be copied
                # behind them: once those lines are read, what the scanners keep lies in
                # this chunk (unless a record is still open), and they resume past it.
                head = self._buf + data[:cut]
                events = self._run(head, len(head), final=False, need_below=offset)
                self._complete = offset + cut
                if self._base < offset:
                    buf = self._buf + data[cut:]
                else:
                    buf, self._base = data, offset
            else:
                buf = self._buf + data
        last = buf.rfind(b"\n")
        if last < 0:
            self._buf = buf
            return events + self._trim_tail()
        end = last + 1
        complete = self._base + end
        events += self._run(buf, end, final=False)
        self._complete = complete
        return events

    def finish(self) -> list[Event]:
        """See :class:`~iotwx_watch.extract.Extractor`."""
        if self._discarding:
            self._discarding = False
            self._buf, self._base = b"", self._end
        buf = self._buf
        if buf and not buf.endswith(b"\n"):
            buf += b"\n"  # the unterminated last line counts as a line at end of file
        events = self._run(buf, len(buf), final=True)
        self._buf, self._base = b"", self._end
        self._complete = self._end
        return events

    def _restart(self, offset: int) -> None:
        """A new file, or a jump (the follower restarted elsewhere): forget the old bytes."""
        self._started = True
        self._buf, self._base = b"", offset
        self._end = self._complete = self._long_checked = offset
        self._discarding = False
        for scanner in self._scanners:
            scanner.reset()

    def _trim_tail(self) -> list[Event]:
        """An unterminated line beyond the limit is dropped now and counted, not buffered.

        Nothing is read across such a line, so the scanners first finish what they hold
        open in the lines before it, as at the end of a file (read whole, the same line
        ends those records the same way).
        """
        tail_start = self._buf.rfind(b"\n") + 1
        if len(self._buf) - tail_start <= self._max:
            return []
        self.stats["skipped.long_line"] += 1
        head, head_end = self._buf[:tail_start], self._base + tail_start
        self._buf = head
        events = self._run(head, len(head), final=True) if head else []
        self._discarding = True
        self._buf, self._base = b"", head_end
        self._complete = max(self._complete, head_end)
        return events

    def _run(
        self, buf: bytes, end: int, *, final: bool, need_below: int | None = None
    ) -> list[Event]:
        self._count_long_lines(buf, end)
        events: list[Event] = []
        keep = self._base + end
        for scanner in self._scanners:
            found, need = scanner.scan(buf, self._base, end, final=final, stats=self.stats,
                                       need_below=need_below)
            events.extend(found)
            keep = min(keep, need)
        if len(self._scanners) > 1:
            events = _dedupe(sorted(events, key=_offset))
        if self._guess and events:
            self._narrow(events)
        for event in events:
            if isinstance(event, UnrecognizedRecord):
                self.stats[f"unrecognized.{event.reason}"] += 1
            else:
                self.stats[f"events.{event_type(event)}"] += 1
        keep = max(keep, self._base)
        self._buf = buf[keep - self._base :]
        self._base = keep
        return events + self._trim_tail()

    def _narrow(self, events: list[Event]) -> None:
        """Keep only the scanners of the kind(s) the first events belong to (records
        that gave no event say nothing about which log this is)."""
        kinds = {
            "policy_engine" if isinstance(e, BlockedIP) else "callback"
            for e in events
            if not isinstance(e, UnrecognizedRecord)
        }
        if not kinds:
            return
        for scanner in self._scanners:
            if scanner.kind not in kinds:
                scanner.retire()
        self._scanners = [s for s in self._scanners if s.kind in kinds]
        self._guess = False
        for kind in sorted(kinds):
            self.stats[f"guessed.{kind}"] = 1

    def _count_long_lines(self, buf: bytes, end: int) -> None:
        """Count complete lines longer than the limit, probing every half-limit bytes.

        A line that long must contain a newline-free stretch of half the limit that
        starts at one of the probes, so a few ``find`` calls per chunk find them all.
        """
        step = max(1, self._max // 2)
        pos = max(0, self._long_checked - self._base)
        while pos < end:
            stop = min(pos + step, end)
            if buf.find(b"\n", pos, stop) >= 0 or stop - pos < step:
                pos = stop
                continue
            line_start = buf.rfind(b"\n", 0, pos) + 1
            line_end = buf.find(b"\n", pos, end)
            line_end = end if line_end < 0 else line_end
            if line_end - line_start > self._max:
                self.stats["skipped.long_line"] += 1
            pos = line_end + 1
        self._long_checked = self._base + end


def _head_end(data: bytes) -> int:
    """The end of the first ``_HEAD_LINES`` lines of ``data`` (of the line holding byte
    ``_HEAD_BYTES``, if that comes first); 0 when ``data`` holds no newline."""
    end = 0
    for _ in range(_HEAD_LINES):
        newline = data.find(b"\n", end)
        if newline < 0:
            break
        end = newline + 1
        if end > _HEAD_BYTES:
            break
    return end


def _dedupe(events: list[Event]) -> list[Event]:
    """Drop an event equal to one already found at the same offset (a built-in and an
    operator pattern matching the same line), and a record reported unrecognized where
    another scanner read an event of the same kind on the same line."""
    seen: set[Event] = set()
    read = {(_offset(e), _kind(e)) for e in events if not isinstance(e, UnrecognizedRecord)}
    unique: list[Event] = []
    for event in events:
        if event in seen:
            continue
        if isinstance(event, UnrecognizedRecord) and (_offset(event), event.kind) in read:
            continue
        seen.add(event)
        unique.append(event)
    return unique


def _kind(event: Event) -> str:
    return "policy_engine" if isinstance(event, BlockedIP) else "callback"


def _offset(event: Event) -> int:
    return event.source.offset if event.source is not None else -1
