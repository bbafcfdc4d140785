"""Helpers for tests that run `iotwx-watch` as a real daemon process."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Workdir, wait_for


def corps(work: Workdir, suite_id: str) -> dict[str, dict[str, object]]:
    suites = work.state().get("suites", {})
    result: dict[str, dict[str, object]] = suites.get(suite_id, {}).get("corps", {})
    return result


def permanent_code_calls(work: Workdir) -> int:
    return sum(1 for call in work.sim.calls if "get_permanent_code" in call.endpoint)


class Daemon:
    """`iotwx-watch run` as a real process; its output goes to a file, never a pipe that
    could fill up and block it."""

    def __init__(self, work: Workdir, env: dict[str, str] | None = None) -> None:
        self.output = work.root / f"daemon-{time.monotonic_ns()}.out"
        with self.output.open("w") as out:
            self.process = subprocess.Popen(
                work.command("run"),
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **work.env, **(env or {})},
            )
        self.pid = self.process.pid

    def text(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self) -> None:
        """Block until the first catch-up is done and the signal handlers are in place."""
        wait_for(lambda: "daemon.ready" in self.text(), what="daemon.ready in the output")

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        self.process.send_signal(sig)
        code = self.process.wait(timeout=30)
        return code, self.text()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


class NotifyListener:
    """systemd's side of the notify socket: a thread reads every datagram as it comes, as
    systemd does (a full queue would make the daemon drop messages)."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.messages: list[str] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._closed.is_set():
            with contextlib.suppress(TimeoutError):
                self.messages.append(self.sock.recv(4096).decode())

    def wait_for(self, wanted: str, *, after: int = 0, timeout: float = 20) -> int:
        """Index of the first message from `after` on containing `wanted`."""

        def found() -> int | None:
            for index, message in enumerate(self.messages[after:], after):
                if wanted in message:
                    return index + 1  # truthy even for the first message
            return None

        return int(wait_for(found, timeout, f"notify message {wanted}")) - 1

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)
        self.sock.close()


@contextlib.contextmanager
def small_tmpfs(where: Path, size_kib: int = 512) -> Iterator[Path]:
    """A real, tiny filesystem to fill up; skipped where mounting is not allowed."""
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0700",
                           "tmpfs", str(where)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(directory: Path) -> list[Path]:
    """Write filler files until the filesystem says ENOSPC, down to the last byte."""
    fillers = [directory / "filler", directory / "filler-tail"]
    for path, block in zip(fillers, (65536, 1), strict=True):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * block)
        except OSError as exc:
            assert errno.ENOSPC == exc.errno
        finally:
            os.close(fd)
    return fillers
