"""receive.log: WeCom command callbacks (suite_ticket, create_auth, …) wherever they are.

One search per chunk (:mod:`.search`) finds the trigger words every form of a callback
carries (``InfoType`` / ``infoType`` / ``info_type``, ``AuthCode``, and ``Encrypt`` for
an envelope). At a hit the scanner reads the *region* of lines around it: back to
the head of a multi-line dump that is still open at the hit's line (at most
LOOKBACK_LINES, never before the last region), forward until no dump is open any
more (at most LOOKAHEAD_LINES), and on through the next lines that hold hits of
their own. Every record in the region is read at once (fields by :mod:`.fields`,
grouped by :mod:`.structure`, judged by :mod:`.callback_events`) and the search
resumes after the region, so a line full of trigger words is read once, and a chunk
costs one pass plus the regions. A region whose dump has not been closed yet is kept,
and reported as the resume point. Nothing is read across a line longer than
``max_line_bytes``: the chunk layer never holds one.

A record that looks like a callback but gives no event becomes an
:class:`~iotwx_watch.events.UnrecognizedRecord`, as does an InfoType we handle printed
in a form no field regex reads (``unknown_form``).
"""

from __future__ import annotations

import re
from collections import Counter

from iotwx_watch.config import Config
from iotwx_watch.events import Event, SourcePosition, UnrecognizedRecord
from iotwx_watch.extract.callback_events import EnvelopeOpener, outcome_events, record_event
from iotwx_watch.extract.fields import find_pairs, own_output
from iotwx_watch.extract.mask import excerpt
from iotwx_watch.extract.records import (
    head_line,
    line_at_or_after,
    line_end,
    line_start,
    lines_back,
    marker_line,
)
from iotwx_watch.extract.search import Finder, KeyContext, TriggerPool, Triggers
from iotwx_watch.extract.structure import Sweep, group
from iotwx_watch.extract.text import LineText, decode_lines, line_text
from iotwx_watch.extract.validate import INFO_TYPES

TRIGGERS = (b"InfoType", b"infoType", b"info_type", b"AuthCode", b"Encrypt")
LOOKBACK_LINES = 32  # how far before a hit its record may start
LOOKAHEAD_LINES = 32  # how far after a hit its record may end
CONTEXT_LINES = 4  # lines before a record searched for "收到的id:" and the callback URL
RECORD_MAX_BYTES = 64 * 1024  # a multi-line record larger than this is cut here
CONTEXT_BYTES = 8 * 1024  # at most this much context before a record
RECORD_REACH = 2048  # of a record's lines, at most this much text around it is looked at
EXCERPT_LEAD = 120  # an excerpt starts at most this far before its record

# An InfoType we handle right after its name, in a form no field regex knows.
_LOOSE = re.compile(
    r"(?<![A-Za-z0-9_])[Ii]nfo_?[Tt]ype\W{1,12}(" + "|".join(sorted(INFO_TYPES)) + r")\b"
)


# A trigger word that is a field's name only as a key: AuthCode and Encrypt (an InfoType
# may also be read loosely, see _LOOSE, so every InfoType hit is read). As a key it has,
# in every form the field regexes read (also JSON-, HTML- or \u-escaped), one of these
# bytes just before it or, after at most four blanks, just after it. So prose that names
# it (PHP's "Undefined index: AuthCode in …") is no hit and costs no region read.
KEYS = KeyContext(
    words=frozenset((b"AuthCode", b"Encrypt")),
    before=b"<[\"'\\/;(&:cCbB0123456789",
    after=b">]\"'=:&\\;\r\n",
)


