"""Benchmark: the state file's codec (msgspec) against pydantic v2 and the stdlib, and the
import cost each adds to every `iotwx-watch` start.

Generates a 10,000-corp state (4 suites, secrets, ~500 auth codes, 50 blocked IPs, a
cursor) in the file's shape, then times, best of --runs:

* decode + validate: file bytes → typed state, every check on;
* encode: typed state → the file's bytes (indent 2, UTF-8, ISO times);
* encode with a writer's memo (``EncodeMemo``, as StateStore saves), one corp changed;
* snapshot: the runner's "anything changed?" bytes (msgspec only);
* the same decode with an unknown key in every corp and auth code (kept in ``extra``).

Candidates: this package's model (msgspec), an equivalent pydantic v2 model (built here,
skipped when pydantic is not installed), stdlib ``json`` with no checks at all (a floor),
and with --baseline REF the model of an older commit (its hand-written codec).
Import costs: best of --imports fresh interpreters per probe, the probes interleaved so
that they share the machine's load; wall time above `python -c pass`, and the module's
cumulative `-X importtime`.

    .venv/bin/python bench/state_codec.py [--corps 10000] [--runs 15] [--imports 21]
                                           [--baseline b438b51]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from iotwx_watch.state.model import EncodeMemo, decode, encode, format_time, parse_time, snapshot

ROOT = Path(__file__).resolve().parent.parent
T0 = 1795852800  # 2026-11-28T08:00:00Z
MAX_TIME = 253402300799
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def make_state(corps: int, suites: int = 4, seed: int = 7) -> dict[str, Any]:
    """A state document in the file's shape: ``corps`` corps spread over ``suites`` suites."""
    rng = random.Random(seed)
    doc: dict[str, Any] = {"schema_version": 1, "updated_at": format_time(T0), "suites": {},
                           "blocked_ips": {}, "sources": {}}
    for s in range(suites):
        corp_map: dict[str, Any] = {}
        codes: dict[str, Any] = {}
        for i in range(corps // suites):
            corpid = f"ww{s:02x}{i:014x}"
            t = T0 - rng.randrange(10**7)
            corp: dict[str, Any] = {
                "corp_name": f"示例企业 {s}-{i}", "agentid": 1000002 + i,
                "permanent_code": hashlib.sha256(corpid.encode()).hexdigest()[:43],
                "obtained_at": format_time(t), "status": "active"}
            if i % 10 == 0:
                corp["previous_obtained_at"] = format_time(t - 86400)
            corp |= {"auth_timestamp": t - 5, "state": f"qr{i}"}
            if i % 50 == 0:
                corp = {"corp_name": corp["corp_name"], "agentid": corp["agentid"],
                        "obtained_at": corp["obtained_at"], "status": "cancelled",
                        "cancelled_at": format_time(t + 60)}
            corp_map[corpid] = corp
            if i % 20 == 0:
                codes[hashlib.sha256(corpid.encode()).hexdigest()[:16]] = {
                    "status": "redeemed", "attempts": 1, "info_type": "create_auth",
                    "timestamp": t - 5, "first_seen": format_time(t - 4),
                    "updated_at": format_time(t), "corpid": corpid}
        doc["suites"][f"dk{s:016x}"] = {
            "suite_ticket": {"value": "t" * 40, "timestamp": T0 - 60,
                             "received_at": format_time(T0 - 59)},
            "suite_access_token": {"value": "a" * 60, "expires_at": format_time(T0 + 7000)},
            "corps": corp_map, "auth_codes": codes, "last_error": None}
    for i in range(50):
        doc["blocked_ips"][f"203.0.113.{i}"] = {
            "whitelist": "app" if i % 2 else "provider", "first_seen": format_time(T0 - 1000),
            "last_seen": format_time(T0 - 10), "count": i + 1, "hint": "168822"}
    doc["sources"]["/var/log/receive.log"] = {
        "dev": 2049, "inode": 77, "offset": 123456789, "head_len": 1024,
        "head_sha256": "ab" * 32, "marker_sha256": "cd" * 32, "mtime_ns": T0 * 10**9}
    return doc


def with_unknown_keys(doc: dict[str, Any]) -> dict[str, Any]:
    """The document with a key this version does not know in every corp and auth code."""
    copy: dict[str, Any] = json.loads(json.dumps(doc))
    for suite in copy["suites"].values():
        for entry in [*suite["corps"].values(), *suite["auth_codes"].values()]:
            entry["added_later"] = {"n": 1}
    return copy


def best_ms(actions: dict[str, Callable[[], object]], runs: int) -> dict[str, float]:
    """Best of ``runs`` per action, in ms, the actions interleaved so that they share the
    machine's load; the best run is the least disturbed one (as timeit advises)."""
    best = dict.fromkeys(actions, float("inf"))
    for _ in range(runs):
        for name, action in actions.items():
            start = time.perf_counter()
            action()
            best[name] = min(best[name], (time.perf_counter() - start) * 1000)
    return best


def pydantic_model() -> Any:
    """The state as pydantic v2 models with the same rules (strict types, ISO times, unknown
    keys kept, unset optional keys left out); None when pydantic is not installed."""
    try:
        pd = importlib.import_module("pydantic")
    except ImportError:
        return None

    def time_in(value: Any) -> float:
        if type(value) is not str:
            raise ValueError("an ISO-8601 time string")
        return parse_time(value)

    time_ = Annotated[float, pd.BeforeValidator(time_in),
                      pd.PlainSerializer(format_time, return_type=str)]
    stamp = Annotated[int, pd.Field(ge=0, le=MAX_TIME)]
    config = pd.ConfigDict(strict=True, extra="allow")
    unset = {"default": None, "exclude_if": lambda v: v is None}
    opt_str = (str | None, pd.Field(**unset))
    opt_time = (time_ | None, pd.Field(**unset))

    def model(name: str, **fields: Any) -> Any:
        return pd.create_model(name, __config__=config, **fields)

    mapping: Any = dict  # the models are values here, not types mypy can check

    ticket = model("TicketEntry", value=(str, ...), timestamp=(stamp, ...),
                   received_at=(time_, ...),
                   rejected=(bool, pd.Field(default=False, exclude_if=lambda v: not v)))
    token = model("TokenEntry", value=(str, ...), expires_at=(time_, ...))
    corp = model("CorpEntry", corp_name=(str | None, None), agentid=(int | None, None),
                 permanent_code=opt_str, obtained_at=opt_time,
                 status=(Annotated[str, pd.Field(pattern="^(active|cancelled)$")], "active"),
                 previous_obtained_at=opt_time, cancelled_at=opt_time, changed_at=opt_time,
                 auth_timestamp=(stamp | None, pd.Field(**unset)), state=opt_str)
    code = model("AuthCodeEntry", status=(str, ...), attempts=(int, 0), info_type=(str, ...),
                 timestamp=(stamp, ...), first_seen=(time_, ...), updated_at=(time_, ...),
                 corpid=opt_str, errcode=(int | None, pd.Field(**unset)), error=opt_str,
                 hint=opt_str, state=opt_str, next_attempt_at=opt_time, waiting_for=opt_str,
                 code=opt_str)
    suite = model("SuiteState", suite_ticket=(ticket | None, None),
                  suite_access_token=(token | None, None), corps=(mapping[str, corp], {}),
                  auth_codes=(mapping[str, code], {}), last_error=(dict[str, Any] | None, None))
    blocked = model("BlockedIpEntry", whitelist=(str, ...), first_seen=(time_, ...),
                    last_seen=(time_, ...), count=(int, 1), hint=opt_str, corpid=opt_str,
                    call=opt_str, resolved_at=opt_time)
    return model("State", schema_version=(int, 1), updated_at=(time_ | None, None),
                 suites=(mapping[str, suite], {}), blocked_ips=(mapping[str, blocked], {}),
                 sources=(dict[str, dict[str, Any]], {}))


def memo_encode(raw: bytes) -> tuple[Callable[[], bytes], bool]:
    """Encode as a StateStore saves: with its EncodeMemo, one corp changed in place since
    the memo's last encode. Also whether such an encode gives encode()'s bytes."""
    state = decode(raw)
    memo = EncodeMemo()
    encode(state, memo)
    corp = next(iter(next(iter(state.suites.values())).corps.values()))

    def changed_one() -> bytes:
        corp.changed_at = (corp.changed_at or T0) + 1
        return encode(state, memo)

    return changed_one, changed_one() == encode(state)


def codec_times(raw: bytes, raw_unknown: bytes, runs: int) -> list[tuple[str, str]]:
    state = decode(raw)
    parsed = json.loads(raw)
    with_memo, memo_same = memo_encode(raw)
    actions: dict[str, Callable[[], object]] = {
        "msgspec: decode + validate": lambda: decode(raw),
        "msgspec: same, unknown key in every corp/code": lambda: decode(raw_unknown),
        "msgspec: encode": lambda: encode(state),
        "msgspec: encode, the writer's memo, one corp changed": with_memo,
        "msgspec: snapshot": lambda: snapshot(state),
    }
    facts = [("msgspec: output equals input bytes", str(encode(state) == raw)),
             ("msgspec: with the memo, output equals encode()'s", str(memo_same))]
    built = time.perf_counter()
    model = pydantic_model()
    if model is None:
        facts.append(("pydantic", "not installed (pip install pydantic)"))
    else:
        building = (time.perf_counter() - built) * 1000
        facts.append(("pydantic: import + build the 7 models", f"{building:.1f} ms"))
        obj = model.model_validate_json(raw)

        def dump() -> bytes:
            return obj.model_dump_json(indent=2).encode() + b"\n"  # type: ignore[no-any-return]

        actions |= {
            "pydantic: decode + validate": lambda: model.model_validate_json(raw),
            "pydantic: same, unknown key in every corp/code":
                lambda: model.model_validate_json(raw_unknown),
            "pydantic: encode": dump,
        }
        facts.append(("pydantic: output equals input bytes", str(dump() == raw)))
    actions |= {
        "stdlib json, no checks: json.loads": lambda: json.loads(raw),
        "stdlib json, no checks: json.dumps(indent=2)":
            lambda: json.dumps(parsed, indent=2, ensure_ascii=False),
    }
    timed = [(name, f"{ms:.1f} ms") for name, ms in best_ms(actions, runs).items()]
    return timed + facts


BASELINE_SNIPPET = """
import json, sys, time
from iotwx_watch.state.model import State, dumps
raw = open(sys.argv[1], "rb").read()
def ms(f):
    xs = []
    for _ in range(int(sys.argv[2])):
        t = time.perf_counter(); f(); xs.append(time.perf_counter() - t)
    return min(xs) * 1000
state = State.from_json(json.loads(raw))
print(f"{ms(lambda: State.from_json(json.loads(raw))):.1f} {ms(lambda: dumps(state).encode()):.1f}")
"""


CLI = ("import sys; sys.argv = ['iotwx-watch', *sys.argv[1:]]; "
       "from iotwx_watch.cli import main; main()")


def deployment(root: Path) -> Path:
    """A config (mode 0600), its two empty logs and a small state: what `status` reads."""
    for name in ("receive.log", "policy_engine.log"):
        (root / name).write_text("", encoding="utf-8")
    doc = make_state(4, suites=1)
    doc["suites"]["dk0000000000000000"]["suite_ticket"]["timestamp"] = int(time.time()) - 60
    (root / "state").mkdir(mode=0o700)
    (root / "state" / "state.json").write_bytes(encode(decode(json.dumps(doc))))
    config = root / "config.toml"
    config.write_text(
        f'state_file = "{root}/state/state.json"\n'
        '[[suite]]\nsuite_id = "dk0000000000000000"\nsuite_secret = "bench-secret"\n'
        f'[[source]]\nkind = "callback"\npath = "{root}/receive.log"\n'
        f'[[source]]\nkind = "policy_engine"\npath = "{root}/policy_engine.log"\n',
        encoding="utf-8")
    config.chmod(0o600)
    return config


def import_costs(trees: dict[str, str | None], config: Path, runs: int) -> list[tuple[str, str]]:
    """Start-up cost, best over fresh interpreters, the probes interleaved: wall time above
    `python -c pass`, and for an import `-X importtime`'s cumulative figure."""
    probes: list[tuple[str, str | None, list[str], str | None]] = []
    for label, path in trees.items():
        probes += [
            (f"{label}import iotwx_watch.state.model", path,
             ["-X", "importtime", "-c", "import iotwx_watch.state.model"],
             "iotwx_watch.state.model"),
            (f"{label}iotwx-watch --help", path, ["-c", CLI, "--help"], None),
            (f"{label}iotwx-watch status (small state)", path,
             ["-c", CLI, "status", "--config", str(config)], None),
        ]
    probes += [("import msgspec", None, ["-X", "importtime", "-c", "import msgspec"], "msgspec"),
               ("from pydantic import BaseModel", None,
                ["-X", "importtime", "-c", "from pydantic import BaseModel"], "pydantic")]
    walls: dict[str, list[float]] = {}
    cumulative: dict[str, list[int]] = {}
    for _ in range(runs):
        for name, path, argv, module in [("pass", None, ["-c", "pass"], None), *probes]:
            env = dict(ENV, PYTHONPATH=path) if path else ENV
            start = time.perf_counter()
            done = subprocess.run([sys.executable, *argv], env=env, cwd=path or ROOT,
                                  capture_output=True, text=True, check=False)
            if done.returncode not in (0, 1):  # status exits 1 when an operator must act
                continue
            walls.setdefault(name, []).append(time.perf_counter() - start)
            lines = [ln for ln in done.stderr.splitlines() if ln.rstrip().endswith(f"| {module}")]
            if lines:
                cumulative.setdefault(name, []).append(int(lines[-1].split("|")[1]))
    floor = min(walls["pass"]) * 1000
    rows = [("python -c pass (wall)", f"{floor:.1f} ms")]
    for name, *_ in probes:
        if name not in walls:
            rows.append((name, "not installed"))
            continue
        detail = (f", {min(cumulative[name]) / 1000:.1f} ms -X importtime"
                  if name in cumulative else "")
        rows.append((name, f"+{min(walls[name]) * 1000 - floor:.1f} ms wall{detail}"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corps", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--imports", type=int, default=21, help="fresh interpreters per probe")
    parser.add_argument("--baseline", help="a git ref whose model to measure too")
    args = parser.parse_args()
    doc = make_state(args.corps)
    raw = encode(decode(json.dumps(doc)))
    raw_unknown = json.dumps(with_unknown_keys(doc), ensure_ascii=False).encode()
    print(f"state: {args.corps} corps, {len(raw) / 1e6:.1f} MB\n")
    rows = codec_times(raw, raw_unknown, args.runs)
    trees: dict[str, str | None] = {"": None}
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as work:
        if args.baseline:
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline,
                                      "iotwx_watch"], capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
            (Path(tmp) / "state.json").write_bytes(raw)
            done = subprocess.run([sys.executable, "-c", BASELINE_SNIPPET, f"{tmp}/state.json",
                                   str(args.runs)], env=dict(ENV, PYTHONPATH=tmp), cwd=tmp,
                                  capture_output=True, text=True, check=True)
            old_decode, old_encode = done.stdout.split()
            rows += [(f"{args.baseline}: decode + validate", f"{old_decode} ms"),
                     (f"{args.baseline}: encode", f"{old_encode} ms")]
            trees[f"{args.baseline}: "] = tmp
        rows += import_costs(trees, deployment(Path(work)), args.imports)
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
