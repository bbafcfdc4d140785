"""policy_engine.log: WeCom's 60020 refusals, in whatever form the platform logged them.

WeCom's message is ``not allow to access from your ip, hint: [<hint>], from ip: <addr>,
more info at …?e=60020``; the platform logs it as plain text, JSON, JSON escaped in
JSON, a Python dict repr, or exception text (``Error code: 60020, message: …``). The
record is one line, found by one search per chunk for ``from ip``, ``60020`` and the
message (:mod:`.search`). The address is reported only when the error is 60020
(another errcode with a ``from ip`` is not a block), and only when it is a real
IPv4/IPv6 address (not ``x.x.x.x`` or ``1.2.*.*``). A 60020 line that gives no
address is reported as an :class:`~iotwx_watch.events.UnrecognizedRecord`.

Each line is read once, and each ``from ip`` on it finds its errcode by bisection in
the errcodes found once per line, so no line costs more than linear time.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Iterator

from iotwx_watch.events import BlockedIP, Event, SourcePosition, UnrecognizedRecord
from iotwx_watch.extract.chunks import LineScanner
from iotwx_watch.extract.fields import own_output
from iotwx_watch.extract.mask import excerpt
from iotwx_watch.extract.records import line_end, line_start
from iotwx_watch.extract.search import TriggerPool, Triggers
from iotwx_watch.extract.text import decode, unescape
from iotwx_watch.extract.validate import check_ip, clean_hint, valid_id

TRIGGERS = (b"from ip", b"60020", b"not allow to access")
BLOCKED_ERRCODE = 60020

_FROM_IP = re.compile(r"from ip\s*[:：=]\s*([0-9A-Za-z:.*%]+)", re.IGNORECASE)
_MESSAGE = "not allow to access from your ip"
_ERRCODE = re.compile(
    r"(?:err_?code|error[ _]?code)[\"']?\s*[:=]\s*[\"']?(-?\d{1,7})\b", re.IGNORECASE
)
_QUERY_ERRCODE = re.compile(r"[?&]e=(\d{1,7})\b")
_HINT = re.compile(r"hint\s*:\s*\[([^\]]*)\]")
_CORPID = re.compile(
    r"(?<![A-Za-z])(?:auth_)?corp_?id[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9_\-]{2,128})", re.IGNORECASE
)


class _Line:
    """One line's errcodes, found once, for the ``from ip`` matches to look up."""

    def __init__(self, line: str, lower: str) -> None:
        self.line = line
        found = [(m.start(), int(m.group(1))) for m in _errcodes(line, lower)]
        self.positions = [position for position, _ in found]
        self.codes = [code for _, code in found]
        self.queries = [(m.start(), int(m.group(1))) for m in _queries(line)]
        self.query_positions = [position for position, _ in self.queries]

    def errcode_for(self, segment_start: int, match: re.Match[str], next_from: int) -> int | None:
        """The errcode that goes with this ``from ip``: the ``?e=`` right after it (before
        the next ``from ip``), else the nearest errcode before it in its segment, else the
        nearest one anywhere on the line."""
        after = bisect.bisect_left(self.query_positions, match.end())
        if after < len(self.queries):
            position, code = self.queries[after]
            if position < min(match.end() + 200, next_from):
                return code
        before = bisect.bisect_left(self.positions, match.start())
        if before > 0 and self.positions[before - 1] >= segment_start:
            return self.codes[before - 1]
        nearest = [
            (abs(self.positions[i] - match.start()), self.codes[i])
            for i in (before - 1, before)
            if 0 <= i < len(self.positions)
        ]
        return min(nearest)[1] if nearest else None


