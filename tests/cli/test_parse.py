"""`iotwx-watch parse`, run as the real console script."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from iotwx_watch.events import secret_key

SAMPLES = Path(__file__).resolve().parents[2] / "sample_logs"
BIN = str(Path(sys.executable).with_name("iotwx-watch"))
ENV = {k: v for k, v in os.environ.items() if k != "IOTWX_WATCH_CONFIG"}


def parse(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BIN, "--log-format", "json", *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
        check=False,
    )


TICKET = "6X3fg-g3FKoHWBPbNcPQFnrZwtknB8u0JUMFP5SfrGjcZdSdzrlbVx1ApGyMTO6P"


def test_prints_events_as_json_lines_in_log_order() -> None:
    """Each event is one JSON object per line, as docs/architecture.md shows it, secrets masked."""
    path = str(SAMPLES / "receive.log")
    done = parse("parse", path)
    assert 0 == done.returncode, done.stderr
    lines = done.stdout.splitlines()
    assert 12 == len(lines)
    offset = (SAMPLES / "receive.log").read_bytes().index(b"[2026-11-28 17:00:00] \xe6\x94\xb6")
    first = (
        '{"type": "suite_ticket", "suite_id": "dk7f3a9c2b41e05d68", "suite_ticket": "***", '
        f'"ticket_key": "{secret_key(TICKET)}", '
        '"timestamp": 1795856400, "verified": false, "source": {"path": "' + path + '", '
        '"offset": '
        + str(offset + len("[2026-11-28 17:00:00] 收到的id: dk7f3a9c2b41e05d68\n".encode()))
        + "}}"
    )
    assert first == lines[0]
    offsets = [json.loads(line)["source"]["offset"] for line in lines]
    assert sorted(offsets) == offsets


def test_stats_go_to_stderr() -> None:
    """--stats prints bytes, records, events, skips and rejects on stderr, not stdout."""
    path = SAMPLES / "policy_engine.log"
    done = parse("parse", "--kind", "policy_engine", "--stats", str(path))
    assert 0 == done.returncode
    assert 7 == len(done.stdout.splitlines())
    stats = dict(
        line.split(None, 1) for line in done.stderr.splitlines() if not line.startswith("==")
    )
    assert str(path.stat().st_size) == stats["bytes"]
    assert ("7", "2", "2", "1") == (
        stats["events.blocked_ip"],
        stats["unrecognized.masked_ip"],
        stats["skipped.masked_ip"],
        stats["skipped.other_errcode"],
    )


def test_missing_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """A missing file (even after a good one) prints one error line, no events, exit 2."""
    missing = tmp_path / "nope.log"
    done = parse("parse", str(SAMPLES / "receive.log"), str(missing))
    assert 2 == done.returncode
    assert "" == done.stdout
    assert [f"iotwx-watch: error: cannot read {missing}: No such file or directory"] == (
        done.stderr.splitlines()
    )


def test_config_keys_decrypt_envelopes() -> None:
    """With --config naming the suite's keys, encrypted envelopes yield their events."""
    path = str(SAMPLES / "receive_encrypted.log")
    without = parse("parse", "--stats", path)
    assert ("", 0) == (without.stdout, without.returncode)
    assert "skipped.envelope_no_keys" in without.stderr
    with_keys = parse("--config", str(SAMPLES / "iotwx-watch.toml"), "parse", path)
    assert 0 == with_keys.returncode
    types = [json.loads(line)["type"] for line in with_keys.stdout.splitlines()]
    assert ["suite_ticket", "auth_code", "auth_change", "suite_ticket"] == types


def test_unknown_kind_is_a_usage_error() -> None:
    """--kind accepts only callback, policy_engine and auto."""
    done = parse("parse", "--kind", "nginx", str(SAMPLES / "receive.log"))
    assert 2 == done.returncode


def test_reader_going_away_is_not_a_traceback(tmp_path: Path) -> None:
    """`parse … | head -1` ends quietly when the reader closes the pipe."""
    line = (
        '{"errcode":60020,"errmsg":"not allow to access from your ip, from ip: 10.0.%d.%d"}\n'
    )
    log = tmp_path / "policy_engine.log"
    log.write_text("".join(line % (i // 250, i % 250) for i in range(60_000)), encoding="utf-8")
    proc = subprocess.Popen(
        [BIN, "parse", str(log)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert '"blocked_ip"' in first.decode()
    assert ("", 0) == (stderr, proc.returncode)


def test_unmatched_adds_the_records_that_gave_no_event() -> None:
    """--unmatched also prints each unrecognized record with its reason, in log order."""
    path = str(SAMPLES / "receive_missed.log")
    assert "" == parse("parse", path).stdout
    done = parse("parse", "--unmatched", path)
    assert 0 == done.returncode, done.stderr
    bodies = [json.loads(line) for line in done.stdout.splitlines()]
    assert ["unknown_form", "no_info_type", "no_auth_code", "no_timestamp", "bad_timestamp",
            "no_suite_id"] == [body["reason"] for body in bodies]
    assert {"unrecognized"} == {body["type"] for body in bodies}


def secret_values(path: Path) -> set[str]:
    """The tickets and codes the sample's expectations name (the values to hide)."""
    values = set()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("# expect: {"):
            body = json.loads(line.removeprefix("# expect:"))
            values |= {body.get("suite_ticket"), body.get("auth_code")} - {None}
    return values


def long_tokens(path: Path) -> set[str]:
    """Every long token of letters and digits in the sample's records (codes, tickets,
    envelopes, signatures, also those in records that gave no event)."""
    records = [line for line in path.read_bytes().decode("utf-8", "replace").splitlines()
               if not line.startswith("#")]
    found = re.findall(r"[A-Za-z0-9_\-+/=]{24,}", "\n".join(records))
    return {t for t in found if re.search("[0-9]", t) and re.search("[A-Za-z]", t)}


def test_no_secret_in_the_output_unless_asked() -> None:
    """Without --show-secrets no ticket or auth code of any sample appears, not even in an
    excerpt; with it, they all do."""
    config = str(SAMPLES / "iotwx-watch.toml")
    paths = [str(path) for path in sorted(SAMPLES.glob("receive*.log"))]
    masked = parse("--config", config, "parse", "--kind", "callback", "--unmatched", *paths)
    shown = parse("--config", config, "parse", "--kind", "callback", "--show-secrets", *paths)
    secrets = set().union(*(secret_values(Path(path)) for path in paths))
    tokens = set().union(*(long_tokens(Path(path)) for path in paths))
    assert (0, 0) == (masked.returncode, shown.returncode)
    assert 40 < len(secrets) and 60 < len(tokens)
    assert [] == sorted(value for value in secrets | tokens if value in masked.stdout)
    assert secrets == {value for value in secrets if value in shown.stdout}


def test_help_shows_examples() -> None:
    """parse --help ends with examples an operator can copy."""
    done = parse("parse", "--help")
    assert "Examples:" in done.stdout
    assert "--unmatched" in done.stdout and "--show-secrets" in done.stdout
