"""The follower: reads what is new in one log file, across rotation and truncation.

One :class:`Follower` owns one path. :meth:`Follower.read` is a stat-based reconcile:
it compares the open file with what is at the path now and decides *append*,
*truncated* (size below the offset, or the bytes before the offset changed),
*rotated* (another file, or none, at the path) or *missing*. It needs no filesystem
events to be correct; :mod:`iotwx_watch.run.wakeup` only says when to call it sooner.

* Framing is by ``\\n`` (:mod:`iotwx_watch.follow.frame`): half a line is handed on
  only by a full read, with the rest right behind it in the next read; a cursor is the
  extractor's resume point, never past half a line, so a restart finishes it exactly
  once.
* A rotated-away file stays open and is drained before the new file is read; it is
  let go when it has been quiet for ``rotate_wait_s``, or for ``rotate_settle_s`` once
  the new file has data (the writer has moved on). Its unfinished last line, if any,
  is handed on then, flagged ``unterminated``, with ``final`` set.
* A cursor from the state file is trusted only if identity, head and marker agree
  (:mod:`iotwx_watch.follow.cursor`); if the file at the path is another one, the old
  file is looked for among its rotated siblings and finished first, else a
  ``tail.possible_gap`` warning says how much may be missing.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from typing import Literal

from iotwx_watch.follow.cursor import (
    HEAD_BYTES,
    MARKER_BYTES,
    Cursor,
    FileId,
    cursor_for,
    pread_exact,
    sha256_hex,
)
from iotwx_watch.follow.frame import Chunk, frame
from iotwx_watch.follow.opener import FileOpener
from iotwx_watch.follow.openfile import Budget, OpenFile, Output
from iotwx_watch.follow.siblings import list_siblings, newer_than
from iotwx_watch.log import get_logger

__all__ = ["READ_BYTES", "Chunk", "Cursor", "FileId", "Follower"]

_log = get_logger("follow")
_FINISHED_MEMORY = 64
# One read: big enough that per-read Python costs vanish (about five hundred reads per
# GB), small enough to stay in the CPU's cache while framing and extraction pass over it
# (on the development machine, 2 MiB took 8 % less CPU than 1 MiB, 4 MiB more again).
READ_BYTES = 2 << 20


class Follower(FileOpener):
    """Follows one log path; see the module docstring for the rules."""

    def __init__(
        self,
        path: str,
        *,
        cursor: Cursor | None,
        start: Literal["beginning", "end"] = "beginning",
        rotated_glob: str | None = None,
        rotate_wait_s: float = 30.0,
        max_read_bytes: int = READ_BYTES,
        clock: Callable[[], float] = time.monotonic,
        rotate_settle_s: float = 1.0,
        whole_file: bool = False,
    ) -> None:
        """``whole_file``: read the file at ``path`` once, from its beginning to its end,
        unfinished last line included, as a rotated file is let go (`parse`)."""
        super().__init__(path, cursor=cursor, start=start, rotated_glob=rotated_glob,
                         max_read_bytes=max_read_bytes, clock=clock, whole_file=whole_file)
        self._rotate_wait_s = rotate_wait_s
        self._settle_s = min(rotate_settle_s, rotate_wait_s)
        self._snapshot_mode = False
        self._last_errno: int | None = None
        # The last read() stopped at the end of the file at the path (nothing queued): a
        # caller reading in bounded steps need not ask again until the file grows.
        self.drained = False

    # -- public API ---------------------------------------------------------------

    @property
    def current_file(self) -> FileId | None:
        """The file whose bytes :meth:`read` hands on now (a draining rotated one first)."""
        return self._cur.file if self._cur is not None else None

    @property
    def position(self) -> int:
        """How far the current file has been read (0 when no file is open)."""
        return self._cur.pos if self._cur is not None else 0

    def read(self, *, limit_to_snapshot: bool = False, max_bytes: int | None = None) -> list[Chunk]:
        """Everything new, in order (old-file bytes before new-file bytes).

        With ``limit_to_snapshot``, read no further than each file's size at the first
        call with that flag (for ``once``, so a continuously written file still ends),
        and let rotated files go at their end without a grace period. ``max_bytes``
        (an addition) bounds one call's output; call again while it returns chunks.
        """
        if limit_to_snapshot:
            self._snapshot_mode = True
        out = Output()
        budget = Budget(max_bytes)
        self.drained = False
        try:
            while not budget.exhausted:
                if self._cur is None and not self._open_next():
                    self.drained = True
                    break
                of = self._cur
                assert of is not None
                if not of.rotated:
                    self._check_path(of)
                at_end = self._read_file(of, out, budget)
                if not (of.rotated and at_end and self._may_let_go(of)):
                    self.drained = at_end and not of.rotated
                    break
                self._finish(of, out)
        except OSError as exc:  # EIO, ESTALE on NFS...: keep what was read, retry next time
            self.stats["read_errors"] += 1
            self.read_problem = (exc.strerror or type(exc).__name__, exc.errno)
            if exc.errno != self._last_errno:
                _log.warning("follow.read_failed", path=self.path, errno=exc.errno,
                             error=exc.strerror)
            self._last_errno = exc.errno
        else:
            self._last_errno = None
            if self._cur is not None:
                self.read_problem = None
        return out.chunks

    def backlog(self) -> int:
        """Bytes known to be waiting: the open files' sizes (up to a snapshot) past their
        positions. For progress reports; a file not opened yet counts once it is."""
        waiting = 0
        for of in [self._cur, *self._queue]:
            if of is None:
                continue
            try:
                size = os.fstat(of.fd).st_size
            except OSError:
                continue
            end = size if of.snapshot is None else min(size, of.snapshot)
            waiting += max(0, end - of.pos)
        return waiting

    def cursor_at(self, offset: int) -> Cursor | None:
        """A cursor for the current file at ``offset`` (≤ what was read), hashed by pread.

        None when no file is open (or it cannot be read now): keep the previous cursor.

        The runner passes the extractor's resume offset, which may be behind the read
        position: a restart from it reads those bytes again. An offset past the read
        position (e.g. a stale one after the file was truncated and nothing new was
        read yet) is clamped to it and counted in ``stats["cursor_clamped"]``.
        """
        of = self._cur
        if of is None:
            return None
        if offset < 0:
            raise ValueError(f"negative offset {offset}")
        known = of.cursor
        if known is not None and known.offset == offset:
            return known  # nothing read since: the same bytes, the same hashes
        if offset == of.pos and of.head_sha256 is not None and len(of.tail) == min(
                MARKER_BYTES, offset):
            # the bytes before the position are in memory, the head is complete and
            # hashed: a cursor of exactly what was read, without a system call
            of.cursor = Cursor(of.file.dev, of.file.inode, offset, HEAD_BYTES, of.head_sha256,
                               sha256_hex(of.tail), of.mtime_ns)
            return of.cursor
        try:
            self._check_truncated(of)  # never hash bytes that were not the ones read
            if offset > of.pos:
                self.stats["cursor_clamped"] += 1
                offset = of.pos
            cursor = cursor_for(of.fd, offset)
        except OSError:
            self.stats["read_errors"] += 1
            return None
        if cursor.head_len == HEAD_BYTES:
            of.head_sha256 = cursor.head_sha256
        of.cursor = cursor
        return cursor

    def close(self) -> None:
        """Close every file this follower holds open."""
        for of in [self._cur, *self._queue]:
            if of is not None:
                with contextlib.suppress(OSError):
                    os.close(of.fd)
        self._cur = None
        self._queue = []

    # -- reading ------------------------------------------------------------------

    def _check_truncated(self, of: OpenFile) -> os.stat_result:
        """Restart at 0 if the file shrank below the position or its bytes before it changed."""
        st = os.fstat(of.fd)
        if st.st_size < of.pos or (of.tail and pread_exact(
                of.fd, len(of.tail), of.pos - len(of.tail)) != of.tail):
            self.stats["truncations"] += 1
            _log.warning("follow.truncated", path=self.path, old_offset=of.pos, size=st.st_size)
            of.pos, of.tail, of.at_line_start, of.new_pending = 0, b"", True, True
            of.snapshot = of.head_sha256 = of.cursor = None
        return st

    def _check_path(self, of: OpenFile) -> None:
        """Truncated in place, or rotated away? (The stat-based reconcile.)"""
        st = self._check_truncated(of)
        try:
            now_there: FileId | None = FileId.of(os.stat(self.path))
        except OSError:
            now_there = None
        if now_there != of.file:
            of.rotated = True
            self.stats["rotations"] += 1
            _log.info("follow.rotated", path=self.path, replaced=now_there is not None,
                      unread_bytes=st.st_size - of.pos)

    def _read_file(self, of: OpenFile, out: Output, budget: Budget) -> bool:
        """Hand on complete lines up to the end (or snapshot); True when at the end."""
        st = os.fstat(of.fd)
        if st.st_size != of.size_seen:
            of.size_seen, of.last_growth, of.mtime_ns = st.st_size, self._clock(), st.st_mtime_ns
        end = st.st_size
        if self._snapshot_mode:
            if of.snapshot is None:
                of.snapshot = end
            end = min(end, of.snapshot)
        while of.pos < end:
            if budget.exhausted:
                return False
            buf = os.pread(of.fd, min(end - of.pos, self._max_read), of.pos)
            if not buf:
                break
            framed = frame(buf, of.pos, at_line_start=of.at_line_start,
                           whole=len(buf) == self._max_read and of.pos + len(buf) < end)
            for offset, data in framed.pieces:
                out.add(of, offset, data)
                budget.spend(len(data))
            consumed, of.at_line_start = framed.consumed, framed.at_line_start
            self.stats["nul_bytes_skipped"] += framed.nul_skipped
            if consumed == 0 and len(buf) >= self._max_read:
                out.add(of, of.pos, buf, unterminated=True)
                budget.spend(len(buf))
                self.stats["long_line_pieces"] += 1
                consumed, of.at_line_start = len(buf), False
            if consumed == 0:
                break
            self._advance(of, buf, consumed)
        return True

    def _advance(self, of: OpenFile, buf: bytes, consumed: int) -> None:
        of.cursor = None
        if consumed >= MARKER_BYTES:
            of.tail = buf[consumed - MARKER_BYTES : consumed]
        else:
            of.tail = (of.tail + buf[:consumed])[-MARKER_BYTES:]
        of.pos += consumed
        self.stats["bytes_read"] += consumed

    def _may_let_go(self, of: OpenFile) -> bool:
        """Is a rotated file done: drained, and quiet long enough that its writer moved on?"""
        if of.downtime or self._snapshot_mode:
            return True
        quiet = self._clock() - of.last_growth
        if quiet >= self._rotate_wait_s:
            return True
        if quiet < self._settle_s:
            return False
        try:
            st = os.stat(self.path)
            if FileId.of(st) != of.file and st.st_size > 0:
                return True
        except OSError:
            pass
        # The path may be gone again (rotated twice): a newer rotated file also shows
        # that the writer has moved on.
        newer = newer_than(list_siblings(self.path, self._glob), of.mtime_ns, {of.file})
        return any(s.size > 0 and s.mtime_ns > of.mtime_ns for s in newer)

    def _finish(self, of: OpenFile, out: Output) -> None:
        """Let a drained rotated file go: hand on its unfinished last line, mark it final."""
        end = os.fstat(of.fd).st_size
        if of.snapshot is not None:
            end = min(end, of.snapshot)
        final_sent = False
        while of.pos < end and not final_sent:
            buf = os.pread(of.fd, min(end - of.pos, self._max_read), of.pos)
            if not buf:
                break
            final_sent = of.pos + len(buf) >= end
            out.add(of, of.pos, buf, unterminated=True, final=final_sent)
            self.stats["unterminated_tails"] += 1
            self._advance(of, buf, len(buf))
        if not final_sent:
            out.add(of, of.pos, b"", final=True)
        st = os.fstat(of.fd)
        os.close(of.fd)
        self._finished[of.file] = (st.st_size, st.st_mtime_ns)
        while len(self._finished) > _FINISHED_MEMORY:
            del self._finished[next(iter(self._finished))]
        self._cur = None
        if not of.downtime and not self._queue:
            try:
                at_path: FileId | None = FileId.of(os.stat(self.path))
            except OSError:
                at_path = None
            self._queue = self._between(of, list_siblings(self.path, self._glob), at_path)
