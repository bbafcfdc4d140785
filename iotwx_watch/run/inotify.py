"""A lean inotify watcher: one thread, one descriptor, and the kernel's own coalescing.

watchdog's inotify observer turns every event into Python objects on two threads; a
receive.log taking 5,000 lines a second gives 5,000 events a second, and that alone
cost the daemon about a sixth of a core. This watcher reads the descriptor, wakes the
loop once for whatever it read, then sleeps ``settle_s`` before reading again: meanwhile
the kernel merges the repeated ``IN_MODIFY`` of a file into one queued event, so a busy
log costs a handful of reads a second, and an append to a quiet log still wakes the loop
at once. Same duck type as the watchdog observers :mod:`.wakeup` uses.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import select
import struct
import threading
import time
from typing import Any

_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC
# Changes to a name in a watched directory: modify, attrib, moved from/to, create, delete,
# delete/move of the directory itself. Not close_write: a writer that opens and closes
# per line would interleave it with modify, and only identical events are merged.
_MASK = 0x2 | 0x4 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x800
_Q_OVERFLOW = 0x4000
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len


class _Event:
    """What the wake-up handler reads of an event: the path it concerns."""

    __slots__ = ("src_path",)

    def __init__(self, src_path: str) -> None:
        self.src_path = src_path


class _Watch:
    def __init__(self, path: str, wd: int) -> None:
        self.path = path
        self.wd = wd


class InotifyWatcher:
    """inotify on the directories it is given; tells ``handler.on_any_event`` once per
    changed name per read, ``handler.on_overflow`` when the kernel dropped events (see
    the module docstring)."""

    def __init__(self, settle_s: float = 0.01) -> None:
        libc_name = ctypes.util.find_library("c")
        self._libc = ctypes.CDLL(libc_name, use_errno=True)
        self._settle_s = settle_s
        self._fd = -1
        self._stop_r, self._stop_w = -1, -1
        self._thread: threading.Thread | None = None
        self._watches: dict[int, tuple[str, Any]] = {}  # wd -> (directory, handler)
        self._lock = threading.Lock()

    def start(self) -> None:
        fd = self._libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        self._fd = fd
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="inotify", daemon=True)
        self._thread.start()

    def schedule(self, event_handler: Any, path: str, *, recursive: bool = False) -> _Watch:
        """Watch the directory ``path``; events on names in it go to ``event_handler``."""
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(path), _MASK)
        if wd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), path)
        with self._lock:
            self._watches[wd] = (path, event_handler)
        return _Watch(path, wd)

    def unschedule(self, watch: _Watch) -> None:
        with self._lock:
            self._watches.pop(watch.wd, None)
        self._libc.inotify_rm_watch(self._fd, watch.wd)

    def stop(self) -> None:
        if self._stop_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._stop_w, b"x")

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
        for fd in (self._fd, self._stop_r, self._stop_w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._fd = self._stop_r = self._stop_w = -1

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while True:
            ready, _, _ = select.select([self._fd, self._stop_r], [], [])
            if self._stop_r in ready:
                return
            try:
                data = os.read(self._fd, 64 * 1024)
            except BlockingIOError:
                continue
            self._dispatch(data)
            time.sleep(self._settle_s)  # let the kernel merge what comes meanwhile

    def _dispatch(self, data: bytes) -> None:
        """Tell each handler once per distinct path in ``data``; an overflow tells all."""
        seen: set[tuple[int, bytes]] = set()
        overflow = False
        pos = 0
        while pos + _HEADER.size <= len(data):
            wd, mask, _, length = _HEADER.unpack_from(data, pos)
            name = data[pos + _HEADER.size : pos + _HEADER.size + length].rstrip(b"\0")
            pos += _HEADER.size + length
            if mask & _Q_OVERFLOW:
                overflow = True
            else:
                seen.add((wd, name))
        with self._lock:
            watches = dict(self._watches)
        if overflow:  # events were lost: every handler must look
            for _, handler in watches.values():
                handler.on_overflow()
        for wd, name in seen:
            if wd in watches:
                path, handler = watches[wd]
                full = os.path.join(path, os.fsdecode(name)) if name else path
                handler.on_any_event(_Event(full))
