"""Wake-up backends: events wake the loop, failures fall back to timer polling."""

from __future__ import annotations

import errno
import threading
import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs
from watchdog.observers.api import BaseObserver
from watchdog.observers.inotify import InotifyObserver

from iotwx_watch.run.wakeup import EVENTLESS_FS, Wakeup, fs_type, mount_fs_type


def wait_until_woken(wakeup: Wakeup, bound: float = 5.0) -> float:
    """Wait (bounded) for a wake-up; return the seconds it took."""
    t0 = time.monotonic()
    deadline = t0 + bound
    while time.monotonic() < deadline:
        if wakeup.wait(0.2):
            return time.monotonic() - t0
    pytest.fail("no wake-up within bound")


@pytest.mark.parametrize("mode", ["inotify", "poll"])
def test_append_wakes_the_loop(tmp_path: Path, mode: str) -> None:
    """Writing to a followed file wakes wait() before its timeout."""
    path = tmp_path / "receive.log"
    path.write_bytes(b"")
    wakeup = Wakeup([str(path)], mode=mode, poll_interval_s=0.1)  # type: ignore[arg-type]
    wakeup.start()
    try:
        assert mode == wakeup.backend
        while wakeup.wait(0.3):  # drain the creation event
            pass
        with open(path, "ab") as f:
            f.write(b"x\n")
        assert wait_until_woken(wakeup) < 5.0
    finally:
        wakeup.stop()


def test_unrelated_file_does_not_wake(tmp_path: Path) -> None:
    """Events on other names in the same directory are ignored."""
    path = tmp_path / "receive.log"
    wakeup = Wakeup([str(path)], mode="inotify")
    wakeup.start()
    try:
        (tmp_path / "other.txt").write_bytes(b"noise\n")
        assert not wakeup.wait(0.3)
    finally:
        wakeup.stop()


def test_missing_directory_is_watched_once_it_appears(tmp_path: Path) -> None:
    """A followed file in a directory created later still produces wake-ups."""
    path = tmp_path / "later" / "sub" / "receive.log"
    wakeup = Wakeup([str(path)], mode="inotify")
    wakeup.start()
    try:
        (tmp_path / "later").mkdir()
        wait_until_woken(wakeup)
        (tmp_path / "later" / "sub").mkdir()
        wait_until_woken(wakeup)
        while wakeup.wait(0.3):
            pass
        path.write_bytes(b"x\n")
        wait_until_woken(wakeup)
    finally:
        wakeup.stop()


def test_timer_backend_only_times_out_or_is_woken(tmp_path: Path) -> None:
    """The timer backend sees no events; wake() from another thread still works."""
    wakeup = Wakeup([str(tmp_path / "receive.log")], mode="timer")
    wakeup.start()
    assert "timer" == wakeup.backend
    assert not wakeup.wait(0.05)
    threading.Timer(0.05, wakeup.wake).start()
    assert wakeup.wait(5.0)


def test_inotify_limit_exhausted_falls_back_loudly(tmp_path: Path) -> None:
    """When the observer cannot start (ENOSPC), auto mode logs once and polls by timer."""

    def exhausted(backend: str) -> BaseObserver:
        raise OSError(errno.ENOSPC, "inotify watch limit reached")

    wakeup = Wakeup([str(tmp_path / "receive.log")], mode="auto", observer_factory=exhausted)
    with capture_logs() as logs:
        wakeup.start()
        assert wakeup.wait(0.0)  # woken: something may have been missed
        assert not wakeup.wait(0.0)
    assert "timer" == wakeup.backend
    assert ["wakeup.observer_failed"] == [e["event"] for e in logs]


def test_dead_observer_falls_back_once(tmp_path: Path) -> None:
    """If the observer thread dies, the next wait() falls back to the timer, logged once."""
    made: list[BaseObserver] = []

    def factory(backend: str) -> BaseObserver:
        made.append(InotifyObserver())
        return made[-1]

    wakeup = Wakeup([str(tmp_path / "receive.log")], mode="inotify", observer_factory=factory)
    wakeup.start()
    assert "inotify" == wakeup.backend
    made[0].stop()
    made[0].join(5)
    with capture_logs() as logs:
        wakeup.wait(0.0)
        wakeup.wait(0.0)
    assert "timer" == wakeup.backend
    assert ["wakeup.observer_failed"] == [e["event"] for e in logs]


MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 252:1 / / rw,relatime - ext4 /dev/vda rw
40 27 0:50 / /iotp/log rw,relatime - nfs4 10.0.0.5:/export/log rw,vers=4.2
41 27 0:51 / /home/docker-nginx/www rw,relatime - fuse.grpcfuse grpcfuse rw
"""


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/iotp/log/policy_engine.log", "nfs4"),
        ("/iotp/logs/other.log", "ext4"),
        ("/home/docker-nginx/www/wxcallback/basic/receive.log", "fuse.grpcfuse"),
        ("/var/log/x.log", "ext4"),
    ],
)
def test_fs_type_picks_the_longest_mount_point(path: str, expected: str) -> None:
    """The mount holding a path is the longest matching mount point, by whole components."""
    assert expected == mount_fs_type(path, MOUNTINFO)


def test_auto_uses_inotify_on_a_local_filesystem(tmp_path: Path) -> None:
    """On a local filesystem auto mode picks inotify."""
    wakeup = Wakeup([str(tmp_path / "receive.log")], mode="auto")
    wakeup.start()
    try:
        assert fs_type(str(tmp_path)) not in EVENTLESS_FS
        assert "inotify" == wakeup.backend
    finally:
        wakeup.stop()


def test_watch_paths_switches_to_a_new_directory(tmp_path: Path) -> None:
    """After watch_paths (config reload), events for the new path wake the loop."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    wakeup = Wakeup([str(tmp_path / "a" / "one.log")], mode="inotify")
    wakeup.start()
    try:
        wakeup.watch_paths([str(tmp_path / "b" / "two.log")])
        assert wakeup.wait(0.0)  # told to read the new set at once
        (tmp_path / "a" / "one.log").write_bytes(b"x\n")
        assert not wakeup.wait(0.3)
        (tmp_path / "b" / "two.log").write_bytes(b"x\n")
        wait_until_woken(wakeup)
    finally:
        wakeup.stop()


def test_observer_that_cannot_start_falls_back_loudly(tmp_path: Path) -> None:
    """An observer whose thread cannot start (EMFILE) is reported once; timer polling follows."""

    class Broken(InotifyObserver):
        def start(self) -> None:
            raise OSError(errno.EMFILE, "inotify instance limit reached")

    wakeup = Wakeup([str(tmp_path / "x.log")], mode="inotify",
                    observer_factory=lambda backend: Broken())
    with capture_logs() as logs:
        wakeup.start()
        wakeup.wait(0.0)
    assert "timer" == wakeup.backend
    assert [("wakeup.observer_failed", "inotify")] == [(e["event"], e["backend"]) for e in logs]
