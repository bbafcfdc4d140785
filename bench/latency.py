"""Benchmark: append → delivered latency of Follower + Wakeup, and RSS while data flows.

A separate writer process appends timestamped lines (opening with O_APPEND per line,
like the PHP callback script) at a fixed rate; this process runs the daemon's loop
(``follower.read()`` then ``wakeup.wait(poll_interval_s)``) and measures, per line,
delivery time minus write time (CLOCK_REALTIME on both sides). Reported per backend:
p50 / p99 / max. Target: inotify p99 < 50 ms. Then a bulk writer pushes ``--bulk-mb``
through one follower while RSS is sampled; RSS should stay flat (bounded by
max_read_bytes), not grow with the data.

    .venv/bin/python bench/latency.py [--lines 500] [--rate 200] [--bulk-mb 1024]
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

from iotwx_watch.follow.follower import Follower
from iotwx_watch.run.wakeup import Wakeup

WRITER = """
import os, sys, time
path, n, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
start = time.monotonic()
for i in range(n):
    target = start + i / rate
    while time.monotonic() < target:
        time.sleep(max(0.0, target - time.monotonic()))
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, b"%d %d callback noise payload\\n" % (i, time.time_ns()))
    os.close(fd)
"""

BULK_WRITER = """
import os, sys
path, total = sys.argv[1], int(sys.argv[2])
block = (b"x" * 199 + b"\\n") * 5000
fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
written = 0
while written < total:
    os.write(fd, block)
    written += len(block)
os.close(fd)
"""
GENERATION_MB = 64


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def latency_run(backend: str, lines: int, rate: float, poll_interval_s: float) -> list[float]:
    """Latencies in ms for ``lines`` lines written at ``rate`` per second."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "receive.log"
        wakeup = Wakeup([str(path)], mode=backend, poll_interval_s=poll_interval_s)  # type: ignore[arg-type]
        wakeup.start()
        follower = Follower(str(path), cursor=None)
        latencies: list[float] = []
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(lines), str(rate)])
        deadline = time.monotonic() + lines / rate + 30
        try:
            while len(latencies) < lines and time.monotonic() < deadline:
                for chunk in follower.read():
                    now = time.time_ns()
                    for line in chunk.data.splitlines():
                        latencies.append((now - int(line.split()[1])) / 1e6)
                wakeup.wait(poll_interval_s)
        finally:
            writer.wait()
            follower.close()
            wakeup.stop()
        return latencies


def report(backend: str, latencies: list[float], expected: int) -> None:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f"{backend:8s} lines={len(ordered)}/{expected} p50={p50:8.2f} ms "
          f"p99={p99:8.2f} ms max={ordered[-1]:8.2f} ms")


def bulk_run(total_mb: int) -> None:
    """Push ``total_mb`` through one follower in 64 MiB generations rotated by rename.

    A writer process appends one generation while the follower reads; then the file is
    renamed over ``receive.log.1`` (so the disk holds at most two generations) and the
    next generation starts. Prints throughput and RSS samples.
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "receive.log"
        wakeup = Wakeup([str(path)], mode="inotify", poll_interval_s=2.0)
        wakeup.start()
        follower = Follower(str(path), cursor=None, rotate_settle_s=0.0)
        generation = GENERATION_MB << 20
        delivered = 0
        samples: list[float] = [rss_mb()]
        marks: list[float] = []  # RSS after each generation
        t0 = time.monotonic()
        try:
            for gen in range(max(1, total_mb // GENERATION_MB)):
                writer = subprocess.Popen(
                    [sys.executable, "-c", BULK_WRITER, str(path), str(generation)])
                target = (gen + 1) * generation
                while delivered < target:
                    for chunk in follower.read(max_bytes=8 << 20):
                        delivered += len(chunk.data)
                    samples.append(rss_mb())
                    if delivered < target:
                        wakeup.wait(0.05)
                writer.wait()
                os.replace(path, path.with_name("receive.log.1"))
                marks.append(rss_mb())
        finally:
            follower.close()
            wakeup.stop()
        elapsed = time.monotonic() - t0
        written = sum(os.stat(p).st_size for p in [path.with_name("receive.log.1")])
        print(f"bulk     delivered={delivered / 2**20:.0f} MiB "
              f"(last generation {written / 2**20:.0f} MiB on disk) "
              f"(rotations={follower.stats['rotations']}) in {elapsed:.1f} s "
              f"= {delivered / 2**20 / elapsed:.0f} MiB/s; RSS start={samples[0]:.1f} MB "
              f"max={max(samples):.1f} MB end={samples[-1]:.1f} MB")
        print("bulk     RSS after each 64 MiB generation (MB): "
              + " ".join(f"{m:.0f}" for m in marks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=500)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--poll-interval", type=float, default=2.0)
    parser.add_argument("--bulk-mb", type=int, default=1024)
    parser.add_argument("--backends", default="inotify,poll,timer")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"{args.lines} lines at {args.rate}/s, poll_interval_s={args.poll_interval}")
    for backend in args.backends.split(","):
        latencies = latency_run(backend, args.lines, args.rate, args.poll_interval)
        report(backend, latencies, args.lines)
    if args.bulk_mb:
        bulk_run(args.bulk_mb)


if __name__ == "__main__":
    main()
