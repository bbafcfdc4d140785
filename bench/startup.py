"""Start-up cost of the commands people and monitoring run most: `--help`, `--version`,
`check-config` and `status`, each in a fresh interpreter, against `python -c pass`.

Usage: .venv/bin/python bench/startup.py [--runs N]
Prints, per command, the median wall time in ms over N runs (default 10), the time
above the bare interpreter, the ratio to it, and the target where there is one
(`--help` ≤ 150 ms, `status` ≤ 250 ms). Runs are interleaved, so a burst of load on
a shared machine hits every command alike. `status` reads a small real deployment
(one suite with a fresh ticket, two logs); `check-config` reads its config.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from iotwx_watch.log import configure_logging
from iotwx_watch.state.model import State, TicketEntry
from iotwx_watch.state.store import StateStore

SUITE = "dkBench0000000001"
TARGETS_MS = {"--help": 150.0, "status": 250.0}


def deployment(root: Path) -> Path:
    """A config (mode 0600, so no warning), its two logs and a state with a fresh ticket."""
    receive, policy = root / "receive.log", root / "policy_engine.log"
    receive.write_text("", encoding="utf-8")
    policy.write_text("", encoding="utf-8")
    state_file = root / "state" / "state.json"
    config = root / "config.toml"
    config.write_text(
        f'state_file = "{state_file}"\n'
        f'[[suite]]\nsuite_id = "{SUITE}"\nsuite_secret = "bench-secret-0001"\n'
        f'[[source]]\nkind = "callback"\npath = "{receive}"\n'
        f'[[source]]\nkind = "policy_engine"\npath = "{policy}"\n',
        encoding="utf-8",
    )
    config.chmod(0o600)
    state = State()
    now = time.time()
    state.suite(SUITE).suite_ticket = TicketEntry("bench-ticket", int(now - 60), now - 60)
    StateStore(state_file).save(state)
    return config


def time_once(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    configure_logging("warning")  # the state file written below says nothing
    binary = str(Path(sys.executable).with_name("iotwx-watch"))
    with tempfile.TemporaryDirectory() as tmp:
        config = str(deployment(Path(tmp)))
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "--help": [binary, "--help"],
            "--version": [binary, "--version"],
            "check-config": [binary, "check-config", "--config", config],
            "status": [binary, "status", "--config", config],
        }
        for argv in commands.values():  # warm the page cache and the .pyc files
            time_once(argv)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, argv in commands.items():
                samples[name].append(time_once(argv))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    base = medians["python -c pass"]
    print(f"median of {args.runs} runs, {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}")
    print(f"{'command':<16}{'ms':>8}{'+ms':>8}{'ratio':>8}  target")
    for name, ms in medians.items():
        target = TARGETS_MS.get(name)
        verdict = ""
        if target is not None:
            verdict = f"≤ {target:.0f} ms {'ok' if ms <= target else 'MISSED'}"
        print(f"{name:<16}{ms:>8.1f}{ms - base:>8.1f}{ms / base:>7.1f}x  {verdict}")


if __name__ == "__main__":
    main()