class CallbackScanner:
    """Finds callback payloads in receive.log bytes; see the module docstring."""

    kind = "callback"

    def __init__(
        self, path: str, config: Config | None, *, max_line_bytes: int,
        pool: TriggerPool | None = None,
    ) -> None:
        self._path = path
        self._max_line = max_line_bytes
        self._envelopes = EnvelopeOpener(config)
        self._triggers = Triggers(TRIGGERS, KEYS, pool=pool)
        self._scanned = -1  # file offset up to which hits were handled (-1: not started)
        self._floor = 0  # end of the last record read: a record's context stops there
        self._clean = 0  # end of the last region read: a lookback stops there
        self._resume: int | None = None

    def reset(self) -> None:
        """Forget every position (the bytes restart elsewhere)."""
        self._scanned, self._floor, self._clean, self._resume = -1, 0, 0, None

    def retire(self) -> None:
        """See :class:`~iotwx_watch.extract.chunks.Scanner`."""
        self._triggers.leave_pool()

    def resume(self, end_offset: int) -> int:
        """See :class:`~iotwx_watch.extract.chunks.Scanner`."""
        return end_offset if self._resume is None else min(self._resume, end_offset)

    def scan(
        self, buf: bytes, base: int, end: int, *, final: bool, stats: Counter[str],
        need_below: int | None = None,
    ) -> tuple[list[Event], int]:
        """See :class:`~iotwx_watch.extract.chunks.Scanner`."""
        self._scanned = max(self._scanned, base)
        self._floor = max(self._floor, base)  # offsets before base are gone
        self._clean = max(self._clean, base)
        events: list[Event] = []
        pending_at: int | None = None
        pos = self._scanned - base
        finder = self._triggers.finder(buf, pos, end)
        while (hit := finder.next(pos)) >= 0:
            outcome = self._region(buf, base, hit, end, finder, final=final, stats=stats)
            if isinstance(outcome, int):  # unfinished: wait for more lines
                pending_at = outcome
                self._scanned = base + hit
                break
            found, pos = outcome
            events.extend(found)
        else:
            self._scanned = base + end
        return events, self._keep(buf, base, end, pending_at, need_below)

    def _region(
        self,
        buf: bytes,
        base: int,
        hit: int,
        end: int,
        finder: Finder,
        *,
        final: bool,
        stats: Counter[str],
    ) -> tuple[list[Event], int] | int:
        """Events of the region around ``hit`` and where it ends; or, when a dump in it
        is still open at the end of the data, the file offset to resume at.

        The region goes on through the following lines that hold hits of their own (at
        most RECORD_MAX_BYTES), so a run of trigger lines is read in one go.
        """
        clean = self._clean - base
        ls = line_start(buf, hit, clean)
        if line_end(buf, hit, end) - ls > self._max_line:
            return [], line_end(buf, hit, end)  # counted as a long line by the chunk layer
        lookback = max(
            lines_back(buf, ls, LOOKBACK_LINES, clean, self._max_line), ls - RECORD_MAX_BYTES
        )
        sweep = Sweep()
        pos = line_at_or_after(buf, lookback, clean)
        head = head_line(buf, pos, ls)  # lines before the first that may open a dump
        pos = ls if head < 0 else head  # cannot hold the head of the hit's record
        while pos < ls:
            stop = line_end(buf, pos, ls)
            sweep.add(pos, line_text(buf[pos:stop]))
            pos = stop
        opened = sweep.stack.strong()
        first = sweep.line_at(opened[0].start) if opened else len(sweep.lines)
        start = sweep.lines[first][0] if opened else ls
        limit = start + RECORD_MAX_BYTES
        ahead = -1  # lines read since the last line with a hit
        complete: int | None = None  # the last line end with no dump left open
        while pos < end:
            stop = line_end(buf, pos, end)
            if ahead >= 0 and sweep.stack.strong():
                if ahead >= LOOKAHEAD_LINES or stop > limit:
                    break  # a dump this long is cut here
            elif ahead >= 0:  # everything read so far is closed: the region may end here
                complete = pos
                if stop > limit or not ls <= finder.next(pos) < stop:
                    break
                ahead = -1  # the next line has a hit of its own: read it too
            if stop - pos > self._max_line:
                break
            sweep.add(pos, line_text(buf[pos:stop]))
            pos, ahead = stop, ahead + 1
        else:
            if sweep.stack.strong() and not final:
                if complete is None:  # the hit's own dump may close in lines to come
                    context = lines_back(
                        buf, start, CONTEXT_LINES, self._floor - base, self._max_line
                    )
                    marker = marker_line(buf, context, start)
                    return base + (start if marker < 0 else marker)
                pos = complete  # read up to the dump still open; it is the next region
        lines = [(base + offset, text) for offset, text in sweep.lines[first:] if offset < pos]
        events = self._read(LineText(lines, base + pos), buf, base, stats)
        self._clean = base + pos
        return events, pos

    def _read(self, region: LineText, buf: bytes, base: int, stats: Counter[str]) -> list[Event]:
        """The events of every record in the region, and an UnrecognizedRecord for each
        record that looked like a callback but gave none."""
        text = region.text
        events: list[Event] = []
        previous_end = self._floor
        read_lines: set[int] = set()  # lines holding (part of) a callback or an envelope
        for record in group(text, find_pairs(text), region.line_index):
            fields = record.fields
            if "info_type" in fields or "encrypt" in fields:
                first, last = region.line_index(record.start), region.line_index(record.end - 1)
                read_lines.update(range(first, last + 1))
            offset = region.raw_line(record.start)
            context_start = max(
                previous_end,
                base + lines_back(buf, offset - base, CONTEXT_LINES, 0, self._max_line),
                offset - CONTEXT_BYTES,
            )
            lines = region.lines_text(record.start, record.end, RECORD_REACH)
            if own_output(lines):
                continue
            source = SourcePosition(self._path, offset)
            outcome = record_event(
                fields,
                context=decode_lines(buf[context_start - base : offset - base]),
                text=lines,
                source=source,
                envelopes=self._envelopes,
            )
            if outcome is None:
                continue
            shown = region.lines_text(record.start, record.end, EXCERPT_LEAD)
            for event in outcome_events(
                outcome, fields=fields, text=shown, source=source, stats=stats
            ):
                if event not in events:  # WxJava prints a record twice (allFieldsMap)
                    events.append(event)
            previous_end = region.raw_line_end(record.end - 1)
        self._floor = max(self._floor, previous_end)
        events.extend(self._unknown_form(region, read_lines, stats))
        events.sort(key=lambda event: event.source.offset if event.source else -1)
        return events

    def _unknown_form(
        self, region: LineText, read_lines: set[int], stats: Counter[str]
    ) -> list[Event]:
        """An InfoType we handle, printed in a form none of the field regexes reads, on a
        line where no callback was read (one report per line)."""
        text = region.text
        if "_" not in text:  # every InfoType we handle has one: one memchr instead of five
            return []
        found: list[Event] = []
        for match in _LOOSE.finditer(text):
            line = region.line_index(match.start())
            if line in read_lines:
                continue
            read_lines.add(line)
            if own_output(region.lines_text(match.start(), match.end(), RECORD_REACH)):
                continue
            stats["records"] += 1
            stats["skipped.unknown_form"] += 1
            shown = region.lines_text(match.start(), match.end(), EXCERPT_LEAD)
            source = SourcePosition(self._path, region.raw_line(match.start()))
            found.append(
                UnrecognizedRecord(
                    "callback", "unknown_form", excerpt(shown), info_type=match.group(1),
                    source=source,
                )
            )
        return found

    def _keep(
        self, buf: bytes, base: int, end: int, pending_at: int | None, need_below: int | None
    ) -> int:
        """Bytes to keep: an unfinished region, or the tail lines from the first line a
        record to come may need (a context line or a dump head); else nothing. Where the
        tail lies at or after ``need_below``, which line that is does not matter (the
        bytes come again): the look for it, the dearest part of a read's work on noise,
        is skipped."""
        if pending_at is not None:
            self._resume = pending_at
            return pending_at
        floor = self._floor - base
        tail = max(
            lines_back(buf, end, LOOKBACK_LINES + CONTEXT_LINES, floor, self._max_line),
            line_at_or_after(buf, end - RECORD_MAX_BYTES, floor),
        )
        if need_below is not None and base + tail >= need_below:
            self._resume = None
            return base + end
        marker = marker_line(buf, tail, end)
        if marker < 0:  # no record can have begun in the tail: keep nothing
            self._resume = None
            return base + end
        self._resume = base + marker
        return base + marker
