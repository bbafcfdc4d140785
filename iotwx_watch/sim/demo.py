"""`iotwx-watch demo`: the whole pipeline on the bundled sample logs, against the simulator.

The samples were written at fixed times, so the demo replays them with a clock set just
after their newest auth code (``replay_delay_s`` in ``demo-world.toml``); the simulator
is told which corp each code belongs to. Everything else is the production path:
follower, extractor, engine, WeCom client over loopback HTTP, state store, health.
"""

from __future__ import annotations

import json
import shutil
import time
import tomllib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iotwx_watch import bundled
from iotwx_watch.config import Config, parse_config
from iotwx_watch.errors import ConfigError
from iotwx_watch.events import AuthChange, AuthCode, SuiteTicket
from iotwx_watch.report.health import HealthReport, assess_deployment
from iotwx_watch.run.daemon import run_once
from iotwx_watch.run.hooks import BatchHooks
from iotwx_watch.run.reader import iter_file_events
from iotwx_watch.sim.server import WeComSimulator
from iotwx_watch.state.store import StateStore

DEMO_SOURCES = (
    ("callback", "receive.log"),
    ("callback", "receive_encrypted.log"),
    ("policy_engine", "policy_engine.log"),
)


@dataclass(frozen=True)
class DemoResult:
    exit_code: int
    health: HealthReport
    calls: Counter[str]
    config: Config
    replay_at: float


def default_samples_dir() -> Path:
    """The bundled sample_logs/ (installed with the package, or the checkout's)."""
    return bundled("sample_logs")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"demo: cannot read {path}: {exc}") from exc


def demo_config(samples: Path, workdir: Path, base_url: str) -> Config:
    """The sample config with the copied logs, a fresh state file and the simulator's URL."""
    data = _read_toml(samples / "iotwx-watch.toml")
    data["state_file"] = str(workdir / "state" / "state.json")
    data["wecom"] = {"base_url": base_url, "timeout_s": 5}
    data["source"] = [{"kind": kind, "path": str(workdir / name)} for kind, name in DEMO_SOURCES]
    return parse_config(data, path=str(samples / "iotwx-watch.toml"))


def _toml_value(value: object) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    return str(value)


def write_demo_config(config: Config, path: Path) -> None:
    """The demo's config as a file, so `iotwx-watch --config PATH status` works afterwards."""
    lines = [f"state_file = {_toml_value(config.state_file)}", "", "[wecom]",
             f"base_url = {_toml_value(config.wecom.base_url)}", ""]
    for suite in config.suites:
        lines.append("[[suite]]")
        for key in ("suite_id", "suite_secret", "token", "encoding_aes_key"):
            value = getattr(suite, key)
            if value is not None:
                lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    for source in config.sources:
        lines += ["[[source]]", f"kind = {_toml_value(source.kind)}",
                  f"path = {_toml_value(source.path)}", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    path.chmod(0o600)


def _stage_world(sim: WeComSimulator, config: Config, world: dict[str, Any]) -> float:
    """Register suites, the samples' tickets and codes with the simulator; return replay time."""
    for suite in config.suites:
        if suite.suite_secret:
            sim.add_suite(suite.suite_id, suite.suite_secret)
    owners = {
        code: corp for corp in world.get("corp", []) for code in corp.get("auth_codes", [])
    }
    newest_code = 0
    for source in config.sources:
        for event in iter_file_events(source.path, source.kind, config=config):
            if isinstance(event, SuiteTicket):
                sim.accept_ticket(event.suite_id, event.suite_ticket, event.timestamp)
            elif isinstance(event, AuthChange) and event.info_type == "cancel_auth":
                sim.cancel_auth(event.corpid)  # so WeCom confirms the logged cancel
            elif isinstance(event, AuthCode) and event.auth_code in owners:
                corp = owners[event.auth_code]
                sim.accept_auth_code(
                    event.suite_id,
                    event.auth_code,
                    corp["corpid"],
                    corp_name=corp["corp_name"],
                    agentid=int(corp["agentid"]),
                    info_type=event.info_type,
                    timestamp=event.timestamp,
                    state=event.state,
                )
                newest_code = max(newest_code, event.timestamp)
    return float(newest_code + int(world.get("replay_delay_s", 20)))


def run_demo(samples: Path, workdir: Path) -> DemoResult:
    """Copy the samples into ``workdir`` and run one `once` pass over them."""
    for _, name in DEMO_SOURCES:
        try:
            shutil.copyfile(samples / name, workdir / name)
        except OSError as exc:
            raise ConfigError(f"demo: cannot copy {samples / name}: {exc.strerror}") from exc
    world = _read_toml(samples / "demo-world.toml")
    with WeComSimulator() as sim:
        config = demo_config(samples, workdir, sim.base_url)
        replay_at = _stage_world(sim, config, world)
        offset = replay_at - time.time()
        clock: Callable[[], float] = lambda: time.time() + offset  # noqa: E731
        write_demo_config(config, workdir / "config.toml")
        exit_code = run_once(config, BatchHooks(batch=[], on_outcome=None), clock=clock)
        calls = Counter(call.endpoint for call in sim.calls)
    state = StateStore(config.state_file).load()
    now = clock()
    report = assess_deployment(config, state, now=now)
    return DemoResult(exit_code, report, calls, config, replay_at)
