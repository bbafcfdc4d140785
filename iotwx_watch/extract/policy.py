"""policy_engine.log: WeCom's 60020 refusals, in whatever form the platform logged them.

WeCom's message is ``not allow to access from your ip, hint: [<hint>], from ip: <addr>,
more info at …?e=60020``; the platform logs it as plain text, JSON, JSON escaped in
JSON, a Python dict repr, or exception text (``Error code: 60020, message: …``). The
record is one line, found by ``from ip`` with ``bytes.find``. The address is reported
only when the error is 60020 (another errcode with a ``from ip`` is not a block), and
only when it is a real IPv4/IPv6 address (not ``x.x.x.x`` or ``1.2.*.*``).
"""

from __future__ import annotations

import re
from collections import Counter

from iotwx_watch.events import BlockedIP, Event, SourcePosition
from iotwx_watch.extract.chunks import LineScanner
from iotwx_watch.extract.fields import decode, unescape
from iotwx_watch.extract.records import line_end, line_start
from iotwx_watch.extract.search import Needle
from iotwx_watch.extract.validate import check_ip, clean_hint, valid_id

TRIGGER = b"from ip"
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


def blocked_ips(line: str, source: SourcePosition, stats: Counter[str]) -> list[Event]:
    """The 60020 addresses in one line of text (already decoded), as events."""
    if "\\" in line:
        line = unescape(line)
    events: list[Event] = []
    matches = list(_FROM_IP.finditer(line))
    if not matches:
        return events
    stats["records"] += 1
    corpid_match = _CORPID.search(line)
    corpid = corpid_match.group(1) if corpid_match and valid_id(corpid_match.group(1)) else None
    seen: set[str] = set()
    previous_end = 0
    for match in matches:
        segment_start = previous_end
        previous_end = match.end()
        errcode = _errcode_for(line, segment_start, match)
        if errcode is None and _MESSAGE not in line[segment_start : match.start()].lower():
            stats["skipped.no_errcode"] += 1
            continue
        if errcode is not None and errcode != BLOCKED_ERRCODE:
            stats["skipped.other_errcode"] += 1
            continue
        ip, reason = check_ip(match.group(1))
        if ip is None:
            stats[f"skipped.{reason}"] += 1
            continue
        if ip in seen:
            continue
        seen.add(ip)
        hints = _HINT.findall(line, segment_start, match.start())
        hint = clean_hint(hints[-1].strip()) if hints else None
        events.append(BlockedIP(ip, BLOCKED_ERRCODE, hint=hint, corpid=corpid, source=source))
    return events


def _errcode_for(line: str, segment_start: int, match: re.Match[str]) -> int | None:
    """The errcode that goes with this ``from ip``: the ``?e=`` right after it, else the
    nearest errcode before it in its segment, else the nearest one anywhere on the line."""
    after = _QUERY_ERRCODE.search(line, match.end(), match.end() + 200)
    if after is not None and not _FROM_IP.search(line, match.end(), after.start()):
        return int(after.group(1))
    before = list(_ERRCODE.finditer(line, segment_start, match.start()))
    if before:
        return int(before[-1].group(1))
    anywhere = [
        (abs(m.start() - match.start()), int(m.group(1))) for m in _ERRCODE.finditer(line)
    ]
    if anywhere:
        return min(anywhere)[1]
    return None


class PolicyScanner(LineScanner):
    """Finds 60020 refusals in policy_engine.log bytes; one line is one record."""

    kind = "policy_engine"

    def __init__(self, path: str, *, max_line_bytes: int) -> None:
        super().__init__()
        self._path = path
        self._max_line = max_line_bytes
        self._needle = Needle(TRIGGER)

    def _scan_lines(
        self, buf: bytes, base: int, lo: int, end: int, stats: Counter[str]
    ) -> list[Event]:
        events: list[Event] = []
        done = lo
        for pos in self._needle.find_all(buf, lo, end):
            if pos < done:
                continue  # the same line again
            ls = line_start(buf, pos, lo)
            done = le = line_end(buf, pos, end)
            if le - ls <= self._max_line:
                source = SourcePosition(self._path, base + ls)
                events.extend(blocked_ips(decode(buf[ls:le]), source, stats))
        return events
