"""End-to-end latency: an auth-code line appended to receive.log → the corp's Secret in
the state file, with `iotwx-watch run` active against the simulator on loopback.

Usage: .venv/bin/python bench/e2e.py [--codes N] [--watch auto|poll]
Prints p50 / p99 / max in milliseconds. Target (issue 4): p99 under 100 ms with inotify.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from iotwx_watch.sim.server import WeComSimulator, auth_code_xml, ticket_xml

SUITE = "dkBench0000000001"
SECRET = "bench-secret-0001"


def corp_in_state(state_file: Path, corpid: str) -> bool:
    try:
        data = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    corp = data.get("suites", {}).get(SUITE, {}).get("corps", {}).get(corpid)
    return bool(corp and corp.get("permanent_code"))


def wait(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.0005)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--codes", type=int, default=60)
    parser.add_argument("--watch", choices=["auto", "inotify", "poll"], default="auto")
    args = parser.parse_args()
    binary = str(Path(sys.executable).with_name("iotwx-watch"))
    with tempfile.TemporaryDirectory() as tmp, WeComSimulator() as sim:
        root = Path(tmp)
        log_file = root / "receive.log"
        state_file = root / "state.json"
        log_file.touch()
        config = root / "config.toml"
        config.write_text(
            f'state_file = "{state_file}"\nwatch = "{args.watch}"\npoll_interval_s = 2\n'
            f'[wecom]\nbase_url = "{sim.base_url}"\n'
            f'[[suite]]\nsuite_id = "{SUITE}"\nsuite_secret = "{SECRET}"\n'
            f'[[source]]\nkind = "callback"\npath = "{log_file}"\n'
        )
        sim.add_suite(SUITE, SECRET)
        now = int(time.time())
        ticket = sim.push_ticket(SUITE, timestamp=now)
        with log_file.open("a") as handle:
            handle.write(ticket_xml(SUITE, ticket, now) + "\n")
        daemon = subprocess.Popen(
            [binary, "--config", str(config), "--log-level", "warning", "run"],
            stdout=subprocess.DEVNULL,
            env={**os.environ},
        )
        try:
            wait(lambda: state_file.exists(), 20)
            latencies = []
            for n in range(args.codes):
                corpid = f"wwbench{n:010d}"
                code = sim.issue_auth_code(SUITE, corpid, timestamp=int(time.time()))
                record = auth_code_xml(SUITE, code, "create_auth", int(time.time()), None)
                start = time.perf_counter()
                with log_file.open("a") as handle:
                    handle.write(record + "\n")
                wait(lambda corpid=corpid: corp_in_state(state_file, corpid), 20)
                latencies.append((time.perf_counter() - start) * 1000)
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"e2e append→secret in state ({args.watch}, n={len(latencies)}): "
        f"p50 {statistics.median(latencies):.1f} ms, p99 {p99:.1f} ms, max {latencies[-1]:.1f} ms"
    )


if __name__ == "__main__":
    main()
