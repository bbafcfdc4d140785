"""The Redis backend in figures, in one run: append → Secret latency with the state file and
with Redis, three instances redeeming 1,000 codes against one Redis with no double call,
and optionally a Redis outage under the three instances.

Usage: .venv/bin/python bench/redis_fleet.py [--latency-codes N] [--fleet-codes N]
                                             [--outage SECONDS] [--only latency|fleet|outage]

Needs redis-server (the Debian package); starts its own on a free loopback port in a
temporary directory. Targets (issue 18): Redis adds at most 5 ms at p95 on loopback;
0 double calls.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis

from iotwx_watch.sim.server import WeComSimulator, auth_code_xml, ticket_xml
from iotwx_watch.state.model import FINAL_STATUSES
from iotwx_watch.state.parts import Part
from iotwx_watch.state.redis_layout import Keys

SUITE = "dkBench0000000001"
SECRET = "bench-secret-0001"
PASSWORD = "bench-redis-password"
PREFIX = "bench"
BINARY = str(Path(sys.executable).with_name("iotwx-watch"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Redis:
    """A private redis-server: loopback, appendonly, a password."""

    def __init__(self, root: Path) -> None:
        self.root, self.port = root, free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, password=PASSWORD)

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is not installed (apt-get install redis-server)")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.root),
             "--appendonly", "yes", "--save", "", "--requirepass", PASSWORD,
             "--logfile", str(self.root / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait(lambda: self._ping(), 15, "redis-server to start")

    def _ping(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
            self.process = None


def wait(predicate: Callable[[], object], timeout: float, what: str,
         poll_s: float = 0.0005, alive: list[Instance] | None = None) -> None:
    """Poll until ``predicate()``; stop with a message on timeout or a dead instance."""
    deadline = time.monotonic() + timeout
    while not predicate():
        dead = [one.root.name for one in alive or () if one.process is not None
                and one.process.poll() is not None]
        if dead or time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}" if not dead
                             else f"instance(s) {dead} exited while waiting for {what}")
        time.sleep(poll_s)


class Instance:
    """One `iotwx-watch run` with its own logs and state directory."""

    def __init__(self, root: Path, sim: WeComSimulator, name: str, state: str) -> None:
        self.root = root / name
        self.root.mkdir(parents=True)
        self.log = self.root / "receive.log"
        self.log.touch()
        self.state_file = self.root / "state" / "state.json"
        self.config = self.root / "config.toml"
        self.config.write_text(
            f'state_file = "{self.state_file}"\nstate = "{state}"\npoll_interval_s = 0.5\n'
            f'[redis]\nprefix = "{PREFIX}"\ninstance = "{name}"\n'
            f'[wecom]\nbase_url = "{sim.base_url}"\ntimeout_s = 5\n'
            f'[[suite]]\nsuite_id = "{SUITE}"\nsuite_secret = "{SECRET}"\n'
            f'[[source]]\nkind = "callback"\npath = "{self.log}"\n')
        self.output = (self.root / "daemon.out").open("w")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [BINARY, "--config", str(self.config), "--log-level", "warning", "run"],
            stdout=self.output, stderr=subprocess.STDOUT,
            env={**os.environ, "IOTWX_WATCH_REDIS_PASSWORD": PASSWORD})

    def wait_ready(self) -> None:
        """Until the first batch was saved (the local file, or the state file)."""
        local = self.state_file.with_name("state.local.json")
        wait(lambda: local.exists() or self.state_file.exists(), 30, f"{self.root} ready",
             poll_s=0.01, alive=[self])

    def append(self, text: str) -> None:
        with self.log.open("a") as handle:
            handle.write(text)

    def stop(self) -> int:
        assert self.process is not None
        self.process.terminate()
        return self.process.wait(timeout=60)


def corp_in_file(state_file: Path, corpid: str) -> bool:
    try:
        text = state_file.read_text(encoding="utf-8")
    except OSError:
        return False
    return f'"{corpid}"' in text and '"permanent_code"' in text.split(f'"{corpid}"', 1)[1][:400]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def latency(root: Path, sim: WeComSimulator, server: Redis, codes: int) -> None:
    """append → Secret, file and Redis, alternating code by code so both see the same load."""
    file_one = Instance(root / "lat", sim, "file", "file")
    redis_one = Instance(root / "lat", sim, "redis", server.url)
    client = server.client()
    corps_key = Keys(PREFIX).of(Part("entry", SUITE, "corps"))
    now = int(time.time())
    ticket = sim.push_ticket(SUITE, timestamp=now)
    for one in (file_one, redis_one):
        one.append(ticket_xml(SUITE, ticket, now) + "\n")
        one.start()
    for one in (file_one, redis_one):
        one.wait_ready()
    seen: dict[str, list[float]] = {"file": [], "redis": []}
    checks: dict[str, Callable[[str], bool]] = {
        "file": lambda corpid: corp_in_file(file_one.state_file, corpid),
        "redis": lambda corpid: bool(client.hexists(corps_key, corpid)),
    }
    for n in range(codes):
        for name, one in (("file", file_one), ("redis", redis_one)):
            corpid = f"wwlat{name}{n:08d}"
            code = sim.issue_auth_code(SUITE, corpid, timestamp=int(time.time()))
            record = auth_code_xml(SUITE, code, "create_auth", int(time.time()), None) + "\n"
            start = time.perf_counter()
            one.append(record)
            check = checks[name]
            wait(lambda: check(corpid), 20, corpid)  # noqa: B023  (called at once)
            seen[name].append((time.perf_counter() - start) * 1000)
    for one in (file_one, redis_one):
        one.stop()
    print(f"append → Secret, {codes} codes each, one instance, inotify, loopback:")
    for name, values in seen.items():
        print(f"  {name:5}  p50 {statistics.median(values):6.1f} ms   "
              f"p95 {percentile(values, 0.95):6.1f} ms   max {max(values):6.1f} ms")
    extra = percentile(seen["redis"], 0.95) - percentile(seen["file"], 0.95)
    print(f"  Redis adds {extra:+.1f} ms at p95 (target ≤ +5 ms)")


def fleet(root: Path, sim: WeComSimulator, server: Redis, codes: int,
          outage_s: float = 0.0) -> None:
    """Three instances; each code is appended to two or three of the logs (random order);
    the ticket to one. With ``outage_s``: Redis is stopped for that long halfway through."""
    rng = random.Random(18)
    names = ("a", "b", "c")
    tag = "out" if outage_s else "fleet"
    instances = [Instance(root / tag, sim, name, server.url) for name in names]
    server.client().flushall()
    now = int(time.time())
    ticket = sim.push_ticket(SUITE, timestamp=now)
    instances[0].append(ticket_xml(SUITE, ticket, now) + "\n")
    for one in instances:
        one.start()
    for one in instances:
        one.wait_ready()
    calls_before = len(sim.calls_to("get_permanent_code"))
    started = time.monotonic()
    corpids = []
    for n in range(codes):
        if outage_s and n == codes // 2:
            server.stop()
            print(f"  Redis stopped after {n} codes, for {outage_s:.0f} s", flush=True)
            down_until = time.monotonic() + outage_s
        corpid = f"ww{tag}{n:010d}"
        corpids.append(corpid)
        code = sim.issue_auth_code(SUITE, corpid, timestamp=int(time.time()))
        record = auth_code_xml(SUITE, code, "create_auth", int(time.time()), None) + "\n"
        for one in rng.sample(instances, rng.choice((2, 3))):
            one.append(record)
        if outage_s and n == codes - 1:
            time.sleep(max(0.0, down_until - time.monotonic()))
            server.start()
            print("  Redis started again (appendonly: the data from before is back)",
                  flush=True)
    client = server.client()
    keys = Keys(PREFIX)
    corps_key = keys.of(Part("entry", SUITE, "corps"))
    codes_key = keys.of(Part("entry", SUITE, "auth_codes"))

    def settled() -> bool:
        """Every code has its final status in Redis (redeemed, or failed/expired)."""
        blobs = client.hvals(codes_key)
        return len(blobs) >= codes and all(
            json.loads(blob)["status"] in FINAL_STATUSES for blob in blobs)

    wait(settled, 900, "every code final in Redis", poll_s=0.2, alive=instances)
    elapsed = time.monotonic() - started
    exits = [one.stop() for one in instances]
    calls = sim.calls_to("get_permanent_code")[calls_before:]
    refused = sum(1 for call in calls if call.errcode == 40078)
    missing = [c for c in corpids if not client.hexists(corps_key, c)]
    double = len(calls) - codes
    what = f"{outage_s:.0f} s Redis outage" if outage_s else "no outage"
    print(f"3 instances × {codes} codes ({what}): {len(calls)} get_permanent_code calls, "
          f"{double} double, {refused} answered 40078, {len(missing)} corps missing, "
          f"{elapsed:.1f} s, exits {exits}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency-codes", type=int, default=200)
    parser.add_argument("--fleet-codes", type=int, default=1000)
    parser.add_argument("--outage", type=float, default=0.0, help="seconds; 0: no outage run")
    parser.add_argument("--only", choices=["latency", "fleet", "outage"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, WeComSimulator() as sim:
        root = Path(tmp)
        sim.add_suite(SUITE, SECRET)
        server = Redis(root / "redis")
        (root / "redis").mkdir()
        server.start()
        try:
            if args.only in (None, "latency"):
                latency(root, sim, server, args.latency_codes)
            if args.only in (None, "fleet"):
                fleet(root, sim, server, args.fleet_codes)
            if args.outage and args.only in (None, "outage"):
                fleet(root, sim, server, min(args.fleet_codes, 100), outage_s=args.outage)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
