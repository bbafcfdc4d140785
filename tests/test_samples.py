"""Every file in sample_logs/ carries its own expectations (fail2ban's failJSON style).

A line ``# expect: {json}`` (the event as ``iotwx-watch parse --unmatched
--show-secrets`` prints it, without ``source``, the derived ``ticket_key`` /
``code_key`` and an unrecognized record's ``excerpt``) or ``# expect: none`` stands
right before a record; the events whose offsets fall between that block and the next
expectation must be exactly those. A new case is two lines in a log file.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from iotwx_watch.config import Config, load_config
from iotwx_watch.events import Event, event_to_json
from iotwx_watch.extract import ExtractorKind, make_extractor
from iotwx_watch.run.reader import iter_file_events

SAMPLES = Path(__file__).resolve().parent.parent / "sample_logs"
SAMPLE_CONFIG = SAMPLES / "iotwx-watch.toml"
EXPECT = b"# expect:"
UNCHECKED = ("source", "ticket_key", "code_key", "excerpt")  # checked elsewhere


def expected_form(event: Event) -> dict[str, Any]:
    """The event as an ``# expect:`` line states it."""
    body = event_to_json(event, show_secrets=True)
    for key in UNCHECKED:
        body.pop(key, None)
    return body


def sample_files() -> list[Path]:
    return sorted(p for p in SAMPLES.glob("*.log"))


def kind_of(path: Path) -> ExtractorKind:
    return "policy_engine" if path.name.startswith("policy_engine") else "callback"


def expectations(data: bytes) -> list[tuple[int, int, list[dict[str, Any]]]]:
    """(block start, block end, expected events) for each run of ``# expect:`` lines."""
    blocks: list[tuple[int, int, list[dict[str, Any]]]] = []
    offset = 0
    current: tuple[int, list[dict[str, Any]]] | None = None
    for line in data.splitlines(keepends=True):
        if line.startswith(EXPECT):
            if current is None:
                current = (offset, [])
            body = line[len(EXPECT) :].strip().decode("utf-8")
            if body != "none":
                current[1].append(json.loads(body))
        elif current is not None:
            blocks.append((current[0], offset, current[1]))
            current = None
        offset += len(line)
    assert current is None, "an # expect: block at the end of the file has no record"
    return blocks


def run(path: Path, config: Config, kind: ExtractorKind, chunk: int) -> list[Event]:
    """The events of a sample through the function `parse` runs (read in ``chunk``s)."""
    return list(iter_file_events(str(path), kind, config=config, chunk_size=chunk))


def check(path: Path, events: list[Event]) -> None:
    data = path.read_bytes()
    blocks = expectations(data)
    assert blocks, f"{path.name} has no # expect: lines"
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in range(len(blocks))}
    for event in events:
        assert event.source is not None and str(path) == event.source.path
        offset = event.source.offset
        body = expected_form(event)
        owners = [i for i, (_, end, _) in enumerate(blocks) if end <= offset]
        assert owners, f"{path.name}: unexpected event before any expectation: {body}"
        owner = owners[-1]
        next_start = blocks[owner + 1][0] if owner + 1 < len(blocks) else len(data)
        assert offset < next_start, f"{path.name}@{offset}: event not announced: {body}"
        found[owner].append(body)
    for i, (start, _, expected) in enumerate(blocks):
        line_no = data[:start].count(b"\n") + 1
        assert expected == found[i], f"{path.name} line {line_no}"


@pytest.fixture(scope="module")
def sample_config() -> Config:
    return load_config(SAMPLE_CONFIG)


@pytest.mark.parametrize("path", sample_files(), ids=lambda p: p.name)
def test_sample_file(path: Path, sample_config: Config) -> None:
    """Each sample log yields exactly the events its # expect: lines announce."""
    check(path, run(path, sample_config, kind_of(path), 1 << 20))


