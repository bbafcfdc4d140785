"""Catch-up at grep speed in flat memory: `once`, `parse --stats` and `run` on big noisy logs.

For each size (default 64, 256 and 1024 MiB) it writes a receive.log of realistic noise
(bench/noise.py: nginx access lines with ``?auth_code=`` and ``msg_signature``, PHP
notices naming AuthCode, INFO/DEBUG/ERROR platform lines) with 300 callback records
spread through it, warms it into the page cache, then runs, interleaved, ``--runs``
times each:

- ``grep -c suite_ticket FILE`` (the yardstick);
- ``iotwx-watch parse --stats FILE``;
- ``iotwx-watch once`` with a fresh state (a config with the suite, the simulator on
  loopback and the sample config's kind of ``[[pattern]]``; the records' codes are
  old, so no WeCom call is made);
- ``iotwx-watch run`` with a fresh state, until its catch-up is done (``daemon.ready``),
  then SIGTERM (wall time not compared; peak RSS reported).

Wall times include each process's start-up; it prints the median of each and its ratio
to grep's, and each process's own peak RSS (``wait4``). Targets: ``once`` ≤ 2× grep,
``parse`` ≤ 1.5× grep on 256 MiB and 1 GiB; peak RSS ≤ 64 MB at every size.

    .venv/bin/python bench/scan.py                     # 64, 256, 1024 MiB, 5 runs
    .venv/bin/python bench/scan.py --sizes 256 --runs 3 --dir /tmp
    .venv/bin/python bench/scan.py --baseline 5c142b6    # and the tree before this work
    .venv/bin/python bench/scan.py --bin /tmp/prod/bin/iotwx-watch   # an operator's install
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from noise import SUITE, generate, warm

from iotwx_watch.sim.server import WeComSimulator

BIN = str(Path(sys.executable).with_name("iotwx-watch"))  # --bin: another installation
RECORDS = 300
PATTERN = r"ticket-push suite=(?P<suite_id>\S+) ticket=(?P<suite_ticket>\S+) ts=(?P<timestamp>\d+)"


def run(cmd: list[str], *, until: str | None = None) -> tuple[float, float, str, float]:
    """Run ``cmd``; return its wall time, its own peak RSS in MB, its stderr and its CPU
    seconds (user + system). With ``until``, stop it with SIGTERM once that text is on its
    stderr (a daemon)."""
    # stdout to a file, not /dev/null: GNU grep stops at the first match when it sees that
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(cmd, stdout=out, stderr=err)
        if until is not None:
            while True:
                err.seek(0)
                if until.encode() in err.read() or process.poll() is not None:
                    break
                time.sleep(0.01)
            elapsed = time.perf_counter() - started
            process.terminate()
        _, status, usage = os.wait4(process.pid, 0)
        if until is None:
            elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
    if process.returncode not in (0, 1):
        raise SystemExit(f"{cmd[1:]} exited {process.returncode}:\n{text[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024, text, usage.ru_utime + usage.ru_stime


def config_for(root: Path, log: Path, base_url: str) -> Path:
    config = root / "config.toml"
    config.write_text(
        f'state_file = "{root / "state" / "state.json"}"\n'
        f'[wecom]\nbase_url = "{base_url}"\n'
        f'[[suite]]\nsuite_id = "{SUITE}"\nsuite_secret = "bench-secret"\n'
        f'[[source]]\nkind = "callback"\npath = "{log}"\n'
        f"[[pattern]]\nkind = \"callback\"\nregex = '{PATTERN}'\ninfo_type = \"suite_ticket\"\n"
    )
    config.chmod(0o600)
    return config


def baseline_tree(rev: str, root: Path) -> list[str]:
    """The command that runs commit ``rev``'s CLI: its tree unpacked under ``root``, run
    by this interpreter ahead of the installed package."""
    tree = root / f"baseline-{rev}"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(Path(__file__).resolve().parent.parent),
                              "archive", rev],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    code = (f"import sys; sys.path.insert(0, {str(tree)!r}); "
            "from iotwx_watch.cli import main; sys.argv[0] = 'iotwx-watch'; main()")
    return [sys.executable, "-c", code]


def measure(root: Path, size_mb: int, runs: int, sim: WeComSimulator,
            baseline: list[str] | None, binary: str = BIN) -> dict[str, object]:
    log = root / f"receive-{size_mb}.log"
    generate(log, size_mb, records=RECORDS)
    warm(log)
    config = config_for(root, log, sim.base_url)
    state_dir = root / "state"
    grep = shutil.which("grep") or "grep"
    commands = {
        "grep": ([grep, "-c", "suite_ticket", str(log)], None),
        "parse": ([binary, "parse", "--stats", str(log)], None),
        "once": ([binary, "--config", str(config), "--log-format", "json", "once"], None),
        "run": ([binary, "--config", str(config), "--log-format", "json", "run"], "daemon.ready"),
    }
    if baseline is not None:
        commands["parse before"] = ([*baseline, "parse", "--stats", str(log)], None)
        commands["once before"] = (
            [*baseline, "--config", str(config), "--log-format", "json", "once"], None)
    times: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    rss: dict[str, float] = {name: 0.0 for name in commands}
    events = ""
    for _ in range(runs):
        for name, (cmd, until) in commands.items():
            shutil.rmtree(state_dir, ignore_errors=True)  # a fresh state every time
            seconds, peak, err, used = run(cmd, until=until)
            times[name].append(seconds)
            cpu[name].append(used)
            rss[name] = max(rss[name], peak)
            if name == "parse":
                events = " ".join(re.findall(r"^(events\.\S+\s+\d+)", err, re.M))
    size = log.stat().st_size
    log.unlink()
    medians = {name: statistics.median(values) for name, values in times.items()}
    cpu_medians = {name: statistics.median(values) for name, values in cpu.items()}
    return {"size": size, "medians": medians, "cpu": cpu_medians, "rss": rss, "events": events}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64,256,1024", help="MiB, comma-separated")
    parser.add_argument("--runs", type=int, default=5, help="median of N runs of each")
    parser.add_argument("--dir", default=None, help="where to write the logs (default: /tmp)")
    parser.add_argument("--baseline", metavar="REV",
                        help="also time `parse` and `once` of this commit (git archive)")
    parser.add_argument("--bin", default=BIN,
                        help="the iotwx-watch to time (default: this venv's); to time what "
                        "operators run, a venv with `pip install .` and no test extras")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp, WeComSimulator() as sim:
        sim.add_suite(SUITE, "bench-secret")
        baseline = baseline_tree(args.baseline, Path(tmp)) if args.baseline else None
        for size_mb in (int(s) for s in args.sizes.split(",")):
            rows.append(measure(Path(tmp), size_mb, args.runs, sim, baseline, args.bin))
    load = os.getloadavg()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; median of {args.runs}; LC_ALL="
          f"{os.environ.get('LC_ALL', '')!r} LANG={os.environ.get('LANG', '')!r}")
    print(f"{'size':>9} | {'grep -c':>8} | {'parse --stats':>22} | {'once (fresh state)':>22} | "
          f"{'run catch-up':>13} | peak RSS MB parse / once / run")
    for row in rows:
        m, rss = row["medians"], row["rss"]
        assert isinstance(m, dict) and isinstance(rss, dict)
        size = row["size"]
        assert isinstance(size, int)
        print(f"{size / 2**20:>5.0f} MiB | {m['grep']:>6.3f} s | "
              f"{m['parse']:>6.3f} s {m['parse'] / m['grep']:>5.2f}x grep | "
              f"{m['once']:>6.3f} s {m['once'] / m['grep']:>5.2f}x grep | "
              f"{m['run']:>11.3f} s | {rss['parse']:.0f} / {rss['once']:.0f} / {rss['run']:.0f}")
        c = row["cpu"]
        assert isinstance(c, dict)
        print(f"{'':>9}   CPU s (user + sys): grep {c['grep']:.3f}, parse {c['parse']:.3f} "
              f"({c['parse'] / c['grep']:.2f}x), once {c['once']:.3f} "
              f"({c['once'] / c['grep']:.2f}x)")
        print(f"{'':>9}   parse found: {row['events']} ({RECORDS} records written)")
        if "once before" in m:
            print(f"{'':>9}   before ({args.baseline}): parse {m['parse before']:.3f} s "
                  f"{m['parse before'] / m['grep']:.2f}x grep, {rss['parse before']:.0f} MB; "
                  f"once {m['once before']:.3f} s {m['once before'] / m['grep']:.2f}x grep, "
                  f"{rss['once before']:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
