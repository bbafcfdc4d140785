"""Tests for the codec's writing side: a memoized encode (and a memoized split into the
shared store's parts) is the plain one, byte for byte."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iotwx_watch.state.codec import MAX_TIME, EncodeMemo, Time, encode_entry
from iotwx_watch.state.model import (
    AuthCodeEntry,
    BlockedIpEntry,
    CancelCheck,
    CorpEntry,
    IgnoredRecords,
    State,
    decode,
    encode,
    encode_for_save,
)
from iotwx_watch.state.parts import BlobMemo, split
from tests.state.support import CORP, PENDING, SUITE, previous_bytes

T0 = 1795852800.0  # 2026-11-28T08:00:00Z
RUN = EncodeMemo.RUN

TIMES = st.none() | st.floats(min_value=0, max_value=MAX_TIME) | st.integers(0, MAX_TIME)
STAMPS = st.integers(0, MAX_TIME)
TEXT = st.text(max_size=8)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)
# unknown keys, now and then named like a field (never written over it)
EXTRA = st.dictionaries(st.sampled_from(["new", "来自新版", "status", "x"]) | TEXT, JSON_VALUES,
                        max_size=2)

CORPS = st.builds(
    CorpEntry,
    corp_name=st.none() | TEXT,
    agentid=st.none() | st.integers(-(2**63), 2**63 - 1),
    permanent_code=st.none() | TEXT,
    obtained_at=TIMES,
    status=st.sampled_from(["active", "cancelled"]),
    previous_obtained_at=TIMES,
    cancelled_at=TIMES,
    auth_timestamp=st.none() | STAMPS,
    state=st.none() | TEXT,
    cancel_check=st.none() | st.builds(CancelCheck, timestamp=STAMPS, first_seen=TIMES.filter(
        lambda t: t is not None), next_check_at=st.just(T0), attempts=st.integers(0, 3),
        error=st.none() | TEXT, extra=EXTRA),
    extra=EXTRA,
)
AUTH_CODES = st.builds(
    AuthCodeEntry,
    status=st.sampled_from(["pending", "redeeming", "redeemed", "failed", "expired"]),
    info_type=st.sampled_from(["create_auth", "reset_permanent_code"]),
    timestamp=STAMPS,
    first_seen=st.just(T0),
    updated_at=st.floats(min_value=0, max_value=MAX_TIME),
    attempts=st.integers(0, 5),
    corpid=st.none() | TEXT,
    next_attempt_at=TIMES,
    code=st.none() | TEXT,
    waiting_for=st.none() | st.just("ticket"),
    extra=EXTRA,
)
BLOCKED = st.builds(
    BlockedIpEntry,
    whitelist=st.sampled_from(["app", "provider"]),
    first_seen=st.just(T0),
    last_seen=st.floats(min_value=T0, max_value=T0 + 1e6),
    count=st.integers(1, 9),
    seen_by=st.dictionaries(TEXT, st.lists(TEXT, max_size=2), max_size=2),
    extra=EXTRA,
)
ENTRIES: dict[str, st.SearchStrategy[Any]] = {
    "corps": CORPS, "auth_codes": AUTH_CODES, "blocked_ips": BLOCKED}


def plain_corp(rng: random.Random, n: int) -> CorpEntry:
    """A corp as most of a big state holds them: cheap to make by the hundred."""
    t = T0 - rng.randrange(10**7)
    if n % 7 == 0:
        return CorpEntry(f"示例 {n}", 1000 + n, status="cancelled", cancelled_at=t)
    return CorpEntry(f"示例 {n}", 1000 + n, f"pc{n:04d}", obtained_at=t + 0.5,
                     auth_timestamp=int(t), state=f"qr{n}" if n % 3 else None)


def map_of(state: State, name: str, suite: str) -> dict[str, Any]:
    book: dict[str, Any] = (state.blocked_ips if name == "blocked_ips"
                            else getattr(state.suite(suite), name))
    return book


def assert_memo_matches(memo: EncodeMemo, state: State, blobs: BlobMemo | None = None) -> None:
    expected = msgspec.json.encode(encode_entry(state))
    assert expected == memo.encode(state)
    assert encode(state) == encode(state, memo)
    if blobs is not None:
        assert split(state) == split(state, blobs)


EDITS = st.lists(st.tuples(
    st.sampled_from(["replace", "change", "add", "remove", "extra"]),
    st.sampled_from(list(ENTRIES)),
    st.sampled_from(["dk1", "dk2"]),
    st.integers(0, 3 * RUN),
), max_size=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(size=st.integers(0, 3 * RUN), seed=st.integers(0, 2**32), first=st.lists(CORPS, max_size=4),
       saves=st.lists(EDITS, min_size=1, max_size=4), data=st.data())
def test_a_memoized_encode_is_the_plain_encode_save_after_save(
    size: int, seed: int, first: list[CorpEntry], saves: list[list[tuple[str, str, str, int]]],
    data: st.DataObject,
) -> None:
    """Whatever changes between saves (in place too), the memo's bytes are encode()'s,
    and the blob memo's parts are split()'s."""
    rng = random.Random(seed)
    state = State(updated_at=T0, sources={"/var/log/a.log": {"offset": 7, "inode": 2}},
                  ignored_records={"unknown_suite": IgnoredRecords(3, T0)})
    state.suite("dk1").corps.update({f"ww{n:04d}": plain_corp(rng, n) for n in range(size)})
    state.suite("dk2").corps.update({f"wx{n}": corp for n, corp in enumerate(first)})
    memo, blobs = EncodeMemo(), BlobMemo()
    assert_memo_matches(memo, state, blobs)
    for edits in saves:
        for action, name, suite, position in edits:
            book = map_of(state, name, suite)
            keys = list(book)
            at = keys[position % len(keys)] if keys else None
            if action == "add" or at is None:
                book[f"new{len(keys)}-{position}"] = data.draw(ENTRIES[name])
            elif action == "replace":
                book[at] = data.draw(ENTRIES[name])
            elif action == "remove":
                del book[at]
            elif action == "extra":
                book[at].extra[data.draw(TEXT)] = data.draw(JSON_VALUES)
            else:  # one field changed in place, the entry object kept
                fresh = data.draw(ENTRIES[name])
                field = data.draw(st.sampled_from(sorted(vars(fresh))))
                setattr(book[at], field, getattr(fresh, field))
        assert_memo_matches(memo, state, blobs)


def test_the_fixture_with_unknown_keys_everywhere_is_written_the_same() -> None:
    """The schema-1 fixture (every optional key, unknown keys at every level) through a memo."""
    state = decode(previous_bytes())
    memo = EncodeMemo()
    assert previous_bytes() == encode(state, memo)
    assert previous_bytes() == encode(state, memo)


def test_an_entry_changed_in_place_is_written_changed() -> None:
    """No stale JSON: a corp's Secret set on the same object appears at the next encode."""
    state = State()
    corps = state.suite(SUITE).corps
    corps.update({f"ww{n:04d}": CorpEntry(f"c{n}", n) for n in range(2 * RUN)})
    corps[CORP] = CorpEntry("Acme", 1)
    memo = EncodeMemo()
    before = encode(state, memo)
    corps[CORP].permanent_code = "SECRET-1"
    corps[CORP].obtained_at = T0
    corps["ww0003"].extra["from_a_newer_version"] = [1]
    after = encode(state, memo)
    assert b"SECRET-1" not in before
    assert b'"permanent_code": "SECRET-1"' in after
    assert b'"from_a_newer_version": [' in after
    assert encode(state) == after