@pytest.mark.parametrize("chunk", [1, 7, 64, 333])
@pytest.mark.parametrize("path", sample_files(), ids=lambda p: p.name)
def test_sample_file_in_small_chunks(path: Path, sample_config: Config, chunk: int) -> None:
    """Records split across reads at any byte give the same events."""
    check(path, run(path, sample_config, kind_of(path), chunk))


@pytest.mark.parametrize("path", sample_files(), ids=lambda p: p.name)
def test_sample_file_with_auto_kind(path: Path, sample_config: Config) -> None:
    """--kind auto finds the same events as the file's own kind."""
    check(path, run(path, sample_config, "auto", 4096))


@pytest.mark.parametrize("path", sample_files(), ids=lambda p: p.name)
def test_sample_file_resumed_at_every_line(path: Path, sample_config: Config) -> None:
    """Restarting from resume_offset after any line neither loses nor repeats an event."""
    data = path.read_bytes()
    kind = kind_of(path)
    # the extractor alone, as below (parse drops NUL holes first, as the daemon does)
    reader = make_extractor(kind, path=str(path), config=sample_config)
    whole = reader.feed(data, 0) + reader.finish()
    line_ends = [i + 1 for i, byte in enumerate(data) if byte == 0x0A]
    for cut in line_ends:
        first = make_extractor(kind, path=str(path), config=sample_config)
        events = first.feed(data[:cut], 0)
        resume = first.resume_offset
        assert resume <= cut
        second = make_extractor(kind, path=str(path), config=sample_config)
        events += second.feed(data[resume:], resume) + second.finish()
        assert whole == events, f"{path.name}: restart after byte {cut} (resume {resume})"


def test_samples_cover_every_event_type(sample_config: Config) -> None:
    """The sample logs hold at least one event of each type and each info_type."""
    seen: Counter[str] = Counter()
    for path in sample_files():
        for event in run(path, sample_config, kind_of(path), 1 << 20):
            body = event_to_json(event)
            seen[body["type"] if body["type"] == "unrecognized" else
                 body.get("info_type") or body["type"]] += 1
    expected = {
        "suite_ticket",
        "create_auth",
        "reset_permanent_code",
        "change_auth",
        "cancel_auth",
        "blocked_ip",
        "unrecognized",
    }
    assert expected == expected & set(seen)


TICKET_RECORD = (
    "<xml><SuiteId>dk7f3a9c2b41e05d68</SuiteId><InfoType>suite_ticket</InfoType>"
    "<TimeStamp>1795856400</TimeStamp><SuiteTicket>t-1</SuiteTicket></xml>\n"
)
TICKET_JSON = (
    '{"type": "suite_ticket", "suite_id": "dk7f3a9c2b41e05d68", "suite_ticket": "t-1", '
    '"timestamp": 1795856400, "verified": false}'
)


@pytest.mark.parametrize(
    "text",
    [
        f"# expect: {TICKET_JSON}\nnoise\n",  # an expectation never met
        f"# expect: none\n{TICKET_RECORD}",  # an event where none is announced
        f"{TICKET_RECORD}# expect: none\nnoise\n",  # an event before any expectation
        f"# expect: {TICKET_JSON.replace('t-1', 't-2')}\n{TICKET_RECORD}",  # the wrong event
    ],
)
def test_the_check_itself_fails_on_a_mismatch(
    tmp_path: Path, sample_config: Config, text: str
) -> None:
    """The sample check fails on an unmet expectation or an unannounced event."""
    log = tmp_path / "receive.log"
    log.write_text(text, encoding="utf-8")
    with pytest.raises(AssertionError):
        check(log, run(log, sample_config, "callback", 1 << 20))


def test_the_check_passes_on_a_match(tmp_path: Path, sample_config: Config) -> None:
    """The sample check accepts a log whose events match its expectations."""
    log = tmp_path / "receive.log"
    log.write_text(f"# expect: {TICKET_JSON}\n收到的id: dk1\n{TICKET_RECORD}", encoding="utf-8")
    check(log, run(log, sample_config, "callback", 1 << 20))
