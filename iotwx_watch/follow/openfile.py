"""The follower's bookkeeping: one open file's read state, and one read() call's output.

Kept apart from :mod:`iotwx_watch.follow.follower` so that module stays about the decisions
(append, truncated, rotated, missing) rather than the records it keeps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from iotwx_watch.follow.cursor import Cursor, FileId
from iotwx_watch.follow.frame import Chunk


@dataclass
class OpenFile:
    """A file the follower holds open, and how far it is done with it."""

    fd: int
    file: FileId
    name: str  # the path it was opened by (for log lines)
    pos: int = 0  # every byte before pos has been handed on (or skipped as NUL)
    tail: bytes = b""  # the <= MARKER_BYTES bytes just before pos, to detect rewrites
    at_line_start: bool = True
    new_pending: bool = True
    rotated: bool = False  # no longer the file at the path: drain, then let go
    downtime: bool = False  # rotated while we were stopped: let go at end of file
    size_seen: int = 0
    last_growth: float = 0.0
    snapshot: int | None = None  # read no further (limit_to_snapshot)
    mtime_ns: int = 0
    head_sha256: str | None = None  # of the first HEAD_BYTES, once the file is that long
    cursor: Cursor | None = None  # the last cursor taken, until the position moves


@dataclass
class Budget:
    """How many more bytes one read() call may hand on (None: no limit)."""

    left: int | None

    def spend(self, n: int) -> None:
        if self.left is not None:
            self.left -= n

    @property
    def exhausted(self) -> bool:
        return self.left is not None and self.left <= 0


@dataclass
class Output:
    """The chunks of one read() call; the first chunk of a file carries ``new_file``."""

    chunks: list[Chunk] = field(default_factory=list)

    def add(self, of: OpenFile, offset: int, data: bytes, *, final: bool = False,
            unterminated: bool = False) -> None:
        self.chunks.append(Chunk(data, offset, of.file, of.new_pending, final, unterminated))
        of.new_pending = False
