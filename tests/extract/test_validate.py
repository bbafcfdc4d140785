"""What ids, tickets, codes, timestamps and addresses must look like to become events."""

from __future__ import annotations

import pytest

from iotwx_watch.extract.validate import (
    check_ip,
    clean_hint,
    clean_state,
    parse_timestamp,
    valid_id,
    valid_token,
)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("dk7f3a9c2b41e05d68", True),
        ("ww4asffe99e54c0fxxxx", True),
        ("wx_corp-1", True),
        ("d", False),
        ("dk/../etc", False),
        ("dk 1", False),
        ("x" * 129, False),
        ("收到", False),
    ],
)
def test_ids(value: str, ok: bool) -> None:
    """Suite and corp ids: letters, digits, _ and -, 2 to 128 characters."""
    assert ok == valid_id(value)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("OYj_4UqGT3JH3K9FZ2HFHWWGDFDEixDhD66lfXtDE2q5mvZJupIoeguUxuIy0Fgt", True),
        ("a+b/c=.~*@!", True),
        ("A" * 512, True),
        ("A" * 513, False),
        ("", False),
        ('x" OR "1"="1', False),
        ("nul\x00x", False),
        ("tab\tx", False),
        ("票据", False),
    ],
)
def test_tokens(value: str, ok: bool) -> None:
    """Tickets and auth codes: printable ASCII token characters, at most 512 bytes."""
    assert ok == valid_token(value)


def test_timestamps_states_hints() -> None:
    """Timestamps are digits; State and hint are dropped rather than kept when odd."""
    assert (1795856400, None, None) == (
        parse_timestamp("1795856400"),
        parse_timestamp("17958564.0"),
        parse_timestamp("-1"),
    )
    states = (clean_state("扫码授权"), clean_state("a<b"), clean_state(""))
    assert ("扫码授权", None, None) == states
    assert ("1576065934_28_e0fae0", None) == (clean_hint("1576065934_28_e0fae0"), clean_hint("a b"))


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        ("124.70.32.161", ("124.70.32.161", None)),
        ("124.70.32.161.", ("124.70.32.161", None)),
        ("2001:DB8::1", ("2001:db8::1", None)),
        ("x.x.x.x", (None, "masked_ip")),
        ("1.2.*.*", (None, "masked_ip")),
        ("1.2.3", (None, "invalid_ip")),
        ("fe80::1%eth0", (None, "invalid_ip")),
    ],
)
def test_ip(candidate: str, expected: tuple[str | None, str | None]) -> None:
    """Addresses are validated with ipaddress; masked ones are told apart from invalid ones."""
    assert expected == check_ip(candidate)
