"""Fault soak: is every auth code still redeemed exactly once while the daemon is killed,
its state disk fills up and WeCom misbehaves?

`iotwx-watch run` runs as a real process against the bundled simulator on loopback. The
soak appends suite_ticket and auth-code callbacks to receive.log (some codes two or three
times, as WeCom retries a callback; some records in two writes), and meanwhile SIGKILLs
and restarts the daemon at random points: some kills land while get_permanent_code is in
flight (the simulator answers late to widen that window), some stops are a SIGTERM. It
fills the state's tmpfs to ENOSPC for a while and frees it, and makes WeCom answer -1 or
5xx, or time out. Everything is drawn from one seed and bounded in count and time.

At the end it lets the daemon settle, reconciles the simulator's record of calls with the
state file and `iotwx-watch status`, and prints one table. Exit 0 when no valid code went
unsent, none was sent twice, no Secret was lost other than to a kill, every outcome is
explained and no secret reached the daemon's log; 1 otherwise; 2 when it could not run.

    .venv/bin/python bench/soak.py [--kills 200] [--codes 500] [--seed 1] [--duration 1800]
        [--tmpfs-kib 4096 | --no-tmpfs] [--faults N] [--lost-answers N] [--keep DIR]

Codes and Secrets are never printed: a code appears as its ledger key.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iotwx_watch.engine.ledger import code_key
from iotwx_watch.errors import ERRCODE_ANSWER_LOST
from iotwx_watch.sim.server import SimCall, WeComSimulator, auth_code_xml, ticket_xml

BIN = str(Path(sys.executable).with_name("iotwx-watch"))
SUITES = {"dkSoakA000000000001": "soak-secret-aaaa-0001",
          "dkSoakB000000000002": "soak-secret-bbbb-0002"}
PERMANENT_CODE = "get_permanent_code"
SUITE_TOKEN = "get_suite_token"
TIMEOUT_S = 1.0  # the daemon's WeCom timeout: a late answer past it is a timeout
LATE_S = TIMEOUT_S + 0.4  # how late a "timeout" fault answers
TICKET_EVERY_S = 90.0  # fresh suite_tickets; WeCom pushes one every 10 minutes
FINAL = ("redeemed", "failed", "expired")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,}")


@dataclass(frozen=True)
class Options:
    kills: int
    codes: int
    seed: int
    duration: float
    tmpfs_kib: int  # 0: no tmpfs
    faults: int
    lost_answers: int
    fills: int
    settle_s: float
    keep: Path | None
    verbose: bool


@dataclass
class Code:
    """One auth code the soak issued; ``value`` is used for the leak check only."""

    key: str
    suite_id: str
    corpid: str
    timestamp: int
    value: str = field(repr=False)
    appended_at: float | None = None  # monotonic, the first complete record in the log
    appended_wall: float = 0.0


@dataclass(frozen=True)
class Stop:
    """How one daemon's life ended (wall clock, as the simulator records calls)."""

    at: float
    how: str  # "kill", "kill-inflight", "kill-early", "term", "crash"
    disk_full: bool
    exit_code: int | None


def log(opts: Options, text: str) -> None:
    if opts.verbose:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# -- the state directory on a small tmpfs ---------------------------------------------------


class Disk:
    """The state's filesystem: a real tmpfs that can be filled to ENOSPC and freed."""

    def __init__(self, where: Path, size_kib: int) -> None:
        self.where = where
        self.mounted = False
        self.skipped: str | None = None
        self.full_since: float | None = None
        self.fills = 0
        self._fillers: list[Path] = []
        where.mkdir(mode=0o700)
        if size_kib <= 0:
            self.skipped = "--no-tmpfs given"
            return
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0700", "tmpfs", str(where)],
            capture_output=True, text=True, check=False)
        if done.returncode != 0:
            self.skipped = f"cannot mount a tmpfs here ({done.stderr.strip() or 'mount failed'})"
        else:
            self.mounted = True

    @property
    def full(self) -> bool:
        return self.full_since is not None

    def fill(self) -> None:
        """Write filler files until the filesystem says ENOSPC, down to the last byte."""
        if not self.mounted or self.full:
            return
        self._fillers = [self.where / "filler", self.where / "filler-tail"]
        for path, block in zip(self._fillers, (65536, 1), strict=True):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                while True:
                    os.write(fd, b"\0" * block)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
            finally:
                os.close(fd)
        self.full_since = time.monotonic()
        self.fills += 1

    def free(self) -> None:
        for path in self._fillers:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        self._fillers = []
        self.full_since = None

    def close(self) -> None:
        self.free()
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.where)], check=False)
            self.mounted = False


