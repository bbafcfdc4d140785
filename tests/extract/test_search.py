"""The trigger search finds exactly what plain substring search finds, with Hyperscan
(when installed) and with the pure-Python shared-anchor search alike."""

from __future__ import annotations

import random

import pytest

from iotwx_watch.extract.compiled_search import MAX_MATCHES, load
from iotwx_watch.extract.search import NO_KEYS, KeyContext, TriggerPool, Triggers

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


@pytest.fixture(params=[True, False], ids=["hyperscan", "python"])
def compiled(request: pytest.FixtureRequest) -> bool:
    """Each test runs with the compiled search and with the pure-Python one."""
    if request.param and load() is None:
        pytest.skip("hyperscan is not installed here")
    return bool(request.param)


def test_hyperscan_is_used_where_installed() -> None:
    """The package depends on Hyperscan on the machines it has wheels for; where it
    imports, the scanners use it (and can be told not to)."""
    expected = "python" if load() is None else "hyperscan"
    assert Triggers(NEEDLES).engine == expected
    assert Triggers(NEEDLES, compiled=False).engine == "python"


def noise(seed: int, alphabet: bytes, size: int) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.choice(alphabet) for _ in range(size))


def test_rare_anchors_find_every_trigger(compiled: bool) -> None:
    """Triggers anywhere, at the edges and overlapping, are found on rare anchors."""
    quiet = noise(5, b"abcdefghijklmnopqrs 0123456789\n", 300_000)
    data = b"InfoType" + quiet[:100_000] + b"xinfo_typex" + quiet[100_000:200_000]
    data += b"EncryptAuthCode" + quiet[200_000:] + b"infoType"
    triggers = Triggers(NEEDLES, compiled=compiled)
    assert plain(data, NEEDLES) == hits(triggers, data)
    assert compiled or not triggers.stale  # the anchors held for the whole chunk


def test_a_later_anchor_may_start_an_earlier_trigger(compiled: bool) -> None:
    """Two needles anchored on one byte at different depths come out in start order."""
    data = b"." * 70_000 + b"xyAB" + b"." * 70_000
    triggers = Triggers((b"y", b"xyAB"), compiled=compiled)
    assert [70_000, 70_001] == hits(triggers, data)


def test_common_anchors_fall_back_to_plain_search(compiled: bool) -> None:
    """When every byte of the triggers is common, results are still exact."""
    data = noise(6, b"from ip60", 200_000) + b"from ip" + b"60020"
    needles = (b"from ip", b"60020", b"not allow to access")
    assert plain(data, needles) == hits(Triggers(needles, compiled=compiled), data)


def test_an_anchor_turning_common_midway(compiled: bool) -> None:
    """A rare anchor that floods later in the chunk loses and repeats no hit."""
    quiet = noise(7, b"abcdefgh \n", 100_000)
    data = quiet + b"yyyyyyyyy InfoType " * 20_000 + quiet + b"Encrypt"
    triggers = Triggers(NEEDLES, compiled=compiled)
    hits(triggers, quiet * 2)  # anchors chosen on quiet data: "y" is rare there
    assert compiled or not triggers.stale
    assert plain(data, NEEDLES) == hits(triggers, data)


@pytest.mark.parametrize(("lo", "hi", "expected"), [(70_000, 70_008, [70_000]),
                                                    (70_001, None, []), (0, 70_007, [])])
def test_bounds_are_respected(
    lo: int, hi: int | None, expected: list[int], compiled: bool
) -> None:
    """Only occurrences wholly inside [lo, hi) are returned."""
    data = b"x" * 70_000 + b"InfoType" + b"z" * 70_000
    assert expected == hits(Triggers(NEEDLES, compiled=compiled), data, lo, hi)


def test_small_chunks_search_plainly(compiled: bool) -> None:
    """Below the size where anchors pay off, the search is plain and still exact."""
    data = b"a InfoType b AuthCode c\n" * 10
    assert plain(data, NEEDLES) == hits(Triggers(NEEDLES, compiled=compiled), data)


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
def test_key_only_words_are_hits_only_where_they_can_be_keys(size: int, compiled: bool) -> None:
    """A key-only word counts before a key byte, or before blanks and a key byte or the
    end; in prose it is no hit, on small (plain) and large (anchored) chunks alike."""
    quiet = noise(8, b"abcdefgh \n", size)
    data = quiet + b"\n".join(PROSE + KEYED) + b"\n"
    found = hits(Triggers(NEEDLES, KEYS, compiled=compiled), data)
    prose_end = len(quiet) + len(b"\n".join(PROSE))
    assert [] == [hit for hit in found if hit < prose_end]
    for line in KEYED:
        start = data.index(line)
        assert any(start <= hit < start + len(line) for hit in found), line
    every = plain(data, (b"AuthCode",))
    assert [h for h in every if KEYS.allows(data, h, b"AuthCode", len(data))] == found


