"""systemd's notify protocol: READY, STATUS, WATCHDOG, STOPPING, RELOADING.

The protocol is one datagram of newline-separated ``KEY=value`` lines sent to the
AF_UNIX socket systemd names in ``$NOTIFY_SOCKET`` (a path, or an abstract name written
with a leading ``@``); the CLI reads the environment (:meth:`SystemdNotifier.from_environ`)
and this module never does. It is small enough that a package would weigh more than it
saves. Outside systemd there is no socket and every call does nothing, so the
runner calls these unconditionally.

A failed send never reaches the caller: the daemon's work matters more than its
status line. The first failure is logged at warning, later ones at debug.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

from iotwx_watch.log import get_logger

__all__ = ["SystemdNotifier"]


def _monotonic_usec() -> int:
    """CLOCK_MONOTONIC in microseconds, the clock systemd's MONOTONIC_USEC= expects."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def _one_line(text: str) -> str:
    """A value must stay on one line: a newline would start a new assignment."""
    return " ".join(text.splitlines())


class SystemdNotifier:
    """Send state changes to systemd, or do nothing when not run by systemd.

    Args:
        socket_path: the notify socket (``$NOTIFY_SOCKET``). ``@name`` is an abstract
            socket. ``None``, empty or any other form disables sending.
        watchdog_usec, watchdog_pid: ``$WATCHDOG_USEC`` and ``$WATCHDOG_PID``.
        monotonic_usec: clock for ``MONOTONIC_USEC=``; injected by tests.
    """

    def __init__(
        self,
        socket_path: str | None = None,
        *,
        watchdog_usec: str | None = None,
        watchdog_pid: str | None = None,
        monotonic_usec: Callable[[], int] = _monotonic_usec,
    ) -> None:
        path = socket_path
        self._watchdog_usec = watchdog_usec or ""
        self._watchdog_pid = watchdog_pid or ""
        self._address: str | None = None
        if path and (path.startswith("/") or (path.startswith("@") and len(path) > 1)):
            self._address = "\0" + path[1:] if path.startswith("@") else path
        elif path:
            get_logger("sdnotify").warning("sdnotify.unsupported_socket", socket=path)
        self._monotonic_usec = monotonic_usec
        self._lock = threading.Lock()
        self._failed_before = False

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> SystemdNotifier:
        """The notifier systemd asks for through the process environment."""
        return cls(
            env.get("NOTIFY_SOCKET"),
            watchdog_usec=env.get("WATCHDOG_USEC"),
            watchdog_pid=env.get("WATCHDOG_PID"),
        )

    @property
    def enabled(self) -> bool:
        """True when there is a socket to send to."""
        return self._address is not None

    def notify(self, *assignments: str) -> bool:
        """Send ``KEY=value`` assignments in one datagram; return whether it was sent."""
        if self._address is None or not assignments:
            return False
        message = "\n".join(assignments).encode("utf-8", "replace")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                # Never block: a receiver whose queue is full (10 datagrams by default)
                # would otherwise stop the daemon inside a watchdog ping.
                sock.sendto(message, socket.MSG_DONTWAIT, self._address)
        except OSError as exc:
            self._report_failure(exc)
            return False
        return True

    def _report_failure(self, exc: OSError) -> None:
        with self._lock:
            first = not self._failed_before
            self._failed_before = True
        log = get_logger("sdnotify")
        emit = log.warning if first else log.debug
        emit("sdnotify.send_failed", error=f"{type(exc).__name__}: {exc.strerror or exc}")

    def ready(self) -> None:
        """The first catch-up is done: systemd may consider the service started."""
        self.notify("READY=1")

    def status(self, text: str) -> None:
        """A line for ``systemctl status``."""
        self.notify(f"STATUS={_one_line(text)}")

    def watchdog(self) -> None:
        """The main loop is alive; call more often than :meth:`watchdog_interval`."""
        self.notify("WATCHDOG=1")

    def stopping(self) -> None:
        """Shutdown has begun."""
        self.notify("STOPPING=1")

    def reloading(self) -> None:
        """A reload (SIGHUP) has begun; send :meth:`ready` again when it is done.

        ``MONOTONIC_USEC`` is what ``Type=notify-reload`` requires; older systemd
        ignores it.
        """
        self.notify("RELOADING=1", f"MONOTONIC_USEC={self._monotonic_usec()}")

    def extend_timeout(self, seconds: float) -> None:
        """Ask for more start-up (or stop) time, e.g. while a long first catch-up runs."""
        self.notify(f"EXTEND_TIMEOUT_USEC={max(0, int(seconds * 1_000_000))}")

    def watchdog_interval(self) -> float | None:
        """Seconds within which systemd expects :meth:`watchdog`, or None when it does not.

        From ``$WATCHDOG_USEC``; ignored when ``$WATCHDOG_PID`` names another
        process (the variables were inherited, not meant for us).
        """
        usec, pid = self._watchdog_usec, self._watchdog_pid
        if pid:
            try:
                if int(pid) != os.getpid():
                    return None
            except ValueError:
                return None
        try:
            value = int(usec)
        except ValueError:
            return None
        return value / 1_000_000 if value > 0 else None
