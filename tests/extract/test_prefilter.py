"""Operator patterns behind a literal prefilter match exactly what a full pass matches."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iotwx_watch.config import PatternConfig
from iotwx_watch.extract.patterns import _Compiled
from iotwx_watch.extract.prefilter import Prefilter, prefilter

PATTERNS = [
    r"ticket-push suite=(?P<suite_id>\S+) ticket=(?P<suite_ticket>\S+) ts=(?P<timestamp>\d+)",
    r"wecom refused (?P<ip>[0-9A-Fa-f:.]+) \(code (?P<errcode>\d+)\)",
    r"^abc (?P<x>[^ ]+)$",
    r"(?<=x)abc(?P<x>.{0,3})",
    r"abc\s+(?P<x>def)",
    r"(?i)abc",
]


@pytest.mark.parametrize(
    ("regex", "expected"),
    [
        (PATTERNS[0], Prefilter(b"ticket-push suite=", True)),
        (PATTERNS[1], Prefilter(b"wecom refused ", True)),
        (PATTERNS[2], Prefilter(b"abc ", False)),  # [^ ] matches a newline
        (PATTERNS[4], Prefilter(b"abc", False)),
        (PATTERNS[5], Prefilter(None, True)),  # no case-sensitive literal
        (r"ab.cd", Prefilter(None, True)),  # no literal of three bytes
        (r"(?s)abc.", Prefilter(b"abc", False)),
        (r"\Aabc", Prefilter(b"abc", False)),
    ],
)
def test_literal_and_one_line_are_read_from_the_regex(regex: str, expected: Prefilter) -> None:
    """The longest top-level literal, and whether any part can match a newline."""
    assert expected == prefilter(re.compile(regex.encode(), re.MULTILINE))


PIECES = [b"ticket-push suite=dk1 ticket=t ts=1", b"wecom refused 1.2.3.4 (code 60020)",
          b"abc ", b"abc", b"x", b"def", b" ", b"\n", b"\t", b"zz", b"ABC"]
texts = st.lists(st.one_of(st.sampled_from(PIECES), st.binary(max_size=8)), max_size=40).map(
    b"".join
)


@settings(max_examples=200, deadline=None)
@given(text=texts, noise=st.integers(min_value=0, max_value=3))
@pytest.mark.parametrize("regex", PATTERNS)
def test_prefiltered_matches_equal_a_full_pass(regex: str, text: bytes, noise: int) -> None:
    """Same spans and groups whether the regex runs over the whole buffer or behind its
    literal, on small buffers and on ones large enough for anchored search."""
    buf = b"q" * (70_000 * noise) + text + b"\n"
    compiled = _Compiled(PatternConfig(kind="callback", regex=regex))
    expected = [(m.span(), m.groupdict()) for m in compiled.regex.finditer(buf, 0, len(buf))]
    assert expected == [(m.span(), m.groupdict()) for m in compiled.matches(buf, 0, len(buf))]
