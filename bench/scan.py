"""Benchmark: `iotwx-watch parse --stats` against `grep -c` on a large, mostly-noise receive.log.

Generates (into bench/out/, gitignored) a receive.log of at least 256 MB of noise with
sparse callback records (four formats), then times, on the same warm file, `grep -c` for the
trigger words and `iotwx-watch parse --stats` (the venv's console script), prints the
ratio and the parse's peak RSS. Targets: ratio <= 2, peak RSS < 100 MB.

    .venv/bin/python bench/scan.py [--size-mb 256] [--runs 3] [--keep]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
BIN = str(Path(sys.executable).with_name("iotwx-watch"))
GREP_WORDS = ("InfoType", "Encrypt", "from ip")
SUITE = "dk7f3a9c2b41e05d68"
BLOCK_BYTES = 1024 * 1024
EVENT_EVERY_BLOCKS = 4  # one record per 4 MiB of noise: sparse, as in a real receive.log


def noise_block(rng: random.Random) -> bytes:
    """About 1 MiB of access-log, PHP-notice and app-debug lines (no trigger word)."""
    paths = ["/wxcallback/basic/receive.php", "/api/v1/devices", "/static/app.js", "/health"]
    agents = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64)", "curl/8.5.0", "WeCom/4.1 (Linux)"]
    lines: list[str] = []
    size = 0
    while size < BLOCK_BYTES:
        pick = rng.random()
        if pick < 0.7:
            ip = ".".join(str(rng.randint(1, 254)) for _ in range(4))
            clock = f"17:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
            line = (
                f'{ip} - - [28/Nov/2026:{clock} +0800] '
                f'"GET {rng.choice(paths)}?id={rng.getrandbits(40):x} HTTP/1.1" '
                f'{rng.choice((200, 200, 200, 304, 404))} {rng.randint(100, 9000)} "-" '
                f'"{rng.choice(agents)}"'
            )
        elif pick < 0.9:
            line = (
                f"[2026-11-28 17:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}] "
                f"PHP Outcome: Undefined index: user_{rng.getrandbits(24):x} in "
                f"/home/docker-nginx/www/wxcallback/basic/lib.php on line {rng.randint(1, 900)}"
            )
        else:
            line = (
                f"[2026-11-28 17:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}] debug "
                f"session={rng.getrandbits(64):016x} took={rng.random():.4f}s "
                f"rows={rng.randint(0, 99)}"
            )
        lines.append(line)
        size += len(line) + 1
    return ("\n".join(lines) + "\n").encode()


def record(n: int) -> bytes:
    """One callback record, in turn multi-line XML, one-line XML, JSON-escaped, PHP print_r."""
    ts = 1795856400 + n
    ticket = f"bench-ticket-{n:08d}"
    form = n % 4
    if form == 0:
        text = (
            f"[2026-11-28 17:00:00] 收到的id: {SUITE}\n<xml>\n"
            f"<SuiteId><![CDATA[{SUITE}]]></SuiteId>\n<InfoType><![CDATA[suite_ticket]]></InfoType>\n"
            f"<TimeStamp>{ts}</TimeStamp>\n<SuiteTicket><![CDATA[{ticket}]]></SuiteTicket>\n</xml>\n"
        )
    elif form == 1:
        text = (
            f"[2026-11-28 17:00:00] 收到的id: {SUITE}\n<xml><SuiteId><![CDATA[{SUITE}]]></SuiteId>"
            f"<AuthCode><![CDATA[bench-code-{n:08d}]]></AuthCode><InfoType><![CDATA[create_auth]]>"
            f"</InfoType><TimeStamp>{ts}</TimeStamp></xml>\n"
        )
    elif form == 2:
        text = (
            f'{{"time":"2026-11-28T17:00:00+08:00","body":"<xml><SuiteId>{SUITE}<\\/SuiteId>\\n'
            f"<InfoType>suite_ticket<\\/InfoType><TimeStamp>{ts}<\\/TimeStamp>"
            f'<SuiteTicket>{ticket}<\\/SuiteTicket><\\/xml>"}}\n'
        )
    else:
        text = (
            f"Array\n(\n    [SuiteId] => {SUITE}\n    [InfoType] => suite_ticket\n"
            f"    [TimeStamp] => {ts}\n    [SuiteTicket] => {ticket}\n)\n"
        )
    return text.encode()


def generate(path: Path, size_mb: int) -> int:
    """Write the log; return how many records (events) it holds."""
    rng = random.Random(20261128)
    blocks = [noise_block(rng) for _ in range(8)]
    written = records = 0
    with path.open("wb") as handle:
        n = 0
        while written < size_mb * 1024 * 1024:
            block = blocks[n % len(blocks)]
            handle.write(block)
            written += len(block)
            if n % EVENT_EVERY_BLOCKS == EVENT_EVERY_BLOCKS - 1:
                rec = record(records)
                handle.write(rec)
                written += len(rec)
                records += 1
            n += 1
    return records


def timed(
    cmd: list[str], *, stdout: int | None = None
) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    """Run ``cmd`` and return its wall-clock time and result."""
    started = time.perf_counter()
    done = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, check=False)
    return time.perf_counter() - started, done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3, help="take the best of N runs of each")
    parser.add_argument("--keep", action="store_true", help="keep the generated log")
    args = parser.parse_args()

    grep = shutil.which("grep")
    if grep is None:
        print("grep not found", file=sys.stderr)
        return 2
    OUT.mkdir(parents=True, exist_ok=True)
    log = OUT / "receive-bench.log"
    started = time.perf_counter()
    expected = generate(log, args.size_mb)
    size = log.stat().st_size
    print(f"generated {log} ({size / 1e6:.0f} MB, {expected} records) in "
          f"{time.perf_counter() - started:.1f}s")
    with log.open("rb") as handle:  # warm the page cache, so both tools read from memory
        while handle.read(8 << 20):
            pass

    grep_cmd = [grep, "-c", "-F", *(arg for w in GREP_WORDS for arg in ("-e", w)), str(log)]
    parse_cmd = [BIN, "parse", "--stats", str(log)]
    grep_times: list[float] = []
    parse_times: list[float] = []
    stats_text = ""
    for _ in range(args.runs):
        seconds, done = timed(grep_cmd, stdout=subprocess.PIPE)
        grep_times.append(seconds)
        grep_count = int(done.stdout.decode().strip() or 0)
        seconds, done = timed(parse_cmd, stdout=subprocess.DEVNULL)
        if done.returncode != 0:
            print(done.stderr.decode(), file=sys.stderr)
            return 1
        parse_times.append(seconds)
        stats_text = done.stderr.decode()
    peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    events = sum(int(n) for n in re.findall(r"^events\.\S+\s+(\d+)", stats_text, re.M))

    grep_best, parse_best = min(grep_times), min(parse_times)
    ratio = parse_best / grep_best
    print(f"locale: LC_ALL={os.environ.get('LC_ALL', '')!r} LANG={os.environ.get('LANG', '')!r}")
    print(f"grep -c -F {' '.join(repr(w) for w in GREP_WORDS)}: best {grep_best:.3f}s "
          f"of {args.runs} ({grep_count} matching lines)")
    print(f"iotwx-watch parse --stats: best {parse_best:.3f}s of {args.runs} "
          f"({size / 1e6 / parse_best:.0f} MB/s; {events} events, {expected} expected)")
    print(f"ratio parse/grep: {ratio:.2f} (target <= 2)")
    print(f"peak RSS of the children (parse; grep is smaller): {peak_rss_mb:.1f} MB "
          "(target < 100 MB)")
    print(stats_text.rstrip())
    if not args.keep:
        log.unlink()
    ok = ratio <= 2 and peak_rss_mb < 100 and events == expected
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
