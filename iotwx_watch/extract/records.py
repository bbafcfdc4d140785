"""Line arithmetic on raw log bytes, and the lines a record still to come may need.

The callback scanner reads the bytes around a trigger hit line by line (see
:mod:`.callback`). Between reads it keeps only the tail lines that a record still to
come could need: a context line (the callback script's ``收到的id:`` line, in UTF-8
or GBK, or a callback URL with ``msg_signature``) or the head of a multi-line dump
(``<xml>``, ``Array``, ``array(5) {``, a line that ends with an opening bracket).
"""

from __future__ import annotations

# Where a multi-line dump may begin: an XML document (also escaped), a line that ends
# with an opening bracket (every multi-line PHP, JSON, Node or Python dump has one),
# or a Python pprint line that starts with one. The context lines a record may need.
_XML_BEFORE = (b"<", b"u003c", b"u003C", b"&lt;")
_OPENERS = b"({["
_HEADS = (b"Array", b"Object")  # print_r's head line before its lone "("
_PPRINT_HEADS = (b"{'", b"('", b"['")
_FPM = b" said into std"
_BLANK = b" \t\r"
_CONTEXT = ("收到的id".encode(), "收到的id".encode("gbk"), b"msg_signature")


def line_start(buf: bytes, pos: int, floor: int = 0) -> int:
    """Start of the line holding ``pos`` (never before ``floor``)."""
    return max(floor, buf.rfind(b"\n", floor, pos) + 1)


def line_end(buf: bytes, pos: int, end: int) -> int:
    """Offset just past the newline ending the line holding ``pos`` (or ``end``)."""
    newline = buf.find(b"\n", pos, end)
    return end if newline < 0 else newline + 1


def lines_back(
    buf: bytes, start: int, count: int, floor: int, max_line: int | None = None
) -> int:
    """Start of the line ``count`` lines before the line starting at ``start``; with
    ``max_line``, never across a line longer than that (nothing is read across one)."""
    pos = start
    for _ in range(count):
        if pos <= floor:
            return floor
        previous = line_start(buf, pos - 1, floor)
        if max_line is not None and pos - previous > max_line:
            return pos
        pos = previous
    return pos


def line_at_or_after(buf: bytes, pos: int, floor: int) -> int:
    """The first line start at or after ``pos`` (``pos`` itself if it starts a line)."""
    if pos <= floor or buf[pos - 1 : pos] == b"\n":
        return max(pos, floor)
    newline = buf.find(b"\n", pos)
    return len(buf) if newline < 0 else newline + 1


def head_line(buf: bytes, lo: int, hi: int) -> int:
    """Start of the first line in ``buf[lo:hi]`` that may open a multi-line dump, or -1.

    A superset of what :mod:`.structure` calls a strong opener, found with one ``find``
    and a look at each line's ends, so noise between records costs next to nothing.
    print_r's head line (``Array`` or ``… Object``, its ``(`` on the next line) counts.
    """
    best = hi
    pos = buf.find(b"xml", lo, hi)
    while pos >= 0:
        before = buf[max(lo, pos - 8) : pos].replace(b"\\", b"")
        if before.endswith(_XML_BEFORE):
            best = pos
            break
        pos = buf.find(b"xml", pos + 3, hi)
    start = lo
    while start < best:
        end = buf.find(b"\n", start, hi)
        end = hi if end < 0 else end
        last = end - 1
        while last >= start and buf[last] in _BLANK:
            last -= 1
        if buf[last : last + 1] == b'"' and buf.find(_FPM, start, last) >= 0:
            last -= 1  # php-fpm's quote around a worker's line (see text.unquote_fpm)
        if last >= start and buf[last] in _OPENERS:
            return start
        if buf[start : last + 1].endswith(_HEADS):  # print_r's head, its "(" on the next line
            return start
        if buf.startswith(_PPRINT_HEADS, start):  # pprint's first line: "{'AuthCode': …"
            return start
        if buf[last : last + 1] == b"," and any(h in buf[start:last] for h in _PPRINT_HEADS):
            return start  # pprint's first line behind a logger prefix: "… {'AuthCode': 'x',"
        start = end + 1
    return -1 if best >= hi else line_start(buf, best, lo)


def marker_line(buf: bytes, lo: int, hi: int) -> int:
    """Start of the first line in ``buf[lo:hi]`` holding a context line or a dump head, or -1."""
    best = head_line(buf, lo, hi)
    for marker in _CONTEXT:
        pos = buf.find(marker, lo, hi if best < 0 else best)
        if pos >= 0:
            best = line_start(buf, pos, lo)
    return best