# -- the daemon and what it wrote -----------------------------------------------------------


class Daemon:
    """`iotwx-watch run` as a real process; its output goes to a file of its own."""

    def __init__(self, config: Path, output: Path) -> None:
        self.output = output
        with output.open("w") as out:
            self.process = subprocess.Popen(
                [BIN, "--config", str(config), "--log-format", "json", "run"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        self.started = time.monotonic()

    def alive(self) -> bool:
        return self.process.poll() is None

    def ready(self) -> bool:
        try:
            return b'"daemon.ready"' in self.output.read_bytes()
        except OSError:
            return False

    def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if not self.alive() or time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def stop(self, sig: int) -> int:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=10)


class StateWatcher(threading.Thread):
    """Polls the state file and notes when each corp's Secret first appears in it."""

    def __init__(self, path: Path, period_s: float = 0.05) -> None:
        super().__init__(name="state-watcher", daemon=True)
        self.path = path
        self.period_s = period_s
        self.first_secret: dict[str, float] = {}  # corpid → monotonic
        self.latest: dict[str, Any] = {}
        self.unreadable = 0
        self.max_bytes = 0
        self._seen: tuple[int, int, int] | None = None
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.period_s):
            self.poll()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)
        self.poll()

    def poll(self) -> None:
        try:
            st = self.path.stat()
            seen = (st.st_ino, st.st_mtime_ns, st.st_size)
            if seen == self._seen:
                return
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        now = time.monotonic()
        try:
            data = json.loads(raw)
        except ValueError:
            self.unreadable += 1  # never expected: the file is replaced by a rename
            return
        self._seen = seen
        self.max_bytes = max(self.max_bytes, len(raw))
        self.latest = data
        for suite in data.get("suites", {}).values():
            for corpid, corp in suite.get("corps", {}).items():
                if corp.get("permanent_code") and corpid not in self.first_secret:
                    self.first_secret[corpid] = now


# -- the soak ---------------------------------------------------------------------------


