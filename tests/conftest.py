"""Shared fixtures: a running WeCom simulator, a work directory with logs and a config,
and helpers to run `iotwx-watch` as a real process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from iotwx_watch.sim.server import WeComSimulator, auth_change_xml, auth_code_xml, ticket_xml
from tests.redis_server import RedisServer

# Real HTTP receivers (ok, failing, slow, down) for the notification tests.
pytest_plugins = ["tests.report.receiver"]

SUITE_A = "dkA1b2c3d4e5f6a7b8"
SUITE_B = "dkB1b2c3d4e5f6a7b8"
SECRETS = {SUITE_A: "sim-secret-aaaa-1111", SUITE_B: "sim-secret-bbbb-2222"}
BIN = str(Path(sys.executable).with_name("iotwx-watch"))
SIM_START = 1_800_000_000.0


@pytest.fixture(autouse=True)
def _logging_set_up_per_test() -> Iterator[None]:
    """A command run in-process (CliRunner) sets up logging for the whole process, at its
    level; the next test must not inherit it (``capture_logs`` keeps the level filter, so
    a later test's debug lines would vanish)."""
    yield
    import structlog

    structlog.reset_defaults()


class SimClock:
    """The simulator's clock, moved by tests instead of waiting."""

    def __init__(self) -> None:
        self.now = SIM_START

    def __call__(self) -> float:
        return self.now


def wait_for(condition: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def ticket_record(suite_id: str, ticket: str, timestamp: int) -> str:
    """A suite_ticket callback as the callback server's PHP script logs it."""
    return f"收到的id: {suite_id}\n{ticket_xml(suite_id, ticket, timestamp)}\n"


def auth_record(suite_id: str, code: str, timestamp: int, info_type: str = "create_auth") -> str:
    """A create_auth / reset_permanent_code callback, over several lines (one element each)."""
    xml = auth_code_xml(suite_id, code, info_type, timestamp)
    return f"收到的id: {suite_id}\n" + re.sub(r"(<xml>|</\w+>)", "\\1\n", xml)


def cancel_record(suite_id: str, corpid: str, timestamp: int) -> str:
    """A cancel_auth callback on one line, with no id line before it."""
    return auth_change_xml(suite_id, corpid, "cancel_auth", timestamp) + "\n"


def blocked_record(ip: str) -> str:
    """A policy_engine.log line for a 60020 refusal of `ip`."""
    return (
        '2026-11-28 14:00:00 ERROR wecom sync failed: {"errcode":60020,"errmsg":"not allow to '
        f'access from your ip, hint: [1688229570612130651539009], from ip: {ip}, more info at '
        'https://open.work.weixin.qq.com/devtool/query?e=60020"}\n'
    )


@dataclass
class Workdir:
    """A temporary deployment: two logs, a config pointing at the simulator, a state file."""

    root: Path
    sim: WeComSimulator
    extra_config: str = ""
    env: dict[str, str] = field(default_factory=dict)

    @property
    def receive_log(self) -> Path:
        return self.root / "receive.log"

    @property
    def policy_log(self) -> Path:
        return self.root / "policy_engine.log"

    @property
    def state_file(self) -> Path:
        return self.root / "state" / "state.json"

    @property
    def config_file(self) -> Path:
        return self.root / "config.toml"

    def write_config(
        self, extra: str = "", *, secrets: dict[str, str | None] | None = None
    ) -> Path:
        """The config; ``secrets`` replaces the suites' secrets (None: a suite without one)."""
        chosen = SECRETS if secrets is None else secrets
        suites = "".join(
            f'[[suite]]\nsuite_id = "{sid}"\n'
            + (f'suite_secret = "{secret}"\n\n' if secret is not None else "\n")
            for sid, secret in chosen.items()
        )
        self.config_file.write_text(
            f'state_file = "{self.state_file}"\npoll_interval_s = 0.2\n{self.extra_config}{extra}\n'
            f'[wecom]\nbase_url = "{self.sim.base_url}"\ntimeout_s = 5\n\n{suites}'
            f'[[source]]\nkind = "callback"\npath = "{self.receive_log}"\n\n'
            f'[[source]]\nkind = "policy_engine"\npath = "{self.policy_log}"\n',
            encoding="utf-8",
        )
        self.config_file.chmod(0o600)
        return self.config_file

    def append(self, path: Path, text: str) -> None:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text)

    def log_authorization(self, corpid: str, suite_id: str = SUITE_A) -> tuple[str, str]:
        """A fresh ticket and a create_auth for `corpid`, issued by the simulator and
        appended to receive.log; returns (ticket, auth code)."""
        now = int(time.time())
        ticket = self.sim.push_ticket(suite_id, timestamp=now)
        code = self.sim.issue_auth_code(suite_id, corpid)
        self.append(self.receive_log, ticket_record(suite_id, ticket, now))
        self.append(self.receive_log, auth_record(suite_id, code, now))
        return ticket, code

    def state(self) -> dict[str, Any]:
        if not self.state_file.exists():
            return {}
        data: dict[str, Any] = json.loads(self.state_file.read_text(encoding="utf-8"))
        return data

    def command(self, *args: str) -> list[str]:
        return [BIN, "--config", str(self.config_file), "--log-format", "json", *args]

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **self.env},
            check=False,
        )

    def start(self, *args: str, **kw: Any) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **self.env, **kw.pop("env", {})},
            **kw,
        )


@pytest.fixture
def sim() -> Iterator[WeComSimulator]:
    simulator = WeComSimulator()
    for suite_id, secret in SECRETS.items():
        simulator.add_suite(suite_id, secret)
    simulator.start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture
def clock() -> SimClock:
    """A simulator clock at SIM_START; a test moves it by setting ``now``."""
    return SimClock()


@pytest.fixture
def workdir(tmp_path: Path, sim: WeComSimulator) -> Workdir:
    work = Workdir(root=tmp_path, sim=sim)
    work.receive_log.touch()
    work.policy_log.touch()
    work.write_config()
    return work


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port, with a password and appendonly on."""
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()
