"""Framing: cut a buffer read from a log file into complete ``\\n``-terminated pieces.

Pure functions over bytes (no IO, no clock), so the rules are easy to test:

* only complete lines leave the follower, except that a full read (the file goes on
  right after it) is handed on whole, its unfinished last line included, rather than
  copied to cut that line off: the next read continues it at once, and the extractor
  keeps it until its newline. An offset is never committed past half a line either
  way: the durable cursor is the extractor's resume point, at a line start;
* a run of NUL bytes at the start of a line is dropped: that is the sparse hole a
  writer without ``O_APPEND`` leaves when the file is truncated under it
  (copytruncate). The dropped run splits the output into separate pieces, so every
  piece's offset stays exact.

A buffer is looked at once for a NUL byte (``memchr``, near memory speed, and almost
never found); only a buffer that holds one is walked line start by line start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from iotwx_watch.follow.cursor import FileId

_NULS = re.compile(rb"\x00+")


@dataclass(frozen=True)
class Chunk:
    """Bytes handed to the extractor, with where they came from.

    ``data`` is complete ``\\n``-terminated lines, except when ``unterminated`` is set:
    then it is a piece of one line that either exceeded ``max_read_bytes`` (the rest
    follows in later chunks, so memory stays bounded) or was the last, never finished
    line of a file that was rotated away. A full read (see :func:`frame`) may also end
    in the first part of a line: the next chunk, at the next offset, goes on with it.
    A ``final`` chunk may have empty ``data``: it only tells the consumer to flush its
    parser for this file.
    """

    data: bytes
    offset: int
    file: FileId
    new_file: bool
    final: bool
    unterminated: bool = False


@dataclass(frozen=True)
class Framed:
    """Result of :func:`frame`: complete pieces and how far the buffer was consumed."""

    pieces: list[tuple[int, bytes]]
    consumed: int
    nul_skipped: int
    at_line_start: bool


def frame(buf: bytes, base: int, *, at_line_start: bool, whole: bool = False) -> Framed:
    """Split ``buf`` (read at file offset ``base``) into complete-line pieces.

    ``at_line_start`` says whether ``buf[0]`` begins a line (False after an unterminated
    piece was handed on). ``consumed`` counts the bytes that are done with: emitted
    pieces plus skipped NULs; ``buf[consumed:]`` is an unfinished line to read again.

    With ``whole`` (a full read: the file goes on right after it), a buffer without a
    NUL that holds a newline is handed on as it is, its unfinished last line included,
    instead of a copy up to its last newline (a 2 MiB copy per read costs more than all
    the rest of the framing).
    """
    if buf.find(b"\x00") < 0:  # almost always: one memchr, then the last newline
        last = buf.rfind(b"\n")
        if last < 0:
            return Framed([], 0, 0, at_line_start)
        if whole or last + 1 == len(buf):
            return Framed([(base, buf)], len(buf), 0, last + 1 == len(buf))
        return Framed([(base, buf[: last + 1])], last + 1, 0, True)
    return _frame_holes(buf, base, at_line_start)


def _frame_holes(buf: bytes, base: int, at_line_start: bool) -> Framed:
    """:func:`frame` for a buffer holding a NUL somewhere: drop the runs at line starts."""
    pieces: list[tuple[int, bytes]] = []
    nul_skipped = 0
    i = 0
    n = len(buf)
    line_start = at_line_start
    while i < n:
        if line_start and buf[i] == 0:
            match = _NULS.match(buf, i)
            assert match is not None
            nul_skipped += match.end() - i
            i = match.end()
            continue
        hole = buf.find(b"\n\x00", i)
        if hole != -1:
            pieces.append((base + i, buf[i : hole + 1]))
            i = hole + 1
            line_start = True
            continue
        last = buf.rfind(b"\n", i)
        if last != -1:
            pieces.append((base + i, buf[i : last + 1]))
            i = last + 1
            line_start = True
        break
    return Framed(pieces, i, nul_skipped, line_start)