class Soak:
    """Drives one deployment through the faults, then reconciles (see the module docstring)."""

    def __init__(self, opts: Options, root: Path, sim: WeComSimulator) -> None:
        self.opts = opts
        self.root = root
        self.sim = sim
        self.rng = random.Random(opts.seed)
        self.receive_log = root / "receive.log"
        self.receive_log.touch()
        self.disk = Disk(root / "state", opts.tmpfs_kib)
        self.state_file = root / "state" / "state.json"
        self.config = root / "config.toml"
        self.logs = root / "logs"
        self.logs.mkdir()
        self._write_config()
        self.watcher = StateWatcher(self.state_file)
        self.daemon: Daemon | None = None
        self.codes: list[Code] = []
        self.tickets: list[str] = []
        self.repeats: list[tuple[float, str]] = []  # (monotonic due, record): WeCom retries
        self.stops: list[Stop] = []
        self.starts = 0
        self.faults: Counter[str] = Counter()
        self.full_periods: list[tuple[float, float]] = []  # wall clock
        self._full_wall: float | None = None
        self._fill_until: float | None = None
        self._last_ticket = -math.inf
        self.started = time.monotonic()

    def _write_config(self) -> None:
        suites = "".join(f'[[suite]]\nsuite_id = "{sid}"\nsuite_secret = "{secret}"\n\n'
                         for sid, secret in SUITES.items())
        self.config.write_text(
            f'state_file = "{self.state_file}"\npoll_interval_s = 0.5\n\n'
            f'[wecom]\nbase_url = "{self.sim.base_url}"\ntimeout_s = {TIMEOUT_S}\n\n{suites}'
            f'[[source]]\nkind = "callback"\npath = "{self.receive_log}"\n', encoding="utf-8")
        self.config.chmod(0o600)

    # -- the log, as the callback server writes it --------------------------------------------
    def append(self, record: str, *, split: bool = False) -> None:
        """Append a record the way the PHP script does (open, write, close); ``split``
        writes it in two pieces with a pause, as a slow writer would."""
        pieces = [record]
        if split:
            cut = self.rng.randrange(1, len(record))
            pieces = [record[:cut], record[cut:]]
        for n, piece in enumerate(pieces):
            if n:
                time.sleep(self.rng.uniform(0.01, 0.2))
            with self.receive_log.open("a", encoding="utf-8") as handle:
                handle.write(piece)

    def push_tickets(self) -> None:
        now = int(time.time())
        for suite_id in SUITES:
            ticket = self.sim.push_ticket(suite_id, timestamp=now)
            self.tickets.append(ticket)
            record = f"收到的id: {suite_id}\n{ticket_xml(suite_id, ticket, now)}\n"
            self.append(record)
            if self.rng.random() < 0.2:
                self.repeats.append((time.monotonic() + self.rng.uniform(0, 5), record))
        self._last_ticket = time.monotonic()

    def issue_code(self) -> Code:
        """A code from the simulator, its callback appended; sometimes repeated later."""
        suite_id = self.rng.choice(list(SUITES))
        corpid = f"wwsoak{len(self.codes):010d}"
        now = int(time.time())
        value = self.sim.issue_auth_code(suite_id, corpid, timestamp=now)
        code = Code(code_key(value), suite_id, corpid, now, value)
        self.codes.append(code)
        xml = auth_code_xml(suite_id, value, "create_auth", now)
        record = f"收到的id: {suite_id}\n" + re.sub(r"(<xml>|</\w+>)", "\\1\n", xml)
        self.append(record, split=self.rng.random() < 0.1)
        code.appended_at, code.appended_wall = time.monotonic(), time.time()
        roll = self.rng.random()
        if roll < 0.1:
            self.append(record)  # WeCom's retry right behind the first
        if roll < 0.3:
            for _ in range(self.rng.choice((1, 1, 2))):
                self.repeats.append((time.monotonic() + self.rng.uniform(0.2, 8), record))
        return code

    # -- faults ---------------------------------------------------------------------------
    def maybe_fault(self) -> None:
        """At most ``--faults`` WeCom faults in all, ``--lost-answers`` of them answers lost."""
        if sum(self.faults.values()) >= self.opts.faults:
            return
        kinds = ["-1", "5xx", "timeout", "token"]
        if self.faults["lost answer"] < self.opts.lost_answers:
            kinds.append("lost answer")
        kind = self.rng.choice(kinds)
        if kind == "-1":
            self.sim.fail_next(PERMANENT_CODE, errcode=-1, times=self.rng.randint(1, 3))
        elif kind == "5xx":
            self.sim.fail_next(PERMANENT_CODE, http_status=self.rng.choice((500, 502, 503)),
                               times=self.rng.randint(1, 2))
        elif kind == "timeout":  # WeCom too slow to answer, the code not redeemed
            self.sim.fail_next(PERMANENT_CODE, errcode=-1, delay_s=LATE_S)
        elif kind == "lost answer":  # WeCom redeemed the code; its answer comes too late
            self.sim.fail_next(PERMANENT_CODE, delay_s=LATE_S)
        else:  # every token expired, and the first refetch fails
            self.sim.expire_tokens()
            self.sim.fail_next(SUITE_TOKEN, errcode=-1)
        self.faults[kind] += 1

    def fill_disk(self) -> None:
        if not self.disk.mounted or self.disk.full or self.disk.fills >= self.opts.fills:
            return
        self.disk.fill()
        self._full_wall = time.time()
        self._fill_until = time.monotonic() + self.rng.uniform(0.5, 4.0)
        log(self.opts, "disk full")

    def free_disk(self) -> None:
        if self.disk.full and self._full_wall is not None:
            self.disk.free()
            self.full_periods.append((self._full_wall, time.time()))
            self._full_wall = self._fill_until = None
            log(self.opts, "disk freed")

    # -- one turn of the loop -------------------------------------------------------------
    def step(self) -> None:
        """What is due now: free the disk, WeCom's repeats, a fresh ticket."""
        now = time.monotonic()
        if self._fill_until is not None and now >= self._fill_until:
            self.free_disk()
        due = [r for r in self.repeats if r[0] <= now]
        if due:
            self.repeats = [r for r in self.repeats if r[0] > now]
            for _, record in due:
                self.append(record)
        if now - self._last_ticket >= TICKET_EVERY_S:
            self.push_tickets()
        if self.daemon is not None and not self.daemon.alive():
            self._ended("crash", self.daemon.process.returncode)  # nobody stopped it

    def run_for(self, seconds: float, actions: list[tuple[float, Callable[[], object]]]) -> None:
        """Step for ``seconds``, doing each action at its offset from now."""
        start = time.monotonic()
        pending = sorted(actions, key=lambda a: a[0])
        while True:
            elapsed = time.monotonic() - start
            while pending and pending[0][0] <= elapsed:
                pending.pop(0)[1]()
            self.step()
            if elapsed >= seconds:
                break
            time.sleep(min(0.05, max(0.0, seconds - elapsed)))
        for _, action in pending:
            action()

    def start_daemon(self) -> Daemon:
        self.starts += 1
        self.daemon = Daemon(self.config, self.logs / f"run-{self.starts:04d}.log")
        return self.daemon

    def _ended(self, how: str, exit_code: int | None) -> None:
        self.stops.append(Stop(time.time(), how, self.disk.full, exit_code))
        log(self.opts, f"run {self.starts}: {how}, exit {exit_code}"
                       f"{', disk full' if self.disk.full else ''}")
        self.daemon = None

    def stop_daemon(self, how: str) -> None:
        daemon = self.daemon
        if daemon is None:
            return
        if not daemon.alive():
            self._ended("crash", daemon.process.returncode)
            return
        sig = signal.SIGTERM if how == "term" else signal.SIGKILL
        self._ended(how, daemon.stop(sig))

    @property
    def kills(self) -> int:
        return sum(1 for s in self.stops if s.how.startswith("kill"))

    def codes_for_this_life(self) -> int:
        """Spread ``--codes`` over the lives left, in uneven bursts."""
        left = self.opts.codes - len(self.codes)
        lives = max(1.0, (self.opts.kills - self.kills) / 0.85)
        mean = left / lives
        n = int(mean) + (self.rng.random() < mean - int(mean))
        if self.rng.random() < 0.2:
            n = 2 * n + 1
        return max(0, min(left, n))

    def life(self) -> None:
        """Start the daemon (sometimes after codes arrived while it was down), let it work
        with faults around it, and stop it: SIGKILL at a random point, during a call in
        flight, before it is even ready, or SIGTERM."""
        codes = self.codes_for_this_life()
        if self.rng.random() < 0.3 and codes:
            self.issue_code()  # arrives while no daemon runs
            codes -= 1
        daemon = self.start_daemon()
        roll = self.rng.random()
        plan = ("kill-early" if roll < 0.12 else "kill-inflight" if roll < 0.34
                else "term" if roll < 0.46 else "kill")
        if plan != "kill-early" and not daemon.wait_ready(30):
            self.stop_daemon("crash" if not daemon.alive() else "kill")
            return
        length = (self.rng.uniform(0.05, 0.6) if plan == "kill-early"
                  else self.rng.uniform(0.3, 2.5))
        actions: list[tuple[float, Callable[[], object]]] = [
            (self.rng.uniform(0, length), self.issue_code) for _ in range(codes)]
        if self.rng.random() < 0.5:
            actions.append((self.rng.uniform(0, length), self.maybe_fault))
        if self.rng.random() < 0.2:
            actions.append((self.rng.uniform(0, length), self.fill_disk))
        self.run_for(length, actions)
        if self.daemon is None:
            return  # it died by itself; recorded by step()
        if plan == "kill-inflight" and not self.disk.full:
            self.kill_inflight()
        elif plan == "term" and not self.disk.full:
            self.stop_daemon("term")
        else:
            self.stop_daemon("kill-early" if plan == "kill-early" else "kill")

    def kill_inflight(self) -> None:
        """SIGKILL while get_permanent_code is in flight: WeCom answers a fresh code late,
        and the kill lands somewhere in that window, or just after the answer."""
        delay = self.rng.uniform(0.3, TIMEOUT_S - 0.2)
        mark = len(self.sim.calls)
        self.sim.fail_next(PERMANENT_CODE, delay_s=delay)
        if len(self.codes) < self.opts.codes:
            self.issue_code()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if any(c.endpoint == PERMANENT_CODE and c.delay_s > 0 for c in self.sim.calls[mark:]):
                time.sleep(self.rng.uniform(0, delay + 0.1))
                self.stop_daemon("kill-inflight")
                return
            self.step()
            if self.daemon is None:
                return
            time.sleep(0.005)
        self.sim.clear_faults()  # no call came (a code waiting on something): plain kill
        self.stop_daemon("kill")

    def drive(self) -> None:
        """Lives until ``--kills`` SIGKILLs or ``--duration`` seconds, whichever is first."""
        self.watcher.start()
        self.push_tickets()
        end = self.started + self.opts.duration
        while self.kills < self.opts.kills and time.monotonic() < end:
            self.life()
            if self.rng.random() < 0.3:
                self.run_for(self.rng.uniform(0, 1.0), [])  # a while with no daemon
            if len(self.stops) % 20 == 0:
                log(self.opts, f"{self.kills} kills, {len(self.codes)} codes")

    def settle(self) -> bool:
        """Faults off, the rest of the codes in, one last daemon until every code is final
        and the log read to its end; then SIGTERM. Returns True when everything settled."""
        self.free_disk()
        self.sim.clear_faults()
        for _, record in self.repeats:
            self.append(record)
        self.repeats = []
        daemon = self.daemon or self.start_daemon()
        daemon.wait_ready(30)
        while len(self.codes) < self.opts.codes:
            self.issue_code()
        deadline = time.monotonic() + self.opts.settle_s
        settled = False
        while time.monotonic() < deadline:
            self.step()
            if self.daemon is None:
                self.start_daemon().wait_ready(30)
            if self._settled():
                settled = True
                break
            time.sleep(0.1)
        self.stop_daemon("term")
        self.watcher.stop()
        return settled

    def _settled(self) -> bool:
        data = self.watcher.latest
        source = data.get("sources", {}).get(str(self.receive_log), {})
        if source.get("offset") != self.receive_log.stat().st_size:
            return False
        suites = data.get("suites", {})
        return all(
            suites.get(c.suite_id, {}).get("auth_codes", {}).get(c.key, {}).get("status") in FINAL
            for c in self.codes)

    def status_json(self) -> dict[str, Any]:
        done = subprocess.run([BIN, "--config", str(self.config), "status", "--json"],
                              capture_output=True, text=True, timeout=60, check=False)
        try:
            data: dict[str, Any] = json.loads(done.stdout)
        except ValueError:
            return {}
        return data


