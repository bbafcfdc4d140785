"""Tests for iotwx_watch.run.signals: real signals set flags and wake the loop from a thread."""

from __future__ import annotations

import os
import signal
import threading

from iotwx_watch.run.signals import SignalFlags


def test_signals_set_flags_and_wake() -> None:
    """SIGHUP asks for one reload, SIGTERM and SIGINT for a stop; each wakes the waiter."""
    woken = threading.Event()
    flags = SignalFlags(woken.set)
    with flags.installed():
        os.kill(os.getpid(), signal.SIGHUP)
        assert woken.wait(5)
        assert flags.take_reload()
        assert not flags.take_reload()
        assert not flags.stop_requested
        woken.clear()
        os.kill(os.getpid(), signal.SIGTERM)
        assert woken.wait(5)
        assert flags.stop_requested
    previous = signal.getsignal(signal.SIGTERM)
    assert previous is signal.SIG_DFL or callable(previous)
    assert previous != flags._on_stop


def test_handlers_are_restored() -> None:
    """Leaving the block restores the previous handlers and wake-up fd."""
    before = signal.getsignal(signal.SIGHUP)
    with SignalFlags(lambda: None).installed():
        assert before != signal.getsignal(signal.SIGHUP)
    assert before == signal.getsignal(signal.SIGHUP)
    assert -1 == signal.set_wakeup_fd(-1)
