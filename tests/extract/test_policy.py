"""policy_engine.log extractor: which lines are 60020 blocks, and what they carry."""

from __future__ import annotations

from collections import Counter

import pytest

from iotwx_watch.events import BlockedIP, Event, SourcePosition, UnrecognizedRecord
from iotwx_watch.extract import make_extractor
from iotwx_watch.extract.policy import blocked_ips

MSG = "not allow to access from your ip, hint: [{hint}], from ip: {ip}, more info at " \
    "https://open.work.weixin.qq.com/devtool/query?e={code}"
AT = SourcePosition("p.log", 0)


def line(ip: str, code: int = 60020, hint: str = "1663579212640293053095122") -> str:
    return MSG.format(ip=ip, code=code, hint=hint)


def ips(text: str) -> tuple[list[str | None], Counter[str]]:
    stats: Counter[str] = Counter()
    events = blocked_ips(text, AT, stats)
    return [e.ip for e in events if isinstance(e, BlockedIP)], stats


@pytest.mark.parametrize(
    "text",
    [
        f"errcode: 60020, errmsg: {line('121.46.1.2')}",
        f'{{"errcode":60020,"errmsg":"{line("121.46.1.2")}"}}',
        f"{{'errcode': 60020, 'errmsg': '{line('121.46.1.2')}'}}",
        f"WeChatClientException: Error code: 60020, message: {line('121.46.1.2')}",
        '{"msg":"{\\"errcode\\":60020,\\"errmsg\\":\\"' + line("121.46.1.2") + '\\"}"}',
        "not allow to access from your ip, from ip: 121.46.1.2",
        f'{{"errmsg":"{line("121.46.1.2")}","errcode":60020}}',
    ],
)
def test_every_form_of_60020_yields_the_address(text: str) -> None:
    """Plain, JSON, dict repr, exception text, escaped JSON, bare message: one block each."""
    assert (["121.46.1.2"], 1) == (ips(text)[0], ips(text)[1]["records"])


def test_ipv6_and_normalised_addresses() -> None:
    """IPv6 is accepted and written in its normal form."""
    assert ["2408:8207:1851:5d40::1f"] == ips(line("2408:8207:1851:5d40:0:0:0:1F"))[0]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (line("x.x.x.x"), "masked_ip"),
        (line("1.2.*.*"), "masked_ip"),
        (line("999.1.2.3"), "invalid_ip"),
        (
            '{"errcode":42001,"errmsg":"access_token expired, hint: [1], from ip: 9.30.0.138, '
            'more info at https://open.work.weixin.qq.com/devtool/query?e=42001"}',
            "other_errcode",
        ),
        ("connection from ip: 10.0.0.1 accepted", "no_errcode"),
    ],
)
def test_not_a_block(text: str, reason: str) -> None:
    """Masked, invalid, other-errcode and unrelated 'from ip' lines give no address."""
    found, stats = ips(text)
    assert ([], 1) == (found, stats[f"skipped.{reason}"])


def test_hint_and_corpid_are_kept() -> None:
    """The hint and the record's corpid travel with the address."""
    stats: Counter[str] = Counter()
    events = blocked_ips(f"corpid=wwa1c7e3b0d2f94e61 {line('1.1.1.1')}", AT, stats)
    assert [BlockedIP("1.1.1.1", 60020, "1663579212640293053095122", "wwa1c7e3b0d2f94e61", AT)] == (
        events
    )


def test_two_errors_on_one_line_are_told_apart() -> None:
    """A 42001 and a 60020 on the same line: only the 60020 address is a block."""
    text = f"retry log: {line('9.9.9.9', code=42001)} then {line('8.8.8.8')}"
    assert ["8.8.8.8"] == ips(text)[0]


def test_same_address_twice_on_a_line_is_one_event() -> None:
    """A line repeating the same refusal gives one event."""
    assert ["1.1.1.1"] == ips(line("1.1.1.1") + " " + line("1.1.1.1"))[0]


def test_extractor_offsets_and_chunking() -> None:
    """Each line's event carries that line's offset, whatever the read size."""
    first = f"2026 ERROR {line('1.1.1.1')}\n".encode()
    noise = b"2026 INFO nothing to see\n" * 5000
    second = f"2026 ERROR {line('2.2.2.2')}\n".encode()
    data = first + noise + second
    expected = [
        BlockedIP("1.1.1.1", 60020, "1663579212640293053095122", None, SourcePosition("p", 0)),
        BlockedIP(
            "2.2.2.2",
            60020,
            "1663579212640293053095122",
            None,
            SourcePosition("p", len(first + noise)),
        ),
    ]
    for chunk in (1, 50, 65_537, len(data)):
        extractor = make_extractor("policy_engine", path="p")
        events: list[Event] = []
        for start in range(0, len(data), chunk):
            events += extractor.feed(data[start : start + chunk], start)
        events += extractor.finish()
        assert expected == events, f"chunk {chunk}"
        assert len(data) == extractor.resume_offset


def test_an_unrelated_status_code_does_not_hide_a_block() -> None:
    """'status code: 200' next to WeCom's message is not taken for its errcode."""
    text = "HTTP status code: 200, body: not allow to access from your ip, from ip: 7.7.7.7"
    assert ["7.7.7.7"] == ips(text)[0]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (line("x.x.x.x"), "masked_ip"),
        (line("999.1.2.3"), "bad_ip"),
        ('{"errcode":60020,"errmsg":"not allow to access from your ip, hint: [1]"}', "no_ip"),
        ("sync corp=wwa1 errcode=60020 retry_in=60s", "no_ip"),
        ("wecom: not allow to access from your ip (cut here", "no_ip"),
    ],
)
def test_a_60020_without_an_address_is_reported(text: str, reason: str) -> None:
    """A 60020 line that yields no address to whitelist says why, masked excerpt included."""
    events = blocked_ips(text, AT, Counter())
    assert [("policy_engine", reason)] == [
        (e.kind, e.reason) for e in events if isinstance(e, UnrecognizedRecord)
    ]
    assert all(isinstance(e, UnrecognizedRecord) for e in events)


@pytest.mark.parametrize(
    "text",
    [
        "batch took 60020 ms on port 60020",
        "connection from ip: 10.0.0.1 accepted",
        '{"type": "blocked_ip", "ip": "1.2.3.4", "errcode": 60020, "hint": null}',
    ],
)
def test_no_report_without_a_60020_error(text: str) -> None:
    """The digits 60020 outside an errcode, another "from ip", or a line of iotwx-watch's
    own output are no refusal."""
    assert [] == blocked_ips(text, AT, Counter())