# -- reconciliation ------------------------------------------------------------------------


@dataclass
class Verdict:
    """Every code in exactly one bucket, and the figures around them."""

    buckets: dict[str, list[Code]] = field(default_factory=dict)
    # Lost to a kill: did WeCom spend the code, was the disk full at the kill after its
    # last call (an outcome known but not saved), did any request of it reach WeCom?
    lost_spent: list[Code] = field(default_factory=list)
    lost_spent_disk_full: list[Code] = field(default_factory=list)
    lost_unspent_disk_full: list[Code] = field(default_factory=list)
    lost_unsent: list[Code] = field(default_factory=list)
    lost_answers: int = 0  # calls that spent a code and answered past the client's timeout
    answer_lost_spent: list[Code] = field(default_factory=list)  # of them, WeCom spent it
    twice_after_lost_answer: list[Code] = field(default_factory=list)
    shown: dict[str, bool] = field(default_factory=dict)  # not redeemed: shown by status?
    details: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    worst: str = ""  # what happened to the slowest code

    def count(self, bucket: str) -> int:
        return len(self.buckets.get(bucket, []))


def reconcile(soak: Soak, status: dict[str, Any]) -> Verdict:
    """Sort each issued code by what WeCom saw (the simulator's calls) and what the state
    file says."""
    calls: dict[str, list[tuple[int, SimCall]]] = {}
    for n, call in enumerate(soak.sim.calls):
        if call.code_key is not None:
            calls.setdefault(call.code_key, []).append((n, call))
    state = soak.watcher.latest.get("suites", {})
    shown = {(sid, a["key"]): a for sid, s in status.get("suites", {}).items()
             for a in s.get("auth_codes", [])}
    verdict = Verdict()
    for code in soak.codes:
        mine = calls.get(code.key, [])
        spent = [(n, c) for n, c in mine if c.spent]
        verdict.lost_answers += sum(1 for _, c in spent if c.delay_s >= TIMEOUT_S)
        twice = len(spent) > 1 or (bool(spent) and mine[-1][0] > spent[0][0])
        entry: dict[str, Any] = state.get(code.suite_id, {}).get("auth_codes", {}).get(
            code.key, {})
        status_ = entry.get("status", "missing")
        corp = state.get(code.suite_id, {}).get("corps", {}).get(code.corpid, {})
        secret = soak.sim.permanent_code_for(code.corpid)
        has_secret = secret is not None and corp.get("permanent_code") == secret
        interrupted = status_ == "failed" and str(entry.get("error", "")).startswith(
            "interrupted")
        answer_lost = status_ == "failed" and entry.get("errcode") == ERRCODE_ANSWER_LOST
        if twice:
            bucket = "sent twice"
            if spent[0][1].delay_s >= TIMEOUT_S:
                verdict.twice_after_lost_answer.append(code)
        elif status_ == "redeemed" and has_secret:
            bucket = "redeemed"
        elif interrupted:
            bucket = "lost to a kill"
            full = bool(mine) and _disk_full_at_next_stop(soak, mine[-1][1].time)
            if spent:
                verdict.lost_spent.append(code)
                if full:
                    verdict.lost_spent_disk_full.append(code)
            elif full:
                verdict.lost_unspent_disk_full.append(code)
            elif not mine:
                verdict.lost_unsent.append(code)
        elif answer_lost:
            bucket = "answer lost after sending"
            if spent:
                verdict.answer_lost_spent.append(code)
        elif not mine:
            bucket = "never sent although valid"
        elif spent:
            bucket = "Secret lost outside a kill"
        elif status_ == "expired":
            bucket = "expired for other reasons"
        else:
            bucket = "unexplained"
        verdict.buckets.setdefault(bucket, []).append(code)
        if bucket == "redeemed":
            seen = soak.watcher.first_secret.get(code.corpid)
            if seen is not None and code.appended_at is not None:
                latency = seen - code.appended_at
                if latency > max(verdict.latencies, default=0.0):
                    until = code.appended_wall + latency
                    stops = sum(1 for s in soak.stops if code.appended_wall <= s.at <= until)
                    full_s = _full_overlap(soak, code.appended_wall, until)
                    verdict.worst = (f"{len(mine)} call(s), {stops} stop(s) of the daemon, "
                                     f"disk full {full_s:.1f} s")
                verdict.latencies.append(latency)
        else:
            view = shown.get((code.suite_id, code.key))
            verdict.shown[code.key] = bool(
                view and view.get("status") in ("failed", "expired")
                and "重新获取" in str(view.get("action")))
        if bucket not in ("redeemed", "lost to a kill", "answer lost after sending",
                          "expired for other reasons"):
            verdict.details.append(
                f"  {bucket}: {code.key} suite {code.suite_id} status {status_} "
                f"waiting_for {entry.get('waiting_for')} errcode {entry.get('errcode')} "
                f"calls {[(c.errcode, c.http_status, c.spent) for _, c in mine]} "
                f"error {entry.get('error')!r}")
    return verdict


