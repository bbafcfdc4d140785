"""Where a callback record starts and ends in raw log bytes.

Only the bytes around a trigger hit are examined. A record is an XML document
(``<xml>…</xml>``, possibly JSON-escaped as ``\\u003cxml…`` or ``<\\/xml>``), a PHP
array dump (``Array ( … )`` / ``array ( … )``, parentheses matched), or, with neither
around the hit, the hit's own line (a JSON object, an operator's format).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

OpenerKind = Literal["xml", "php"]

_XML = b"xml"
_XML_OPEN_PREFIXES = (b"<", b"u003c", b"u003C", b"&lt;")
_XML_CLOSE_PREFIXES = (b"</", b"u003c/", b"u003C/", b"&lt;/")
_XML_NEXT = frozenset(b">\\ \t\r\n/&")
_PHP = b"rray"
_PAREN = re.compile(rb"[()]")
# Context markers: the script's "收到的id:" line (UTF-8 or GBK) and a callback URL.
CONTEXT_MARKERS = ("收到的id".encode(), "收到的id".encode("gbk"), b"msg_signature")


def line_start(buf: bytes, pos: int, floor: int = 0) -> int:
    """Start of the line holding ``pos`` (never before ``floor``)."""
    return max(floor, buf.rfind(b"\n", floor, pos) + 1)


def line_end(buf: bytes, pos: int, end: int) -> int:
    """Offset just past the newline ending the line holding ``pos`` (or ``end``)."""
    newline = buf.find(b"\n", pos, end)
    return end if newline < 0 else newline + 1


def lines_back(buf: bytes, start: int, count: int, floor: int) -> int:
    """Start of the line ``count`` lines before the line starting at ``start``."""
    pos = start
    for _ in range(count):
        if pos <= floor:
            return floor
        pos = line_start(buf, pos - 1, floor)
    return pos


def lines_forward(buf: bytes, pos: int, count: int, end: int) -> tuple[int, bool]:
    """Offset past ``count`` more lines from ``pos``; and whether that many were there."""
    for _ in range(count):
        newline = buf.find(b"\n", pos, end)
        if newline < 0:
            return end, False
        pos = newline + 1
    return pos, True


def _xml_tag(buf: bytes, at: int) -> Literal["open", "close"] | None:
    """Classify the ``xml`` at ``at``: an opening tag, a closing tag, or just text."""
    after = buf[at + 3 : at + 4]
    if after and after[0] not in _XML_NEXT:
        return None
    before = buf[max(0, at - 12) : at].replace(b"\\", b"")
    if before.endswith(_XML_CLOSE_PREFIXES):
        return "close"
    if before.endswith(_XML_OPEN_PREFIXES):
        return "open"
    return None


def _php_open(buf: bytes, at: int) -> int | None:
    """For the ``rray`` at ``at``: the offset of its ``(`` when it starts a PHP array dump."""
    if at == 0 or buf[at - 1 : at] not in (b"A", b"a"):
        return None
    pos = at + 4
    limit = min(len(buf), pos + 8)
    while pos < limit and buf[pos : pos + 1] in (b" ", b"\t", b"\r", b"\n"):
        pos += 1
    return pos if buf[pos : pos + 1] == b"(" else None


def find_xml(buf: bytes, lo: int, hi: int, tag: Literal["open", "close"]) -> int:
    """First ``xml`` of the given tag kind in ``buf[lo:hi]``, or -1."""
    pos = buf.find(_XML, lo, hi)
    while pos >= 0:
        if _xml_tag(buf, pos) == tag:
            return pos
        pos = buf.find(_XML, pos + 3, hi)
    return -1


def rfind_xml(buf: bytes, lo: int, hi: int, tag: Literal["open", "close"]) -> int:
    """Last ``xml`` of the given tag kind in ``buf[lo:hi]``, or -1."""
    pos = buf.rfind(_XML, lo, hi)
    while pos >= 0:
        if _xml_tag(buf, pos) == tag:
            return pos
        pos = buf.rfind(_XML, lo, pos)
    return -1


def rfind_php(buf: bytes, lo: int, hi: int) -> tuple[int, int] | None:
    """Last PHP array opener in ``buf[lo:hi]``: (offset of ``Array``, offset of its ``(``)."""
    pos = buf.rfind(_PHP, lo + 1, hi)
    while pos >= 0:
        paren = _php_open(buf, pos)
        if paren is not None:
            return pos - 1, paren
        pos = buf.rfind(_PHP, lo + 1, pos)
    return None


def php_close(buf: bytes, paren: int, hi: int) -> int:
    """Offset of the ``)`` matching the ``(`` at ``paren``, searching up to ``hi``; or -1."""
    depth = 0
    for match in _PAREN.finditer(buf, paren, hi):
        depth += 1 if match.group() == b"(" else -1
        if depth == 0:
            return match.start()
    return -1


@dataclass(frozen=True)
class Opener:
    """The start of a record around a hit."""

    kind: OpenerKind
    at: int  # offset of "<xml"-ish / "Array"
    paren: int = -1  # PHP: offset of "("


def opener_before(buf: bytes, lo: int, hit: int) -> Opener | None:
    """The nearest record opener before ``hit`` (in ``buf[lo:hit]``) still open at the hit."""
    xml_at = rfind_xml(buf, lo, hit, "open")
    php = rfind_php(buf, lo, hit)
    if php is not None and php[0] > xml_at:
        if php_close(buf, php[1], hit) >= 0:
            return None
        return Opener("php", php[0], php[1])
    if xml_at < 0 or find_xml(buf, xml_at + 3, hit, "close") >= 0:
        return None
    return Opener("xml", xml_at)


def closer_after(buf: bytes, opener: Opener, hit: int, hi: int) -> int:
    """Offset just past the end of the record opened by ``opener`` (searching up to ``hi``).

    The record also ends where another record opens. Returns -1 when neither is found.
    """
    if opener.kind == "php":
        close = php_close(buf, opener.paren, hi)
        return -1 if close < 0 else close + 1
    close = find_xml(buf, hit, hi, "close")
    next_open = find_xml(buf, hit, hi, "open")
    if next_open >= 0 and (close < 0 or next_open < close):
        return line_start(buf, next_open)
    return -1 if close < 0 else close + 3


def marker_lines(buf: bytes, lo: int, hi: int) -> int:
    """Start of the first line in ``buf[lo:hi]`` holding a record opener or context marker."""
    best = -1
    for marker in CONTEXT_MARKERS:
        pos = buf.find(marker, lo, hi)
        if pos >= 0 and (best < 0 or pos < best):
            best = pos
    xml_at = find_xml(buf, lo, hi, "open")
    if xml_at >= 0 and (best < 0 or xml_at < best):
        best = xml_at
    php = _first_php(buf, lo, best if best >= 0 else hi)
    if php >= 0:
        best = php
    return -1 if best < 0 else line_start(buf, best, lo)


def _first_php(buf: bytes, lo: int, hi: int) -> int:
    """First PHP array opener in ``buf[lo:hi]``, counting an ``Array`` whose ``(`` is
    still to come (the last line read so far)."""
    pos = buf.find(_PHP, lo + 1, hi)
    while pos >= 0:
        if buf[pos - 1 : pos] in (b"A", b"a") and (
            _php_open(buf, pos) is not None or not buf[pos + 4 : hi].strip()
        ):
            return pos - 1
        pos = buf.find(_PHP, pos + 4, hi)
    return -1