def test_a_key_byte_just_before_the_range_counts(compiled: bool) -> None:
    """Like the pure-Python regex, which looks behind ``lo``, the compiled search sees the
    byte before ``lo``: a key there makes the word at ``lo`` a hit."""
    data = b"x<AuthCode>y"
    assert [2] == hits(Triggers(NEEDLES, KEYS, compiled=compiled), data, 2)
    assert [] == hits(Triggers(NEEDLES, KEYS, compiled=compiled), b"x AuthCode y", 2)


@pytest.mark.parametrize("word", [b"<AuthCode>", b"x AuthCode    =", b"x AuthCode   ", b"InfoType"])
@pytest.mark.parametrize("skip", [1, 37, 5000])
def test_dense_triggers_are_scanned_in_windows_and_found_once(
    compiled: bool, word: bytes, skip: int
) -> None:
    """Where triggers are dense the compiled search scans window by window (a scan stops
    after MAX_MATCHES matches): a trigger cut by a window's end is found by the next
    window, and a key cut just before its ``after`` byte (where the window's end looks
    like the end of the data) is no false hit; asking past a line skips its hits."""
    rng = random.Random(len(word) * skip)
    data = b"".join(rng.choice((word, b"InfoType")) + b"." * rng.randrange(12)
                    + (b"\n" if rng.random() < 0.1 else b"") for _ in range(4 * MAX_MATCHES))
    data = b"." * 70_000 + data + b" tail\n"

    def asked(triggers: Triggers) -> list[int]:
        finder = triggers.finder(data, 0, len(data))
        found, pos = [], 0
        while (hit := finder.next(pos)) >= 0:
            found.append(hit)
            pos = hit + skip
        return found

    expected = asked(Triggers(NEEDLES, KEYS, compiled=False))
    assert len(expected) > 2
    assert expected == asked(Triggers(NEEDLES, KEYS, compiled=compiled))


@pytest.mark.parametrize("dense", [False, True])
def test_a_pool_finds_what_each_member_finds_alone(compiled: bool, dense: bool) -> None:
    """Scanners of one file share a pool: one scan of a read serves them all (or, in a
    read too dense for one scan, each scans alone); each member's hits are the same as
    its own search's, whatever start it asks from."""
    members = [(NEEDLES, KEYS), ((b"from ip", b"60020"), NO_KEYS), ((b"ticket-push",), NO_KEYS)]
    rng = random.Random(11)
    words = [b"<AuthCode>", b"AuthCode in", b"InfoType", b"from ip", b"60020", b"ticket-push"]
    pieces = [rng.choice(words) + b"." * rng.randrange(200 if not dense else 8)
              for _ in range(3 * MAX_MATCHES if dense else 60)]
    data = b"x" * 70_000 + b"\n".join(pieces) + b"\n"
    pool = TriggerPool()
    pooled = [Triggers(needles, keys, compiled=compiled, pool=pool) for needles, keys in members]
    for lo in (70_001, 0, 70_000):  # a later start reuses a scan, an earlier one cannot
        for (needles, keys), member in zip(members, pooled, strict=True):
            alone = Triggers(needles, keys, compiled=False)
            assert hits(alone, data, lo) == hits(member, data, lo)


@pytest.mark.parametrize("length", [3000, 9000])
def test_a_trigger_longer_than_the_smallest_window_is_found(compiled: bool, length: int) -> None:
    """An operator pattern's literal may be long: dense hits of one most of the smallest
    window long are all found, and one beyond Hyperscan's limits (about 4 KB) is searched
    in Python."""
    word = b"ticket-push " + b"x" * length
    data = (word + b"\n") * 300
    triggers = Triggers((word,), compiled=compiled)
    assert [i * (len(word) + 1) for i in range(300)] == hits(triggers, data)
    assert triggers.engine == ("hyperscan" if compiled and length < 4000 else "python")


def test_a_member_leaving_the_pool_is_searched_for_no_more(compiled: bool) -> None:
    """When `--kind auto` settles, the other kind's scanner leaves the shared search: the
    pool drops its words and the members left find what they found before."""
    data = b"x" * 70_000 + b"<AuthCode>c</AuthCode> from ip 1.2.3.4 60020\n"
    pool = TriggerPool()
    callback = Triggers(NEEDLES, KEYS, compiled=compiled, pool=pool)
    policy = Triggers((b"from ip", b"60020"), compiled=compiled, pool=pool)
    before = hits(callback, data)
    policy.leave_pool()
    assert [callback] == pool.members
    assert before == hits(callback, data) == [70_001, 70_013]
    assert [70_023, 70_039] == hits(policy, data)  # on its own, should it still be asked