def _full_overlap(soak: Soak, start: float, end: float) -> float:
    """Seconds of [start, end] (wall clock) during which the state's disk was full."""
    return sum(max(0.0, min(end, b) - max(start, a)) for a, b in soak.full_periods)


def _disk_full_at_next_stop(soak: Soak, after: float) -> bool:
    """Was the disk full when the daemon that made a call at ``after`` was stopped?"""
    stop = next((s for s in soak.stops if s.at >= after), None)
    return stop is not None and stop.disk_full


@dataclass
class DaemonLogs:
    """What the daemons' own logs say: write failures, and whether any secret leaked."""

    write_failures: int = 0  # failed state writes (attempts)
    episodes: int = 0  # runs of failed writes
    recovered: int = 0  # episodes that ended with a successful write in the same process
    unsaved_at_exit: int = 0
    leaked: int = 0


def read_daemon_logs(soak: Soak) -> DaemonLogs:
    secrets = {c.value for c in soak.codes} | set(soak.tickets)
    secrets |= {s for c in soak.codes if (s := soak.sim.permanent_code_for(c.corpid))}
    out = DaemonLogs()
    for path in sorted(soak.logs.glob("run-*.log")):
        text = path.read_text(encoding="utf-8", errors="replace")
        out.leaked += sum(1 for token in _TOKEN.findall(text) if token in secrets)
        for line in text.splitlines():
            try:
                record = json.loads(line)
                event = record.get("event")
            except (ValueError, AttributeError):
                continue
            if event == "runner.state_write_failed":
                out.write_failures += 1
                out.episodes += record.get("attempts") == 1
            elif event == "runner.state_write_recovered":
                out.recovered += 1
            elif event == "runner.unsaved_at_exit":
                out.unsaved_at_exit += 1
    return out