def test_a_float_time_and_an_int_one_are_told_apart() -> None:
    """A Time of 1.5 then 1.0 (same whole second, different bytes) is still written as is."""
    state = State()
    state.suite(SUITE).auth_codes[PENDING] = AuthCodeEntry("pending", "create_auth", 1, T0, T0)
    memo = EncodeMemo()
    for updated in (T0 + 0.5, T0 + 1, T0 + 1.0, int(T0 + 2)):
        state.suite(SUITE).auth_codes[PENDING].updated_at = updated
        assert encode(state) == encode(state, memo)


def test_a_nan_time_fails_as_it_does_without_the_memo() -> None:
    """NaN has no file form: the memo's key tells it from None (JSON would write both null)."""
    state = State()
    state.suite(SUITE).corps[CORP] = CorpEntry("Acme", 1)
    memo = EncodeMemo()
    encode(state, memo)
    state.suite(SUITE).corps[CORP].cancelled_at = float("nan")
    with pytest.raises(ValueError):
        encode(state)
    with pytest.raises(ValueError):
        encode(state, memo)
    blobs = BlobMemo()
    state.suite(SUITE).corps[CORP].cancelled_at = None
    split(state, blobs)
    state.suite(SUITE).corps[CORP].cancelled_at = float("nan")
    with pytest.raises(ValueError):
        split(state, blobs)


