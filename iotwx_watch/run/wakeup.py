"""Wake-ups for the follower: filesystem events are hints, never the source of truth.

A watchdog observer watches the *parent directories* of the followed paths (never the
files: a watch on a file follows its inode away after a rename) and turns any event
about a followed name into a wake-up. The handler does no IO: it sets an event. The
caller still runs its stat-based check every ``poll_interval_s`` (``wait`` returns
False on timeout), which covers what inotify misses: queue overflow, coalesced
events, NFS / CIFS / container bind mounts.

Backends (``backend`` says which one is in use after any fallback):

* ``inotify``: :class:`~iotwx_watch.run.inotify.InotifyWatcher` (one thread, events
  left to merge in the kernel for ``INOTIFY_SETTLE_S`` after each wake-up);
* ``poll``: watchdog's ``PollingObserver`` (stat of the directories, in a thread);
* ``timer``: no observer; wake-ups come only from the caller's timer and :meth:`wake`.

``mode="auto"`` tries inotify. When the observer cannot start (inotify limits:
ENOSPC, EMFILE) or dies later, one ``tail.observer_failed`` error is logged and the
timer backend takes over. A parent directory that does not exist yet is watched
through its nearest existing ancestor and scheduled once it appears.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers.api import BaseObserver

from iotwx_watch.log import get_logger

_log = get_logger("follow")

WatchMode = Literal["auto", "inotify", "poll", "timer"]
# After each inotify wake-up, events are left to gather (and merge) this long: a busy log
# wakes the loop at most ~100 times a second, a quiet one at once.
INOTIFY_SETTLE_S = 0.01


class Observer(Protocol):
    """What Wakeup uses of an observer: watchdog's, or :class:`InotifyWatcher`."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def join(self, timeout: float | None = None) -> None: ...

    def is_alive(self) -> bool: ...

    def schedule(self, event_handler: Any, path: str, *, recursive: bool = False) -> Any: ...

    def unschedule(self, watch: Any) -> None: ...

# Filesystems where changes made elsewhere (another host, the VM host, a container's
# host) raise no inotify events; "auto" polls there.
EVENTLESS_FS = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "vboxsf", "fuse.sshfs", "fuse.grpcfuse",
     "fuse.osxfs", "fakeowner", "virtiofs", "ceph", "glusterfs", "fuse.glusterfs", "afs"}
)


class _Handler(FileSystemEventHandler):
    """Sets the wake-up flag for events that touch a watched name; no IO, never raises."""

    def __init__(self, wakeup: Wakeup) -> None:
        self._wakeup = wakeup

    def on_overflow(self) -> None:
        """The kernel's queue overflowed: something may have been missed."""
        self._wakeup.wake()

    def on_any_event(self, event: FileSystemEvent) -> None:
        try:
            names = [event.src_path, getattr(event, "dest_path", "")]
            if any(self._wakeup.is_relevant(os.fsdecode(n)) for n in names if n):
                self._wakeup.wake()
        except Exception:  # a handler exception would kill the observer
            self._wakeup.wake()


