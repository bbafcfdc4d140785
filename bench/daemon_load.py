"""The daemon on a busy log: CPU of `iotwx-watch run` while receive.log takes N noise lines
a second, and append → Secret in the state file meanwhile; optionally with a state of
10,000 corps (its size and the time one save takes are printed too).

A writer process appends the noise one line per write (O_APPEND, as nginx and PHP
write), in bursts every millisecond; every ``--code-every`` seconds the bench appends a
create_auth record for a fresh corp (issued by the simulator, on loopback) and times
until the corp's permanent code is in the state file. The daemon's CPU is read from
/proc/<pid>/stat (user + system) over the measured window, after its catch-up.

    .venv/bin/python bench/daemon_load.py                       # 5,000 lines/s, 20 s
    .venv/bin/python bench/daemon_load.py --corps 10000 --rate 0 --codes 40

``BENCH_WRAP="python profile_wrapper.py"`` runs the daemon under a wrapper (a profiler).
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

from noise import access_line, php_line
from state_codec import make_state

from iotwx_watch.sim.server import WeComSimulator, auth_code_xml, ticket_xml

SUITE = "dkBench0000000001"
SECRET = "bench-secret-0001"
T_CHANGE = 1795852800  # the change_auth times set on a corp between timed saves
TICKS = os.sysconf("SC_CLK_TCK")

WRITER = """
import os, sys, time
path, rate, seconds, lines = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
start = time.monotonic()
sent = 0
encoded = [line.encode() + b"\\n" for line in lines]
while True:
    now = time.monotonic() - start
    if now >= seconds:
        break
    due = int(now * rate)
    while sent < due:
        os.write(fd, encoded[sent % len(encoded)])
        sent += 1
    time.sleep(0.001)
os.close(fd)
print(sent)
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


_seen: dict[Path, int] = {}


def corp_in_state(state_file: Path, corpid: str) -> bool:
    """Whether the corp (and so its Secret: both come in one write) is in the state file.

    Read only when its mtime changed, and a substring test, not a JSON parse: reading a
    3.6 MB state on every poll would take the CPU the daemon needs on a 2-core host."""
    try:
        stamp = state_file.stat().st_mtime_ns
        if _seen.get(state_file) == stamp:
            return False
        found = f'"{corpid}": {{'.encode() in state_file.read_bytes()
    except OSError:
        return False
    if not found:
        _seen[state_file] = stamp
    return found


def wait(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.001)


def big_state(path: Path, corps: int) -> None:
    """A state of ``corps`` corps whose first suite is the bench's suite."""
    doc = make_state(corps)
    first = next(iter(doc["suites"]))
    doc["suites"][SUITE] = doc["suites"].pop(first)
    doc["sources"] = {}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2))
    path.chmod(0o600)


class Laps:
    """Milliseconds per named step, each step timed from the end of the one before."""

    def __init__(self) -> None:
        self.ms: dict[str, list[float]] = {}
        self._last = time.perf_counter()

    def start(self) -> None:
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.ms.setdefault(name, []).append((now - self._last) * 1000)
        self._last = now