@dataclass
class AtTime:
    at: Time
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class AtNumber:
    at: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Book:
    times: dict[str, AtTime]
    numbers: dict[str, AtNumber]
    extra: dict[str, Any] = field(default_factory=dict)


def test_an_entry_of_another_class_with_the_same_content_gets_its_own_json() -> None:
    """The key includes the class: the same fields and values under another class (here a
    Time and a plain number) are not a hit."""
    book = Book({"a": AtTime(T0)}, {"a": AtNumber(T0)})
    memo = EncodeMemo()
    for _ in range(2):  # the second finds the first's JSON
        written = memo.encode(book)
        assert msgspec.json.encode(encode_entry(book)) == written
    assert b'"numbers":{"a":{"at":1795852800.0}}' in written


def test_the_blob_memo_keeps_only_what_the_last_split_used() -> None:
    """An entry changed in place gets a fresh blob; entries gone leave the memo."""
    state = State()
    corps = state.suite(SUITE).corps
    corps.update({f"ww{n}": CorpEntry(f"c{n}", n) for n in range(5)})
    blobs = BlobMemo()
    first = split(state, blobs)
    assert 5 == len(blobs)
    corps["ww1"].agentid = 99
    second = split(state, blobs)
    assert second == split(state) and second != first
    corps.clear()
    split(state, blobs)
    assert 0 == len(blobs)


def test_the_memo_keeps_only_what_the_last_encode_wrote() -> None:
    """Memory stays one file's worth: entries gone from the state leave the memo."""
    state = State()
    state.suite(SUITE).corps.update({f"ww{n:04d}": CorpEntry(f"c{n}", n) for n in range(10 * RUN)})
    memo = EncodeMemo()
    encode(state, memo)
    assert 10 == len(memo)
    for n in range(10 * RUN):
        state.suite(SUITE).corps[f"ww{n:04d}"].agentid = -n
    encode(state, memo)
    assert 10 == len(memo)
    state.suite(SUITE).corps.clear()
    encode(state, memo)
    assert 0 == len(memo)


def test_what_a_save_compares_and_writes_comes_from_one_walk() -> None:
    """encode_for_save: a content that ignores updated_at, and encode()'s bytes for a time."""
    state = decode(previous_bytes())
    memo = EncodeMemo()
    content, file_bytes = encode_for_save(state, memo)
    state.updated_at = T0
    assert content == encode_for_save(state, memo)[0]
    written = file_bytes(T0 + 60)
    assert T0 + 60 == state.updated_at
    assert encode(state) == written
    state.suite(SUITE).corps[CORP].extra["new"] = 1
    assert content != encode_for_save(state, memo)[0]


def test_a_failed_encode_raises_as_before_and_the_memo_still_works() -> None:
    """A value JSON cannot hold fails the memoized encode like the plain one; the next
    encode, the value gone, is right."""
    state = State()
    corps = state.suite(SUITE).corps
    corps.update({f"ww{n:04d}": CorpEntry(f"c{n}", n) for n in range(RUN + 1)})
    memo = EncodeMemo()
    encode(state, memo)
    corps["ww0001"].extra["bad"] = object()
    with pytest.raises(TypeError):
        encode(state)
    with pytest.raises(TypeError):
        encode(state, memo)
    assert 2 == len(memo)  # what the last encode that succeeded wrote
    del corps["ww0001"].extra["bad"]
    corps["ww0002"].corp_name = "changed"
    assert encode(state) == encode(state, memo)