class Wakeup:
    """Wakes the follower loop on file events, with a fallback to pure timer polling."""

    def __init__(
        self,
        paths: Sequence[str],
        *,
        mode: WatchMode = "auto",
        poll_interval_s: float = 2.0,
        observer_factory: Callable[[str], BaseObserver] | None = None,
    ) -> None:
        """``observer_factory(backend)`` replaces watchdog's observers (a seam for tests)."""
        self._factory = observer_factory
        self._paths = [os.path.abspath(p) for p in paths]
        self._mode = mode
        self._poll_interval_s = poll_interval_s
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._observer: Observer | None = None
        self._watches: dict[str, tuple[Any, int]] = {}  # dir -> (watch, inode)
        self._relevant: set[str] = set()
        self._handler = _Handler(self)
        self.backend: str = "timer"
        self.events_seen = 0
        self._attempted = "timer"
        self._failure_logged = False

    # -- public API ---------------------------------------------------------------

    def start(self) -> None:
        """Start the observer (if any); falls back to the timer backend, never raises."""
        if self._mode == "timer":
            self.backend = "timer"
            return
        backend = "poll" if self._mode == "poll" else "inotify"
        if self._mode == "auto":
            blind = sorted({t for p in self._paths if (t := fs_type(p)) in EVENTLESS_FS})
            if blind:  # inotify would start fine and then never fire
                _log.info("wakeup.watch_backend", backend="poll", reason="network_filesystem",
                          fs_types=blind)
                backend = "poll"
        self._attempted = backend
        try:
            self._observer = self._make_observer(backend)
            self._observer.start()
            self.backend = backend
            self._refresh_watches()
            self._event.clear()  # the caller reads everything after start() anyway
        except Exception as exc:  # any failure here means: poll by timer
            self._fail(exc)

    def stop(self) -> None:
        """Stop the observer thread; the wake-up still works for :meth:`wake`."""
        observer, self._observer = self._observer, None
        self._watches.clear()
        if observer is not None:
            with contextlib.suppress(Exception):
                observer.stop()
                observer.join(timeout=5)

    def wait(self, timeout: float) -> bool:
        """Block until a wake-up or ``timeout``; True if woken. Never raises."""
        try:
            self._supervise()
        except Exception as exc:
            self._fail(exc)
        woken = self._event.wait(max(0.0, timeout))
        self._event.clear()
        return woken

    def watch_paths(self, paths: Sequence[str]) -> None:
        """Follow another set of paths (config reload); watches are updated now."""
        with self._lock:
            self._paths = [os.path.abspath(p) for p in paths]
        try:
            self._refresh_watches()
        except Exception as exc:  # same fallback as a failing observer
            self._fail(exc)
        self._event.set()  # read the new set now

    def wake(self) -> None:
        """Wake a waiting :meth:`wait` (signal handlers, other threads, the handler)."""
        self.events_seen += 1
        self._event.set()

    def is_relevant(self, path: str) -> bool:
        """Does an event on ``path`` concern a followed file (or a directory on its way)?"""
        return path in self._relevant

    # -- internals ----------------------------------------------------------------

    def _make_observer(self, backend: str) -> Observer:
        if self._factory is not None:
            return self._factory(backend)
        if backend == "poll":
            from watchdog.observers.polling import PollingObserver

            return PollingObserver(timeout=min(self._poll_interval_s, 1.0))
        from iotwx_watch.run.inotify import InotifyWatcher

        return InotifyWatcher(settle_s=INOTIFY_SETTLE_S)

    def _fail(self, exc: BaseException) -> None:
        """One loud line, then timer polling for good."""
        self.stop()
        if not self._failure_logged:
            self._failure_logged = True
            _log.error("wakeup.observer_failed", backend=self._attempted, error=repr(exc),
                       fallback="timer", poll_interval_s=self._poll_interval_s)
        self.backend = "timer"
        self._event.set()  # something may have been missed: check now

    def _supervise(self) -> None:
        if self._observer is None:
            return
        if not self._observer.is_alive():
            raise RuntimeError("observer thread died")
        self._refresh_watches()

    def _wanted_dirs(self) -> tuple[set[str], set[str]]:
        """Directories to watch, and the names whose events matter."""
        dirs: set[str] = set()
        relevant: set[str] = set()
        for path in self._paths:
            relevant.add(path)
            parent = os.path.dirname(path)
            while not os.path.isdir(parent) and os.path.dirname(parent) != parent:
                relevant.add(parent)
                parent = os.path.dirname(parent)
            dirs.add(parent)
        return dirs, relevant

    def _refresh_watches(self) -> None:
        """Schedule watches on the directories that exist now; drop stale ones."""
        observer = self._observer
        if observer is None:
            return
        with self._lock:
            dirs, relevant = self._wanted_dirs()
            self._relevant = relevant
            for directory, (watch, inode) in list(self._watches.items()):
                if directory not in dirs or _inode(directory) != inode:
                    with contextlib.suppress(Exception):
                        observer.unschedule(watch)
                    del self._watches[directory]
            for directory in dirs - set(self._watches):
                dir_inode = _inode(directory)
                if dir_inode is None:
                    continue
                watch = observer.schedule(self._handler, directory, recursive=False)
                self._watches[directory] = (watch, dir_inode)
                self._event.set()  # the file may have appeared before the watch


def _inode(directory: str) -> int | None:
    try:
        return os.stat(directory).st_ino
    except OSError:
        return None


def fs_type(path: str) -> str | None:
    """The filesystem type holding ``path`` (or its nearest existing parent); None if unknown."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            mountinfo = f.read()
    except OSError:
        return None
    target = os.path.abspath(path)
    while not os.path.exists(target) and os.path.dirname(target) != target:
        target = os.path.dirname(target)
    return mount_fs_type(os.path.realpath(target), mountinfo)


def mount_fs_type(path: str, mountinfo: str) -> str | None:
    """The type of the mount in ``mountinfo`` (proc(5) format) with the longest point over path."""
    best: tuple[int, str] | None = None
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if not sep or len(fields) < 5 or not right.split():
            continue
        mount_point = fields[4].replace("\\040", " ")
        inside = path == mount_point or path.startswith(mount_point.rstrip("/") + "/")
        if inside and (best is None or len(mount_point) >= best[0]):
            best = (len(mount_point), right.split()[0])
    return best[1] if best is not None else None
