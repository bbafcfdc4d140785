"""Choosing the file to read and where to start: the path, a saved cursor, rotated siblings.

:class:`FileOpener` is the half of the follower that runs when it has no open file: at
start (apply the saved cursor, or ``start``), after a rotated file was let go (files
rotated in between come first) and while the path does not exist (waited for quietly,
one log line). :class:`iotwx_watch.follow.follower.Follower` adds the reading.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Callable
from typing import Literal

from iotwx_watch.follow.cursor import MARKER_BYTES, Cursor, FileId, mismatch, pread_exact
from iotwx_watch.follow.openfile import OpenFile
from iotwx_watch.follow.siblings import Sibling, find_by_id, list_siblings, newer_than
from iotwx_watch.log import get_logger

_log = get_logger("follow")


class FileOpener:
    """Opens the next file to read; state shared with the Follower that extends it."""

    def __init__(
        self,
        path: str,
        *,
        cursor: Cursor | None,
        start: Literal["beginning", "end"],
        rotated_glob: str | None,
        max_read_bytes: int,
        clock: Callable[[], float],
        whole_file: bool = False,
    ) -> None:
        if max_read_bytes < 1:
            raise ValueError("max_read_bytes must be positive")
        self.path = path
        self.stats: collections.Counter[str] = collections.Counter()
        self._cursor = cursor
        self._start = start
        self._glob = rotated_glob
        self._max_read = max_read_bytes
        self._clock = clock
        self._cur: OpenFile | None = None
        self._queue: list[OpenFile] = []  # rotated files found in between, to read next
        self._finished: dict[FileId, tuple[int, int]] = {}
        self._first_open = True
        self._whole = whole_file
        self._waiting_logged = False
        # Why the log cannot be read right now (not a missing file): "<strerror>", errno.
        self.read_problem: tuple[str, int | None] | None = None

    def _open_next(self) -> bool:
        """Make ``_cur`` the next file to read: a queued rotated one, else the path."""
        if self._queue:
            self._cur = self._queue.pop(0)
            return True
        first, self._first_open = self._first_open, False
        if self._whole and not first:
            return False  # read once, let go at its end
        cursor, self._cursor = self._cursor, None
        of = self._open_path()
        if self._whole and of is not None:
            of.rotated = of.downtime = True
        if cursor is not None:
            return self._resume(cursor, of)
        if of is None:
            return False
        if first and self._start == "end":
            self._seek_end(of)
        self._cur = of
        return True

    def _open_path(self) -> OpenFile | None:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:  # missing file or directory, no permission yet
            if not isinstance(exc, FileNotFoundError):
                self.read_problem = (exc.strerror or type(exc).__name__, exc.errno)
            if not self._waiting_logged:
                log = _log.warning if self.read_problem else _log.info
                log("follow.waiting_for_file", path=self.path, reason=type(exc).__name__)
                self._waiting_logged = True
            return None
        self.read_problem = None
        if self._waiting_logged:
            _log.info("follow.file_appeared", path=self.path)
            self._waiting_logged = False
        return self._wrap(fd, self.path)

    def _wrap(self, fd: int, name: str) -> OpenFile:
        st = os.fstat(fd)
        return OpenFile(fd=fd, file=FileId.of(st), name=name, size_seen=st.st_size,
                     last_growth=self._clock(), mtime_ns=st.st_mtime_ns)

    def _seek_end(self, of: OpenFile) -> None:
        """Start after the last complete line, so a line being written is still read whole."""
        size = os.fstat(of.fd).st_size
        window = pread_exact(of.fd, min(size, self._max_read), max(0, size - self._max_read))
        newline = window.rfind(b"\n")
        if newline != -1:
            start = size - len(window) + newline + 1
        else:  # no complete line yet (or one longer than a read): keep what is there
            start = 0 if size <= self._max_read else size
        self._set_pos(of, start)

    def _set_pos(self, of: OpenFile, pos: int) -> None:
        of.pos = pos
        of.tail = pread_exact(of.fd, min(MARKER_BYTES, pos), pos - min(MARKER_BYTES, pos))
        of.at_line_start = pos == 0 or of.tail.endswith(b"\n")

    def _resume(self, cursor: Cursor, at_path: OpenFile | None) -> bool:
        """Apply a saved cursor: trust it, find its rotated file (or copy), or say what is lost.

        A file at the path with the cursor's inode but other content was truncated
        (copytruncate) or replaced (inode reuse): either way its old bytes are looked for
        among the siblings, as after a rename.
        """
        siblings = list_siblings(self.path, self._glob)
        path_id = at_path.file if at_path is not None else None
        if cursor.head_len == 0:
            return self._resume_empty(cursor, at_path, siblings)
        if at_path is not None and at_path.file == cursor.file:
            reason = mismatch(at_path.fd, cursor)
            if reason is None:
                self._set_pos(at_path, cursor.offset)
                self._cur = at_path
                return True
            self.stats["cursor_resets"] += 1
            _log.warning("follow.cursor_reset", path=self.path, reason=reason,
                         saved_offset=cursor.offset, size=at_path.size_seen)
        old = self._find_rotated(cursor, siblings, path_id)
        if old is not None:
            self._set_pos(old, cursor.offset)
            self.stats["rotations"] += 1
            _log.info("follow.rotated", path=self.path, rotated_to=old.name, while_stopped=True,
                      unread_bytes=old.size_seen - cursor.offset)
            self._queue = [old, *self._between(old, siblings, path_id)]
        else:
            self.stats["gaps"] += 1
            self.stats["gap_saved_offset_bytes"] += cursor.offset
            _log.warning("follow.possible_gap", path=self.path, reason="rotated_file_not_found",
                         saved_offset=cursor.offset,
                         new_file_size=at_path.size_seen if at_path is not None else None)
            if cursor.mtime_ns:  # files rotated since the cursor was taken still come first
                exclude = {path_id} if path_id is not None else set()
                self._queue = self._open_rotated(newer_than(siblings, cursor.mtime_ns, exclude))
        return self._read_queue_first(at_path)

    def _resume_empty(
        self, cursor: Cursor, at_path: OpenFile | None, siblings: list[Sibling]
    ) -> bool:
        """A cursor taken on an empty file: nothing to find, but files written since to read.

        Its inode proves little (it may have been reused), so every non-empty sibling
        written strictly after the cursor (or with its inode, even in the same timestamp
        tick) is read first, oldest first, then the path.
        """
        path_id = at_path.file if at_path is not None else None
        newer = [s for s in newer_than(siblings, 0, set())
                 if s.size > 0 and s.file != path_id
                 and (s.mtime_ns > cursor.mtime_ns or s.file == cursor.file)]
        if newer:
            self.stats["rotations"] += 1
            _log.info("follow.rotated", path=self.path, while_stopped=True, files=len(newer))
            self._queue = self._open_rotated(newer)
        return self._read_queue_first(at_path)

    def _read_queue_first(self, at_path: OpenFile | None) -> bool:
        """Make ``_cur`` the first queued rotated file, else the file at the path."""
        if self._queue and at_path is not None:
            os.close(at_path.fd)  # reopened by path after the rotated files are done
            at_path = None
        self._cur = self._queue.pop(0) if self._queue else at_path
        return self._cur is not None

    def _find_rotated(
        self, cursor: Cursor, siblings: list[Sibling], path_id: FileId | None
    ) -> OpenFile | None:
        """The cursor's file among the siblings: by identity, else by content (a copy)."""
        by_id = find_by_id(siblings, cursor.file)
        candidates = [by_id] if by_id is not None and by_id.file != path_id else []
        if cursor.head_len > 0:
            exclude = {cursor.file} | ({path_id} if path_id is not None else set())
            candidates += newer_than(siblings, cursor.mtime_ns, exclude)
        for sibling in candidates:
            of = self._open_rotated_file(sibling)
            if of is None:
                continue
            if mismatch(of.fd, cursor, identity=of.file == cursor.file) is None:
                return of
            os.close(of.fd)
        return None

    def _between(
        self, old: OpenFile, siblings: list[Sibling], at_path: FileId | None
    ) -> list[OpenFile]:
        """Open the files rotated after ``old`` and before the file now at the path."""
        exclude = {old.file}
        if at_path is not None:
            exclude.add(at_path)
        fresh = [s for s in newer_than(siblings, old.mtime_ns, exclude)
                 if self._finished.get(s.file) != (s.size, s.mtime_ns)]
        return self._open_rotated(fresh)

    def _open_rotated(self, siblings: list[Sibling]) -> list[OpenFile]:
        """Open rotated files to be read whole and let go at their end."""
        return [of for s in siblings if (of := self._open_rotated_file(s)) is not None]

    def _open_rotated_file(self, sibling: Sibling) -> OpenFile | None:
        """Open one rotated file, to be let go at its end; None when it is gone already."""
        try:
            of = self._wrap(os.open(sibling.path, os.O_RDONLY | os.O_CLOEXEC), sibling.path)
        except OSError:
            return None
        of.rotated = of.downtime = True
        return of
