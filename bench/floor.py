"""The least `parse` could cost on a big log: its start-up, then only the reads and the scan.

The catch-up targets compare `parse` and `once`, start-up included, with `grep -c` on the
same warm file. This bench measures the floor under them: a process that imports what
`parse` imports (the command line, the reader, the extractors and their regexes,
Hyperscan and its first database), then only reads the file in 2 MiB reads and scans
each with the callback triggers, with no framing, no extraction around the hits and no
output. Whatever `parse` does on top can only add to it.

    .venv/bin/python bench/floor.py                         # 64, 256, 1024 MiB, 9 runs
    .venv/bin/python bench/floor.py --bin /tmp/prod/bin/iotwx-watch --sizes 256

With ``--bin``, the floor runs in that installation's interpreter (the one next to it).
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

from noise import generate, warm

BIN = str(Path(sys.executable).with_name("iotwx-watch"))

# Run by the measured interpreter: argv[1] is the log.
FLOOR = """
import os, sys
import iotwx_watch.cli  # what `parse` imports before it reads
from iotwx_watch.extract import make_extractor
from iotwx_watch.extract.callback import KEYS, TRIGGERS
from iotwx_watch.extract.compiled_search import CompiledTriggers, load
from iotwx_watch.run.reader import tune_allocator
tune_allocator()
make_extractor("auto", path=sys.argv[1])
hyperscan = load()
if hyperscan is None:
    sys.exit("hyperscan cannot be imported here: no floor to measure")
triggers = CompiledTriggers(hyperscan, TRIGGERS, KEYS)
fd = os.open(sys.argv[1], os.O_RDONLY)
size, pos = os.fstat(fd).st_size, 0
while pos < size:
    buf = os.pread(fd, 2 << 20, pos)
    triggers.window(buf, 0, len(buf), len(buf))
    pos += len(buf)
"""


def timed(cmd: list[str]) -> float:
    # stdout to a file, not /dev/null: GNU grep stops at the first match when it sees that
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        subprocess.run(cmd, stdout=out, stderr=subprocess.DEVNULL, check=True)
        return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64,256,1024", help="MiB, comma-separated")
    parser.add_argument("--runs", type=int, default=9, help="median of N runs of each")
    parser.add_argument("--dir", default=None, help="where to write the logs (default: /tmp)")
    parser.add_argument("--bin", default=BIN, help="the iotwx-watch installation to measure")
    args = parser.parse_args()
    python = str(Path(args.bin).with_name("python"))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; median of {args.runs}")
    print(f"{'size':>9} | {'grep -c':>8} | {'floor':>17} | {'parse --stats':>17}")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for size_mb in (int(s) for s in args.sizes.split(",")):
            log = Path(tmp) / f"receive-{size_mb}.log"
            generate(log, size_mb)
            warm(log)
            commands = {
                "grep": ["grep", "-c", "suite_ticket", str(log)],
                "floor": [python, "-I", "-c", FLOOR, str(log)],  # -I: not this checkout
                "parse": [args.bin, "parse", "--stats", str(log)],
            }
            times: dict[str, list[float]] = {name: [] for name in commands}
            for _ in range(args.runs):
                for name, cmd in commands.items():
                    times[name].append(timed(cmd))
            m = {name: statistics.median(values) for name, values in times.items()}
            print(f"{size_mb:>5} MiB | {m['grep']:>6.3f} s | "
                  f"{m['floor']:>6.3f} s {m['floor'] / m['grep']:>5.2f}x | "
                  f"{m['parse']:>6.3f} s {m['parse'] / m['grep']:>5.2f}x")
            log.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
