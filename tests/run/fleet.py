"""Several `iotwx-watch run` processes sharing one Redis: each instance follows its own
receive.log and policy_engine.log, as servers behind a load balancer do."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iotwx_watch.config import Config, load_config
from iotwx_watch.engine.ledger import code_key
from iotwx_watch.sim.server import WeComSimulator
from iotwx_watch.state.backend import local_path, read_state
from iotwx_watch.state.model import AuthCodeEntry, State
from tests.conftest import SUITE_A, Workdir, wait_for
from tests.redis_server import PASSWORD, RedisServer
from tests.run.support import Daemon, permanent_code_calls

PREFIX = "fleet"


@dataclass
class Fleet:
    """Instances ``a``, ``b``, ``c`` (a workdir and a daemon each), one Redis, one simulator."""

    redis: RedisServer
    sim: WeComSimulator
    works: dict[str, Workdir] = field(default_factory=dict)
    daemons: dict[str, Daemon] = field(default_factory=dict)

    @classmethod
    def create(cls, root: Path, redis: RedisServer, sim: WeComSimulator,
               names: str = "abc") -> Fleet:
        fleet = cls(redis, sim)
        for name in names:
            work = Workdir(root=root / name, sim=sim)
            work.root.mkdir(parents=True)
            work.receive_log.touch()
            work.policy_log.touch()
            work.env["IOTWX_WATCH_REDIS_PASSWORD"] = PASSWORD
            work.write_config(f'state = "{redis.url}"\nstate_mirror = true\n\n'
                              f'[redis]\nprefix = "{PREFIX}"\ninstance = "{name}"\n')
            fleet.works[name] = work
        return fleet

    def start(self, *names: str) -> None:
        """Start the instances (all by default) and wait until each has caught up once."""
        chosen = names or tuple(self.works)
        for name in chosen:
            self.daemons[name] = Daemon(self.works[name])
        for name in chosen:
            self.daemons[name].wait_ready()

    def stop(self) -> dict[str, tuple[int, str]]:
        """SIGTERM every running instance; their exit codes and output."""
        return {name: daemon.stop() for name, daemon in self.daemons.items()
                if daemon.process.poll() is None}

    def kill_all(self) -> None:
        for daemon in self.daemons.values():
            daemon.kill()

    @property
    def config(self) -> Config:
        """A config for reading the shared state from this test process."""
        work = self.works["a"]
        return load_config(work.config_file, env={"IOTWX_WATCH_REDIS_PASSWORD": PASSWORD})

    def shared(self) -> State:
        """The document in Redis, as `state export` would print it."""
        return read_state(self.config)

    def entry(self, code: str) -> AuthCodeEntry | None:
        return self.shared().suite(SUITE_A).auth_codes.get(code_key(code))

    def corp_secret(self, corpid: str) -> str | None:
        corp = self.shared().suite(SUITE_A).corps.get(corpid)
        return corp.permanent_code if corp is not None else None

    def caught_up(self, *names: str) -> bool:
        """Each instance's saved position covers its whole receive.log: every line in it
        was handled and its results are in Redis (positions are written after them)."""
        for name in names or tuple(self.works):
            work = self.works[name]
            path = local_path(str(work.state_file))
            if not path.exists():
                return False
            sources = json.loads(path.read_text())["sources"]
            offset = sources.get(str(work.receive_log), {}).get("offset", -1)
            if offset != work.receive_log.stat().st_size:
                return False
        return True

    def wait_caught_up(self, *names: str, timeout: float = 30) -> None:
        wait_for(lambda: self.caught_up(*names), timeout, "every instance caught up")

    def redeem_calls(self) -> int:
        return permanent_code_calls(self.works["a"])

    def outputs(self) -> Iterator[tuple[str, str]]:
        for name, daemon in self.daemons.items():
            yield name, daemon.text()

    def events(self, event: str, **fields: str) -> list[tuple[str, dict[str, Any]]]:
        """Every log line (JSON) named ``event`` with these field values, by instance."""
        found = []
        for name, text in self.outputs():
            for line in text.splitlines():
                if event not in line:
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("event") == event and all(
                        record.get(key) == value for key, value in fields.items()):
                    found.append((name, record))
        return found
