"""Operator [[pattern]]s: named groups become events, validated like the built-ins."""

from __future__ import annotations

from iotwx_watch.config import Config, parse_config
from iotwx_watch.events import (
    AuthCode,
    BlockedIP,
    Event,
    SourcePosition,
    SuiteTicket,
    UnrecognizedRecord,
)
from iotwx_watch.extract import make_extractor


def config(*patterns: dict[str, str]) -> Config:
    return parse_config({"pattern": list(patterns)})


def extract(kind: str, data: bytes, cfg: Config) -> tuple[list[Event], dict[str, int]]:
    extractor = make_extractor(kind, path="f", config=cfg)  # type: ignore[arg-type]
    events = extractor.feed(data, 0) + extractor.finish()
    return events, dict(extractor.stats)


def test_callback_pattern_with_fixed_info_type() -> None:
    """A pattern without an info_type group uses the pattern's info_type setting."""
    cfg = config(
        {
            "kind": "callback",
            "regex": r"code (?P<auth_code>\S+) for (?P<suite_id>\w+) at (?P<timestamp>\d+)",
            "info_type": "create_auth",
        }
    )
    data = b"noise\n2026 code abc-123 for dk7f3a9c2b41e05d68 at 1795856400 ok\n"
    events, stats = extract("callback", data, cfg)
    expected = AuthCode(
        "create_auth", "dk7f3a9c2b41e05d68", "abc-123", 1795856400, None, SourcePosition("f", 6)
    )
    assert [expected] == events
    assert 1 == stats["records"]


def test_callback_pattern_values_are_validated() -> None:
    """A captured value that breaks WeCom's rules gives no event: counted and reported."""
    cfg = config(
        {
            "kind": "callback",
            "regex": r"t=(?P<suite_ticket>\S+) s=(?P<suite_id>\S+) ts=(?P<timestamp>\d+)",
            "info_type": "suite_ticket",
        }
    )
    events, stats = extract("callback", b't=a"b s=dk1234 ts=1\nt=ok s=dk1234 ts=2\n', cfg)
    assert [
        UnrecognizedRecord(
            "callback",
            "bad_suite_ticket",
            "t=*** s=dk1234 ts=1",
            info_type="suite_ticket",
            suite_id="dk1234",
            source=SourcePosition("f", 0),
        ),
        SuiteTicket("dk1234", "ok", 2, SourcePosition("f", 20)),
    ] == events
    assert 1 == stats["skipped.invalid_suite_ticket"]


def test_policy_pattern_and_its_errcode_group() -> None:
    """A policy pattern gives the address; an errcode group other than 60020 is no block."""
    cfg = config(
        {
            "kind": "policy_engine",
            "regex": r"refused (?P<ip>[0-9.]+) code=(?P<errcode>\d+)(?: corp=(?P<corpid>\w+))?",
        }
    )
    data = b"refused 1.2.3.4 code=60020 corp=wwc1\nrefused 5.6.7.8 code=42001\n"
    events, stats = extract("policy_engine", data, cfg)
    assert [BlockedIP("1.2.3.4", 60020, None, "wwc1", SourcePosition("f", 0))] == events
    assert 1 == stats["skipped.other_errcode"]


def test_pattern_and_builtin_on_the_same_line_report_once() -> None:
    """When a built-in already found the event on that line, the pattern adds nothing."""
    cfg = config({"kind": "policy_engine", "regex": r"from ip: (?P<ip>[0-9.]+)"})
    data = b'{"errcode":60020,"errmsg":"not allow to access from your ip, from ip: 1.2.3.4"}\n'
    events, _ = extract("policy_engine", data, cfg)
    assert [BlockedIP("1.2.3.4", 60020, None, None, SourcePosition("f", 0))] == events


def test_patterns_of_the_other_kind_are_ignored() -> None:
    """A policy pattern does not run over a callback log."""
    cfg = config({"kind": "policy_engine", "regex": r"(?P<ip>[0-9]+\.[0-9.]+)"})
    events, _ = extract("callback", b"1.2.3.4\n", cfg)
    assert [] == events


def test_a_pattern_never_reads_an_over_long_line() -> None:
    """A match inside a line longer than max_line_bytes counts for nothing, whether the
    line arrives whole or in pieces (the chunk layer never holds such a line)."""
    cfg = config({"kind": "policy_engine", "regex": r"refused (?P<ip>[0-9.]+)"})
    data = b"x" * 5000 + b" refused 1.2.3.4\nrefused 5.6.7.8\n"
    for chunk in (1, 1000, len(data)):
        extractor = make_extractor("policy_engine", path="f", config=cfg, max_line_bytes=4096)
        events: list[Event] = []
        for start in range(0, len(data), chunk):
            events += extractor.feed(data[start : start + chunk], start)
        events += extractor.finish()
        assert [BlockedIP("5.6.7.8", 60020, None, None, SourcePosition("f", 5017))] == events
