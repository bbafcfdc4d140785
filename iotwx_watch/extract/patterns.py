"""Operator patterns: ``[[pattern]]`` regexes with named groups, like fail2ban's failregex.

A pattern is matched against the raw bytes of complete lines (its text is encoded as
UTF-8, so literal Chinese text works; ``\\w`` and ``.`` see bytes). Named groups give
the fields: for ``callback`` patterns ``suite_id``, ``info_type`` (or the pattern's
``info_type`` setting), ``timestamp``, ``suite_ticket``, ``auth_code``, ``corpid``
(or ``auth_corpid``), ``state``; for ``policy_engine`` patterns ``ip``, ``hint``,
``corpid``, ``errcode``. The values are validated exactly like the built-ins'. A
pattern sees the lines of one read at a time, so a pattern spanning several lines
can miss a record split between two reads. A pattern holding a literal of three bytes
or more is run only on the lines holding it (or, if it can match a newline, only on
reads holding it); one without runs over every read (:mod:`.prefilter`). Events that a
built-in already reported for the same line are not reported twice. A match whose values
cannot become an event is reported as an :class:`~iotwx_watch.events.UnrecognizedRecord`
(the operator said it is a record), except for an InfoType we do not handle, a masked
value or another errcode.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence

from iotwx_watch.config import PatternConfig, SourceKind
from iotwx_watch.events import BlockedIP, Event, SourcePosition, UnrecognizedRecord
from iotwx_watch.extract.callback_events import callback_event, outcome_events
from iotwx_watch.extract.chunks import LineScanner
from iotwx_watch.extract.mask import excerpt
from iotwx_watch.extract.policy import BLOCKED_ERRCODE
from iotwx_watch.extract.prefilter import prefilter
from iotwx_watch.extract.records import line_end, line_start
from iotwx_watch.extract.search import TriggerPool, Triggers
from iotwx_watch.extract.text import decode
from iotwx_watch.extract.validate import check_ip, clean_hint, valid_id


class _Compiled:
    def __init__(self, pattern: PatternConfig, pool: TriggerPool | None = None) -> None:
        self.regex = re.compile(pattern.regex.encode("utf-8"), re.MULTILINE)
        self.info_type = pattern.info_type
        self.prefilter = prefilter(self.regex)
        literal = self.prefilter.literal
        self.triggers = Triggers((literal,), pool=pool) if literal is not None else None

    def matches(self, buf: bytes, lo: int, end: int) -> Iterator[re.Match[bytes]]:
        """The regex's matches in ``buf[lo:end]``, as one pass over it would give them,
        run only where the literal is (:mod:`.prefilter`)."""
        if self.triggers is None:
            yield from self.regex.finditer(buf, lo, end)
            return
        finder = self.triggers.finder(buf, lo, end)
        hit = finder.next(lo)
        if hit < 0:
            return
        if not self.prefilter.one_line:
            yield from self.regex.finditer(buf, lo, end)
            return
        while hit >= 0:  # a match holds the literal and no newline: it is on the hit's line
            start = line_start(buf, hit, lo)
            stop = line_end(buf, hit, end)
            yield from self.regex.finditer(buf, start, stop - 1 if buf[stop - 1] == 10 else stop)
            hit = finder.next(stop)


class PatternScanner(LineScanner):
    """Applies the operator patterns of one kind to each new block of complete lines."""

    def __init__(
        self,
        path: str,
        kind: SourceKind,
        patterns: Sequence[PatternConfig],
        *,
        max_line_bytes: int,
        pool: TriggerPool | None = None,
    ) -> None:
        super().__init__()
        self._path = path
        self.kind: str = kind
        self._max_line = max_line_bytes
        self._patterns = [_Compiled(p, pool) for p in patterns if p.kind == kind]

    def retire(self) -> None:
        """See :class:`~iotwx_watch.extract.chunks.Scanner`."""
        for pattern in self._patterns:
            if pattern.triggers is not None:
                pattern.triggers.leave_pool()

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def _scan_lines(
        self, buf: bytes, base: int, lo: int, end: int, stats: Counter[str]
    ) -> list[Event]:
        events: list[Event] = []
        for pattern in self._patterns:
            for match in pattern.matches(buf, lo, end):
                start = line_start(buf, match.start())
                if line_end(buf, match.start(), end) - start > self._max_line:
                    continue  # an over-long line is read by no scanner, however it arrives
                source = SourcePosition(self._path, base + start)
                groups = {k: decode(v) for k, v in match.groupdict().items() if v is not None}
                line = decode(buf[start : line_end(buf, max(start, match.end() - 1), end)])
                events.extend(self._events(groups, pattern, line, source, stats))
        events.sort(key=lambda e: e.source.offset if e.source else -1)
        return events

    def _events(
        self,
        groups: dict[str, str],
        pattern: _Compiled,
        line: str,
        source: SourcePosition,
        stats: Counter[str],
    ) -> list[Event]:
        groups = {k: v.strip() for k, v in groups.items()}
        if self.kind == "callback":
            if "info_type" not in groups and pattern.info_type:
                groups["info_type"] = pattern.info_type
            if "corpid" not in groups and "auth_corpid" in groups:
                groups["corpid"] = groups["auth_corpid"]
            outcome = callback_event(groups, context_id=None, source=source)
            return outcome_events(outcome, fields=groups, text=line, source=source, stats=stats)
        stats["records"] += 1
        if "errcode" in groups and groups["errcode"] != str(BLOCKED_ERRCODE):
            stats["skipped.other_errcode"] += 1
            return []
        ip, reason = check_ip(groups.get("ip", ""))
        if ip is None:
            stats[f"skipped.{reason}"] += 1
            why = "bad_ip" if reason == "invalid_ip" else str(reason)
            return [UnrecognizedRecord("policy_engine", why, excerpt(line), source=source)]
        corpid = groups.get("corpid")
        return [
            BlockedIP(
                ip,
                BLOCKED_ERRCODE,
                hint=clean_hint(groups.get("hint")),
                corpid=corpid if corpid and valid_id(corpid) else None,
                source=source,
            )
        ]
