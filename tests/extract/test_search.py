"""The shared-anchor trigger search finds exactly what plain substring search finds."""

from __future__ import annotations

import random

import pytest

from iotwx_watch.extract.search import KeyContext, Triggers

NEEDLES = (b"InfoType", b"infoType", b"info_type", b"AuthCode", b"Encrypt")


def plain(data: bytes, needles: tuple[bytes, ...], lo: int = 0, hi: int | None = None) -> list[int]:
    hi = len(data) if hi is None else hi
    found = set()
    for needle in needles:
        pos = data.find(needle, lo, hi)
        while pos >= 0:
            found.add(pos)
            pos = data.find(needle, pos + 1, hi)
    return sorted(found)


def hits(triggers: Triggers, data: bytes, lo: int = 0, hi: int | None = None) -> list[int]:
    hi = len(data) if hi is None else hi
    finder = triggers.finder(data, lo, hi)
    found, pos = [], lo
    while (hit := finder.next(pos)) >= 0:
        found.append(hit)
        pos = hit + 1
    return found


def noise(seed: int, alphabet: bytes, size: int) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.choice(alphabet) for _ in range(size))


def test_rare_anchors_find_every_trigger() -> None:
    """Triggers anywhere, at the edges and overlapping, are found on rare anchors."""
    quiet = noise(5, b"abcdefghijklmnopqrs 0123456789\n", 300_000)
    data = b"InfoType" + quiet[:100_000] + b"xinfo_typex" + quiet[100_000:200_000]
    data += b"EncryptAuthCode" + quiet[200_000:] + b"infoType"
    triggers = Triggers(NEEDLES)
    assert plain(data, NEEDLES) == hits(triggers, data)
    assert not triggers.stale  # the anchors held for the whole chunk


def test_a_later_anchor_may_start_an_earlier_trigger() -> None:
    """Two needles anchored on one byte at different depths come out in start order."""
    data = b"." * 70_000 + b"xyAB" + b"." * 70_000
    triggers = Triggers((b"y", b"xyAB"))
    assert [70_000, 70_001] == hits(triggers, data)


def test_common_anchors_fall_back_to_plain_search() -> None:
    """When every byte of the triggers is common, results are still exact."""
    data = noise(6, b"from ip60", 200_000) + b"from ip" + b"60020"
    needles = (b"from ip", b"60020", b"not allow to access")
    assert plain(data, needles) == hits(Triggers(needles), data)


def test_an_anchor_turning_common_midway() -> None:
    """A rare anchor that floods later in the chunk loses and repeats no hit."""
    quiet = noise(7, b"abcdefgh \n", 100_000)
    data = quiet + b"yyyyyyyyy InfoType " * 20_000 + quiet + b"Encrypt"
    triggers = Triggers(NEEDLES)
    hits(triggers, quiet * 2)  # anchors chosen on quiet data: "y" is rare there
    assert not triggers.stale
    assert plain(data, NEEDLES) == hits(triggers, data)


@pytest.mark.parametrize(("lo", "hi", "expected"), [(70_000, 70_008, [70_000]),
                                                    (70_001, None, []), (0, 70_007, [])])
def test_bounds_are_respected(lo: int, hi: int | None, expected: list[int]) -> None:
    """Only occurrences wholly inside [lo, hi) are returned."""
    data = b"x" * 70_000 + b"InfoType" + b"z" * 70_000
    assert expected == hits(Triggers(NEEDLES), data, lo, hi)


def test_small_chunks_search_plainly() -> None:
    """Below the size where anchors pay off, the search is plain and still exact."""
    data = b"a InfoType b AuthCode c\n" * 10
    assert plain(data, NEEDLES) == hits(Triggers(NEEDLES), data)


def test_empty_triggers_are_refused() -> None:
    """An empty trigger would match everywhere: it is a programming error."""
    with pytest.raises(ValueError):
        Triggers((b"x", b""))


KEYS = KeyContext(frozenset({b"AuthCode"}), before=b"<[\"'", after=b">]\"'=:\n")
KEYED = [b"<AuthCode>c</AuthCode>", b'"AuthCode": "c"', b"[AuthCode] => c", b"AuthCode  = c",
         b"<AuthCode a='1'>", b"x AuthCode\n"]
PROSE = [b"Undefined index: AuthCode in /x.php", b"AuthCodes", b"AuthCode     = c",
         b"xAuthCode y"]


@pytest.mark.parametrize("size", [100, 200_000])
def test_key_only_words_are_hits_only_where_they_can_be_keys(size: int) -> None:
    """A key-only word counts before a key byte, or before blanks and a key byte or the
    end; in prose it is no hit, on small (plain) and large (anchored) chunks alike."""
    quiet = noise(8, b"abcdefgh \n", size)
    data = quiet + b"\n".join(PROSE + KEYED) + b"\n"
    found = hits(Triggers(NEEDLES, KEYS), data)
    prose_end = len(quiet) + len(b"\n".join(PROSE))
    assert [] == [hit for hit in found if hit < prose_end]
    for line in KEYED:
        start = data.index(line)
        assert any(start <= hit < start + len(line) for hit in found), line
    every = plain(data, (b"AuthCode",))
    assert [h for h in every if KEYS.allows(data, h, b"AuthCode", len(data))] == found