# -- the report ------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def report(soak: Soak, verdict: Verdict, logs: DaemonLogs, settled: bool, elapsed: float) -> int:
    """Print the table; return the exit code."""
    opts = soak.opts
    stops = Counter(s.how for s in soak.stops)
    term_exits = Counter(s.exit_code for s in soak.stops if s.how == "term")
    lost = verdict.buckets.get("lost to a kill", [])
    answer_lost = verdict.buckets.get("answer lost after sending", [])
    not_redeemed = [k for k in verdict.shown]
    must_be_zero = ("never sent although valid", "sent twice", "Secret lost outside a kill",
                    "unexplained")
    disk = (f"tmpfs {opts.tmpfs_kib} KiB" if soak.disk.mounted
            else f"no tmpfs: {soak.disk.skipped}")
    lat = verdict.latencies
    temps = leftover_temp_files(soak)
    rows: list[tuple[str, str, str]] = [
        ("codes issued", str(len(soak.codes)), ""),
        ("codes redeemed (Secret in state = WeCom's)", str(verdict.count("redeemed")), ""),
        ("codes never sent although valid", str(verdict.count("never sent although valid")),
         "must be 0"),
        ("codes sent twice", str(verdict.count("sent twice")), "must be 0"),
        ("  after an answer lost to a timeout", str(len(verdict.twice_after_lost_answer)),
         f"of {verdict.lost_answers} answers lost after WeCom redeemed"),
        ("Secrets lost outside a kill", str(verdict.count("Secret lost outside a kill")),
         "must be 0"),
        ("codes lost to a kill (claimed, outcome unsaved)", str(len(lost)), "inherent"),
        ("  WeCom had redeemed it: Secret lost", str(len(verdict.lost_spent)), ""),
        ("    the Secret was waiting for disk space", str(len(verdict.lost_spent_disk_full)),
         ""),
        ("  WeCom had not redeemed it", str(len(lost) - len(verdict.lost_spent)), ""),
        ("    its answer was waiting for disk space", str(len(verdict.lost_unspent_disk_full)),
         ""),
        ("    no request of it ever reached WeCom", str(len(verdict.lost_unsent)), ""),
        ("  shown by `status` as failed, with 重新获取",
         f"{sum(verdict.shown[c.key] for c in lost)}/{len(lost)}", "must be all"),
        ("codes whose answer was lost after sending (not resent)",
         str(len(answer_lost)), "inherent"),
        ("  WeCom had redeemed it: Secret lost", str(len(verdict.answer_lost_spent)), ""),
        ("  WeCom had not (a late -1 or 5xx)",
         str(len(answer_lost) - len(verdict.answer_lost_spent)), ""),
        ("  shown by `status` as failed, with 重新获取",
         f"{sum(verdict.shown[c.key] for c in answer_lost)}/{len(answer_lost)}",
         "must be all"),
        ("codes expired for other reasons", str(verdict.count("expired for other reasons")),
         ""),
        ("unexplained outcomes", str(verdict.count("unexplained")), "must be 0"),
        ("not redeemed, shown by `status` with 重新获取",
         f"{sum(verdict.shown.values())}/{len(not_redeemed)}", ""),
        ("restarts", str(soak.starts - 1), ""),
        ("  SIGKILL (random / in flight / before ready)",
         f"{stops['kill']} / {stops['kill-inflight']} / {stops['kill-early']}", ""),
        ("  SIGTERM (exit codes)", f"{stops['term']} ({dict(sorted(term_exits.items()))})", ""),
        ("  daemon exits nobody asked for", str(stops["crash"]), "must be 0"),
        ("disk filled to ENOSPC", f"{soak.disk.fills} times", disk),
        ("state-write failure episodes", str(logs.episodes),
         f"{logs.write_failures} failed writes"),
        ("  survived (written once space was back)", str(logs.recovered), ""),
        ("  ended by a kill while the disk was full", str(logs.episodes - logs.recovered), ""),
        ("  SIGTERM exits with the state unsaved", str(logs.unsaved_at_exit), ""),
        ("WeCom faults injected", str(sum(soak.faults.values())),
         ", ".join(f"{k} {v}" for k, v in sorted(soak.faults.items()))),
        ("append → Secret in state, worst", f"{max(lat, default=float('nan')):.2f} s",
         f"p50 {percentile(lat, 0.5):.2f} s, p99 {percentile(lat, 0.99):.2f} s"),
        ("  the worst code met", "", verdict.worst),
        ("state file, largest", f"{soak.watcher.max_bytes // 1024} KiB",
         f"{soak.watcher.unreadable} unreadable reads"),
        ("temp files left in the state directory", str(len(temps)),
         f"{sum(p.stat().st_size for p in temps) // 1024} KiB"),
        ("secret values in the daemons' logs", str(logs.leaked), "must be 0"),
        ("settled at the end", "yes" if settled else "NO", ""),
    ]
    print(f"fault soak: seed {opts.seed}, --kills {opts.kills} --codes {opts.codes} "
          f"--faults {opts.faults} --lost-answers {opts.lost_answers} --fills {opts.fills}; "
          f"{elapsed:.0f} s; {disk}")
    width = max(_width(r[0]) for r in rows)
    for label, value, note in rows:
        print(f"  {label}{' ' * (width - _width(label))}  {value:>12}  {note}")
    failed = [b for b in must_be_zero if verdict.count(b)]
    if lost and not all(verdict.shown[c.key] for c in lost):
        failed.append("lost codes not shown by status")
    if answer_lost and not all(verdict.shown[c.key] for c in answer_lost):
        failed.append("codes with a lost answer not shown by status")
    if logs.leaked:
        failed.append("secrets in the logs")
    if stops["crash"]:
        failed.append("daemon exits nobody asked for")
    if not settled:
        failed.append("did not settle")
    if verdict.details:
        print("codes that broke a promise:")
        print("\n".join(verdict.details[:40]))
    print("FAIL: " + ", ".join(failed) if failed else "OK: every promise held")
    return 1 if failed else 0