def save_ms(state_file: Path, runs: int = 11) -> dict[str, float]:
    """Median ms of each part of one save as the daemon makes it, one corp changed before
    each: the memo's walk (what the store compares), the formatting, then the file steps
    of StateStore.save one by one (the same calls, timed apart), and the whole
    StateStore.save; also a plain encode (the first save after a start, memo empty) and a
    snapshot (what the first save after a load compares)."""
    from iotwx_watch.state.model import EncodeMemo, encode, encode_for_save, snapshot
    from iotwx_watch.state.store import StateStore

    laps = Laps()
    with tempfile.TemporaryDirectory(dir=state_file.parent) as tmp:
        directory = Path(tmp)
        store = StateStore(directory / "copy.json")
        bak, staging = directory / "copy.json.bak", directory / "copy.json.bak.new"
        state = StateStore(state_file).load()
        corp = next(iter(state.suites[SUITE].corps.values()))
        memo = EncodeMemo()
        encode(state, memo)
        store.save(state)
        for n in range(runs):
            corp.changed_at = float(T_CHANGE + n)
            laps.start()
            snapshot(state)
            laps.lap("snapshot")
            encode(state)
            laps.lap("encode without memo")
            _, file_bytes = encode_for_save(state, memo)
            laps.lap("walk (memo)")
            data = file_bytes(float(T_CHANGE))
            laps.lap("format")
            fd, name = tempfile.mkstemp(dir=directory)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                laps.lap("write")
                os.fsync(out.fileno())
                laps.lap("fsync")
            os.link(store.path, staging)
            laps.lap("bak link")
            os.replace(staging, bak)  # frees the previous .bak
            laps.lap("bak rename")
            os.replace(name, store.path)
            dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            os.fsync(dir_fd)
            os.close(dir_fd)
            laps.lap("rename + fsync dir")
            corp.changed_at = float(T_CHANGE + n) + 0.5
            laps.start()
            store.save(state, if_changed=True)
            laps.lap("StateStore.save")
            laps.start()
            store.save(state, if_changed=True)
            laps.lap("StateStore.save, unchanged")
    return {name: statistics.median(values) for name, values in laps.ms.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=5000, help="noise lines per second")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--codes", type=int, default=30)
    parser.add_argument("--code-every", type=float, default=0.5)
    parser.add_argument("--corps", type=int, default=0, help="corps in the state at start")
    parser.add_argument("--daemon-log", help="keep the daemon's debug log lines in this file")
    args = parser.parse_args()
    binary = str(Path(sys.executable).with_name("iotwx-watch"))
    import random

    rng = random.Random(5)
    lines = [access_line(rng) if n % 10 else php_line(rng) for n in range(2000)]
    with tempfile.TemporaryDirectory() as tmp, WeComSimulator() as sim:
        root = Path(tmp)
        log_file, state_file = root / "receive.log", root / "state" / "state.json"
        log_file.touch()
        if args.corps:
            big_state(state_file, args.corps)
        config = root / "config.toml"
        config.write_text(
            f'state_file = "{state_file}"\npoll_interval_s = 2\n'
            f'[wecom]\nbase_url = "{sim.base_url}"\n'
            f'[[suite]]\nsuite_id = "{SUITE}"\nsuite_secret = "{SECRET}"\n'
            f'[[source]]\nkind = "callback"\npath = "{log_file}"\n'
        )
        config.chmod(0o600)
        sim.add_suite(SUITE, SECRET)
        now = int(time.time())
        ticket = sim.push_ticket(SUITE, timestamp=now)
        with log_file.open("a") as handle:
            handle.write(ticket_xml(SUITE, ticket, now) + "\n")
        wrapper = os.environ.get("BENCH_WRAP", "").split()
        level = "debug" if args.daemon_log else "warning"
        daemon_log = Path(args.daemon_log or os.devnull)
        with daemon_log.open("w") as err:
            daemon = subprocess.Popen(
                [*wrapper, binary, "--config", str(config), "--log-format", "json",
                 "--log-level", level, "run"], stdout=subprocess.DEVNULL, stderr=err)
        latencies: list[float] = []
        try:
            wait(lambda: state_file.exists() and b'"sources": {}' not in state_file.read_bytes()
                 and str(log_file).encode() in state_file.read_bytes(), 60)
            time.sleep(1.0)  # the daemon's start is not what is measured
            writer = None
            if args.rate:
                writer = subprocess.Popen(
                    [sys.executable, "-c", WRITER, str(log_file), str(args.rate),
                     str(args.seconds), *lines], stdout=subprocess.PIPE, text=True)
            cpu0, t0 = cpu_seconds(daemon.pid), time.monotonic()
            for n in range(args.codes):
                if writer is not None and writer.poll() is not None:
                    break
                corpid = f"wwbench{n:010d}"
                code = sim.issue_auth_code(SUITE, corpid, timestamp=int(time.time()))
                record = auth_code_xml(SUITE, code, "create_auth", int(time.time()), None)
                started = time.perf_counter()
                fd = os.open(log_file, os.O_WRONLY | os.O_APPEND)
                os.write(fd, record.encode() + b"\n")
                os.close(fd)
                wait(lambda corpid=corpid: corp_in_state(state_file, corpid), 30)
                latencies.append((time.perf_counter() - started) * 1000)
                time.sleep(max(0.0, args.code_every - (time.perf_counter() - started)))
            if writer is not None:
                sent = int(writer.communicate(timeout=args.seconds + 30)[0].strip() or 0)
            else:
                sent = 0
            cpu1, t1 = cpu_seconds(daemon.pid), time.monotonic()
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
        size = state_file.stat().st_size
        save = save_ms(state_file)
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} CPUs")
    print(f"noise: {sent} lines in {t1 - t0:.1f} s ({sent / (t1 - t0):.0f} lines/s); "
          f"daemon CPU {100 * (cpu1 - cpu0) / (t1 - t0):.1f} % of a core")
    print(f"append -> secret (n={len(latencies)}): p50 {statistics.median(latencies):.1f} ms, "
          f"p99 {p99:.1f} ms, max {latencies[-1]:.1f} ms")
    print(f"state: {args.corps} corps at start, {size / 1e6:.2f} MB; one save, median ms: "
          + ", ".join(f"{name} {ms:.1f}" for name, ms in save.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