def blocked_ips(line: str, source: SourcePosition, stats: Counter[str]) -> list[Event]:
    """The 60020 addresses in one line of text (already decoded), as events; a 60020
    line that gives none yields an UnrecognizedRecord saying why."""
    if "\\" in line:
        line = unescape(line)
    if own_output(line):
        return []
    lower = line.lower()
    blocked = _MESSAGE in lower or _is_60020(line, lower)
    matches = list(_FROM_IP.finditer(line)) if blocked else []
    if not matches:
        if blocked:
            stats["records"] += 1
            stats["skipped.no_ip"] += 1
            return [_unrecognized("no_ip", line, source)]
        if _FROM_IP.search(line):  # a "from ip" of another error: counted, never read
            stats["records"] += 1
            other = next(_errcodes(line, lower), None) or next(_queries(line), None)
            stats["skipped.other_errcode" if other else "skipped.no_errcode"] += 1
        return []
    stats["records"] += 1
    info = _Line(line, lower)
    corpid_match = _CORPID.search(line)
    corpid = corpid_match.group(1) if corpid_match and valid_id(corpid_match.group(1)) else None
    events: list[Event] = []
    seen: set[str] = set()
    reasons: list[str] = []
    for index, match in enumerate(matches):
        segment_start = matches[index - 1].end() if index else 0
        next_from = matches[index + 1].start() if index + 1 < len(matches) else len(line)
        errcode = info.errcode_for(segment_start, match, next_from)
        if errcode is None and _MESSAGE not in lower[segment_start : match.start()]:
            stats["skipped.no_errcode"] += 1
            continue
        if errcode is not None and errcode != BLOCKED_ERRCODE:
            stats["skipped.other_errcode"] += 1
            continue
        ip, reason = check_ip(match.group(1))
        if ip is None:
            stats[f"skipped.{reason}"] += 1
            reasons.append("bad_ip" if reason == "invalid_ip" else str(reason))
            continue
        if ip in seen:
            continue
        seen.add(ip)
        hint_match = _last(_HINT, line, segment_start, match.start())
        hint = clean_hint(hint_match.strip()) if hint_match is not None else None
        events.append(BlockedIP(ip, BLOCKED_ERRCODE, hint=hint, corpid=corpid, source=source))
    if not events and reasons:
        return [_unrecognized(reasons[-1], line, source)]
    return events


def _errcodes(line: str, lower: str) -> Iterator[re.Match[str]]:
    """The errcodes of a line (the regex only runs when "code" is there at all)."""
    return _ERRCODE.finditer(line) if "code" in lower else iter(())


def _queries(line: str) -> Iterator[re.Match[str]]:
    """The ``?e=<errcode>`` of WeCom's "more info" links on a line (only when "e=" is)."""
    return _QUERY_ERRCODE.finditer(line) if "e=" in line else iter(())


def _is_60020(line: str, lower: str) -> bool:
    """Whether the line carries errcode 60020 as an errcode (not just the digits)."""
    if str(BLOCKED_ERRCODE) not in line:
        return False
    codes = [int(m.group(1)) for m in _errcodes(line, lower)]
    codes += [int(m.group(1)) for m in _queries(line)]
    return BLOCKED_ERRCODE in codes


def _last(regex: re.Pattern[str], text: str, lo: int, hi: int) -> str | None:
    found = regex.findall(text, lo, hi)
    return found[-1] if found else None


def _unrecognized(reason: str, line: str, source: SourcePosition) -> UnrecognizedRecord:
    return UnrecognizedRecord("policy_engine", reason, excerpt(line), source=source)


class PolicyScanner(LineScanner):
    """Finds 60020 refusals in policy_engine.log bytes; one line is one record."""

    kind = "policy_engine"

    def __init__(
        self, path: str, *, max_line_bytes: int, pool: TriggerPool | None = None
    ) -> None:
        super().__init__()
        self._path = path
        self._max_line = max_line_bytes
        self._triggers = Triggers(TRIGGERS, pool=pool)

    def retire(self) -> None:
        """See :class:`~iotwx_watch.extract.chunks.Scanner`."""
        self._triggers.leave_pool()

    def _scan_lines(
        self, buf: bytes, base: int, lo: int, end: int, stats: Counter[str]
    ) -> list[Event]:
        events: list[Event] = []
        finder = self._triggers.finder(buf, lo, end)
        pos = lo
        while (hit := finder.next(pos)) >= 0:
            ls = line_start(buf, hit, lo)
            pos = line_end(buf, hit, end)
            if pos - ls <= self._max_line:
                source = SourcePosition(self._path, base + ls)
                events.extend(blocked_ips(decode(buf[ls:pos]), source, stats))
        return events