def _width(text: str) -> int:
    """Columns on a terminal: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def leftover_temp_files(soak: Soak) -> list[Path]:
    try:
        return sorted(soak.state_file.parent.glob(f".{soak.state_file.name}.*.tmp"))
    except OSError:
        return []


# -- main -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        description="Fault soak: exactly-once redemption under kills, a full disk and "
                    "WeCom faults (see bench/README.md).")
    parser.add_argument("--kills", type=int, default=200, help="SIGKILLs to land (default 200)")
    parser.add_argument("--codes", type=int, default=500, help="auth codes to issue")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration", type=float, default=1800,
                        help="stop driving after this many seconds even short of --kills")
    parser.add_argument("--tmpfs-kib", type=int, default=4096,
                        help="size of the state's tmpfs (it holds state.json, .bak and a temp)")
    parser.add_argument("--no-tmpfs", action="store_true", help="state on the temp directory")
    parser.add_argument("--faults", type=int, default=None,
                        help="WeCom faults in all (default: --kills / 2)")
    parser.add_argument("--lost-answers", type=int, default=None,
                        help="of those, answers lost after WeCom redeemed (default: --kills / 40)")
    parser.add_argument("--fills", type=int, default=None,
                        help="disk fills to ENOSPC (default: --kills / 8)")
    parser.add_argument("--settle", type=float, default=150,
                        help="seconds the last daemon gets to finish every code")
    parser.add_argument("--keep", type=Path, help="copy logs, config and state here")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    return Options(
        kills=args.kills, codes=args.codes, seed=args.seed, duration=args.duration,
        tmpfs_kib=0 if args.no_tmpfs else args.tmpfs_kib,
        faults=args.kills // 2 if args.faults is None else args.faults,
        lost_answers=args.kills // 40 if args.lost_answers is None else args.lost_answers,
        fills=max(1, args.kills // 8) if args.fills is None else args.fills,
        settle_s=args.settle, keep=args.keep, verbose=args.verbose)


@contextlib.contextmanager
def simulator() -> Iterator[WeComSimulator]:
    with WeComSimulator(host="127.0.0.1") as sim:
        for suite_id, secret in SUITES.items():
            sim.add_suite(suite_id, secret)
        yield sim


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="iotwx-soak-"))
    began = time.monotonic()
    soak: Soak | None = None
    try:
        with simulator() as sim:
            soak = Soak(opts, root, sim)
            if soak.disk.skipped:
                print(f"disk faults skipped: {soak.disk.skipped}", flush=True)
            soak.drive()
            settled = soak.settle()
            status = soak.status_json()
            logs = read_daemon_logs(soak)
            verdict = reconcile(soak, status)
            if opts.keep is not None:
                shutil.copytree(root, opts.keep, dirs_exist_ok=True)
            return report(soak, verdict, logs, settled, time.monotonic() - began)
    finally:
        if soak is not None:
            if soak.daemon is not None:
                soak.daemon.stop(signal.SIGKILL)
            soak.disk.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
