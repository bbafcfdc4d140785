"""The anchored trigger search finds exactly what a plain substring search finds."""

from __future__ import annotations

import random

from iotwx_watch.extract.search import Needle


def plain(data: bytes, needle: bytes) -> list[int]:
    found, pos = [], data.find(needle)
    while pos >= 0:
        found.append(pos)
        pos = data.find(needle, pos + 1)
    return found


def test_rare_anchor_matches_plain_search() -> None:
    """Occurrences anywhere, at the edges included, are found with a rare anchor byte."""
    rng = random.Random(5)
    noise = bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz 0123456789\n") for _ in range(300_000))
    data = b"InfoType" + noise[:150_000] + b"xInfoTypex" + noise[150_000:] + b"InfoType"
    needle = Needle(b"InfoType")
    assert plain(data, b"InfoType") == needle.find_all(data, 0, len(data))
    assert needle._anchor is not None  # the capital letters are rare in this noise


def test_common_anchor_falls_back_to_plain_search() -> None:
    """When every byte of the needle is common, results are still exact."""
    rng = random.Random(6)
    data = bytes(rng.choice(b"from ip") for _ in range(200_000)) + b"from ip"
    needle = Needle(b"from ip")
    assert plain(data, b"from ip") == needle.find_all(data, 0, len(data))


def test_anchor_turning_common_midway_switches_to_plain_search() -> None:
    """A rare anchor that floods later in the chunk does not lose or repeat a hit."""
    rng = random.Random(7)
    quiet = bytes(rng.choice(b"abcdefgh \n") for _ in range(100_000))
    loud = b"IIIIIIIII InfoType " * 20_000
    data = quiet + loud + quiet + b"InfoType"
    needle = Needle(b"InfoType")
    needle.find_all(quiet * 2, 0, len(quiet) * 2)  # picks 'I' as anchor on quiet data
    assert plain(data, b"InfoType") == needle.find_all(data, 0, len(data))


def test_bounds_are_respected() -> None:
    """Only occurrences wholly inside [lo, hi) are returned."""
    data = b"x" * 70_000 + b"InfoType" + b"y" * 70_000
    needle = Needle(b"InfoType")
    assert [70_000] == needle.find_all(data, 70_000, 70_008)
    assert [] == needle.find_all(data, 70_001, len(data))
    assert [] == needle.find_all(data, 0, 70_007)
