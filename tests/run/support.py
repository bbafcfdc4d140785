"""Helpers for tests that run `iotwx-watch` as a real daemon process."""

from __future__ import annotations

import os
import signal
import subprocess
import time

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
