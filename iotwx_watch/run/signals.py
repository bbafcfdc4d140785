"""SIGTERM/SIGINT (stop) and SIGHUP (reload) for the daemon loop, without deadlocks.

A Python signal handler runs in the main thread between two bytecodes, possibly while
that thread holds a lock inside ``threading.Event.wait``; a handler that calls
``Event.set()`` can then wait for itself forever. So the handlers here only assign
booleans, and the loop is woken another way: ``signal.set_wakeup_fd`` makes the
interpreter write a byte to a pipe at C level, and a small thread reading that pipe
calls ``wake()`` from outside the main thread.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType


class SignalFlags:
    """What the signals asked for; read and cleared by the loop in the main thread."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self.stop_requested = False
        self.reload_requested = False
        self._wake = wake

    def _on_stop(self, _signum: int, _frame: FrameType | None) -> None:
        self.stop_requested = True

    def _on_hup(self, _signum: int, _frame: FrameType | None) -> None:
        self.reload_requested = True

    def take_reload(self) -> bool:
        """True once per SIGHUP received since the last call."""
        requested, self.reload_requested = self.reload_requested, False
        return requested

    def _pump(self, read_fd: int) -> None:
        while True:
            try:
                data = os.read(read_fd, 64)
            except OSError:
                return
            if not data:
                return
            self._wake()

    @contextlib.contextmanager
    def installed(self) -> Iterator[SignalFlags]:
        """Install the handlers and the wake-up pipe for the duration of the block."""
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        pump = threading.Thread(target=self._pump, args=(read_fd,), name="signal-wakeup",
                                daemon=True)
        pump.start()
        previous = {
            signal.SIGTERM: signal.signal(signal.SIGTERM, self._on_stop),
            signal.SIGINT: signal.signal(signal.SIGINT, self._on_stop),
            signal.SIGHUP: signal.signal(signal.SIGHUP, self._on_hup),
        }
        try:
            yield self
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            signal.set_wakeup_fd(previous_fd)
            os.close(write_fd)  # the pump reads EOF and ends
            pump.join(timeout=5)
            os.close(read_fd)
