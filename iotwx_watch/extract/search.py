"""Finding a few trigger strings in megabytes of noise, fast, in about one pass.

CPython's substring search runs at 1-2 GB/s per trigger, and a regex alternation of
several words (``InfoType|AuthCode|…``) at ~0.2 GB/s, because ``re`` then tries every
position. A pattern that starts with one literal byte is different: ``re`` skips to
each occurrence of that byte in a tight C loop (~2.5 GB/s) and runs the rest of the
pattern there. So :class:`Triggers` picks, on a sample of a chunk, *anchor* bytes that
are rare there and that together occur in every trigger (``y`` covers ``InfoType``,
``infoType``, ``info_type`` and ``Encrypt``), and searches each anchor's triggers with one
such regex: ``y(?:(?<=InfoTy)pe|(?<=Encry)pt|…)``. Only real hits reach Python.
Triggers with no rare byte fall back to plain substring search.

The search is lazy (:meth:`Finder.next` gives the first hit at or after a position),
so a caller that handles a whole line or record at its first hit skips the other hits
in it without ever listing them: a line made of trigger words costs one search, not
one per word.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from iotwx_watch.extract.compiled_search import CompiledPool, CompiledTriggers

_SAMPLE_BYTES = 16 * 1024
_SMALL = 64 * 1024  # below this, plain search is as fast as anything
# At most one anchor byte per this many bytes, per trigger it covers, else plain search:
# re's scan to the next anchor costs about 0.4 ns per byte whatever the byte, plus the
# check at each anchor (in C); a plain search costs 0.5-1 ns per byte per trigger.
_MAX_ANCHOR_RATE = 256
_RESAMPLE_CHUNKS = 64


@dataclass(frozen=True)
class KeyContext:
    """Trigger words that count only where they can be a field's key: with one of the
    ``before`` bytes right before them or, after at most four blanks, one of the
    ``after`` bytes (or the end of the data) right after them. The anchored search checks
    this in its regex, so prose naming the word (``Undefined index: AuthCode in``) never
    reaches Python; plain search checks it with :meth:`allows`."""

    words: frozenset[bytes]
    before: bytes
    after: bytes

    def allows(self, buf: bytes, start: int, word: bytes, hi: int) -> bool:
        """Whether the occurrence of ``word`` at ``start`` (in ``buf[:hi]``) may be a key."""
        if word not in self.words:
            return True
        if start > 0 and buf[start - 1] in self.before:
            return True
        pos = start + len(word)
        stop = min(pos + 4, hi)
        while pos < stop and buf[pos] in _BLANKS:
            pos += 1
        return pos >= hi or buf[pos] in self.after

    def alternatives(self, word: bytes, index: int) -> list[bytes]:
        """Regex alternatives (after the anchor at ``word[index]``) that match exactly
        where :meth:`allows` says yes."""
        head, tail = re.escape(word[: index + 1]), re.escape(word[index + 1 :])
        if word not in self.words:
            return [b"(?<=" + head + b")" + tail]
        before, after = _byte_class(self.before), _byte_class(self.after)
        return [b"(?<=" + before + head + b")" + tail,
                b"(?<=" + head + b")" + tail + b"(?=[ \t]{0,4}(?:" + after + b"|\\Z))"]


NO_KEYS = KeyContext(frozenset(), b"", b"")
_BLANKS = frozenset(b" \t")


def _byte_class(chars: bytes) -> bytes:
    return b"[" + b"".join(b"\\x%02x" % c for c in sorted(set(chars))) + b"]"


class _Anchored:
    """Triggers sharing one anchor byte, found by one regex that starts with it.

    The regex is the anchor followed by an alternation of lookbehind-and-rest checks,
    one per trigger (``y(?:(?<=InfoTy)pe|(?<=Encry)pt|…)``): ``re`` skips to each anchor
    in C and checks it there, so only real hits reach Python. Several triggers may share
    one anchor occurrence (and a later anchor may start an earlier trigger), so each hit
    checks every trigger, and hits wait in a heap until no later anchor can give an
    earlier start (a trigger starts at most ``reach`` bytes before its anchor).
    """

    def __init__(self, regex: re.Pattern[bytes], needles: Sequence[bytes], anchor: int,
                 keys: KeyContext) -> None:
        self.regex = regex
        self.needles = [(needle, needle.index(anchor)) for needle in needles]
        self.reach = max(index for _, index in self.needles)
        self.keys = keys
        self.scan = 0
        self.done = False
        self.found: list[int] = []

    def first(self, buf: bytes, pos: int, hi: int) -> int:
        """First trigger start at or after ``pos``, or -1."""
        found = self.found
        while found and found[0] < pos:
            heapq.heappop(found)
        self.scan = max(self.scan, pos)  # an anchor before pos starts no trigger at pos+
        while not self.done and (not found or self.scan - self.reach < found[0]):
            match = self.regex.search(buf, self.scan, hi)
            if match is None:
                self.done = True
                break
            at = match.start()
            for needle, index in self.needles:
                start = at - index
                if (start >= pos and start + len(needle) <= hi and buf.startswith(needle, start)
                        and self.keys.allows(buf, start, needle, hi)):
                    heapq.heappush(found, start)
            self.scan = at + 1
        return found[0] if found else -1


def _anchored_regex(anchor: int, needles: Sequence[bytes], keys: KeyContext) -> re.Pattern[bytes]:
    """``<anchor>(?:(?<=<before><anchor>)<after>|…)``: a literal first byte, so ``re``
    finds candidates with its fast single-character scan."""
    parts = [part for needle in needles
             for part in keys.alternatives(needle, needle.index(anchor))]
    return re.compile(re.escape(bytes([anchor])) + b"(?:" + b"|".join(parts) + b")")


class _Plain:
    """One trigger found with plain substring search."""

    def __init__(self, needle: bytes) -> None:
        self.needle = needle
        self.hit = -2  # -2: not searched yet; -1: none left

    def first(self, buf: bytes, pos: int, hi: int) -> int:
        if self.hit == -1 or self.hit >= pos:
            return self.hit
        self.hit = buf.find(self.needle, pos, hi)
        return self.hit


class Finder(Protocol):
    """The trigger hits in ``buf[lo:hi]`` of one chunk, handed out in order."""

    def next(self, pos: int) -> int:
        """Offset of the first trigger occurrence starting at or after ``pos``, or -1."""
        ...


class _SearchFinder:
    """The pure-Python :class:`Finder`.

    Anchored triggers were all found when the finder was made; plain ones are searched
    lazily, each search resuming where the last one stopped, so positions asked of
    :meth:`next` never go backwards and a chunk costs one pass per plain trigger.
    """

    def __init__(self, buf: bytes, hi: int, groups: list[_Anchored], plain: list[_Plain]) -> None:
        self._buf = buf
        self._hi = hi
        self._groups = groups
        self._plain = plain

    def next(self, pos: int) -> int:
        """Offset of the first trigger occurrence starting at or after ``pos``, or -1."""
        best = -1
        for group in self._groups:
            found = group.first(self._buf, pos, self._hi)
            if found >= 0 and (best < 0 or found < best):
                best = found
        for plain in self._plain:
            found = plain.first(self._buf, pos, self._hi)
            if found >= 0 and (best < 0 or found < best):
                best = found
        return best


class Triggers:
    """A fixed set of trigger strings; :meth:`finder` searches one chunk for them.

    With ``compiled`` (the default) and Hyperscan importable, one compiled pass finds
    them all (:mod:`.compiled_search`); otherwise the pure-Python search below does,
    with the same result.
    """

    def __init__(
        self,
        needles: Sequence[bytes],
        keys: KeyContext = NO_KEYS,
        *,
        compiled: bool = True,
        pool: TriggerPool | None = None,
    ) -> None:
        if not needles or any(not needle for needle in needles):
            raise ValueError("triggers must be non-empty strings")
        self.needles = tuple(needles)
        self.keys = keys
        self._pool = pool
        if pool is not None:
            pool.join(self)
        self._try_compiled = compiled  # until the first finder() tried to build it
        self._compiled: CompiledTriggers | None = None
        self.stale = True  # the anchors must be chosen (again) on the next large chunk
        self._cover: list[tuple[int | None, list[bytes]]] = []
        self._regexes: dict[tuple[int, tuple[bytes, ...]], re.Pattern[bytes]] = {}
        self._age = 0  # large chunks searched since the anchors were chosen

    def leave_pool(self) -> None:
        """Its scanner stopped (``--kind auto`` settled on the other kind): the shared
        search no longer looks for these words."""
        if self._pool is not None:
            self._pool.leave(self)
            self._pool = None

    @property
    def engine(self) -> str:
        """``hyperscan`` or ``python``: what :meth:`finder` searches with."""
        self._resolve()
        return "python" if self._compiled is None else "hyperscan"

    def _resolve(self) -> None:
        if self._try_compiled:
            self._compiled = _compile(self.needles, self.keys)
            self._try_compiled = False

    def finder(self, buf: bytes, lo: int, hi: int) -> Finder:
        """A :class:`Finder` over ``buf[lo:hi]``, anchored on bytes rare in this log.

        The anchors are chosen on a sample of a large chunk, and again every
        ``_RESAMPLE_CHUNKS`` large chunks (a log's noise changes with the day's traffic).
        """
        self._resolve()
        if self._compiled is not None:
            if self._pool is not None and len(self._pool.members) > 1:
                shared = self._pool.finder(self, buf, lo, hi)
                if shared is not None:
                    return shared
            return self._compiled.finder(buf, lo, hi)
        if hi - lo < _SMALL:
            return _SearchFinder(buf, hi, *self._unanchored(self.needles))
        if self.stale or self._age >= _RESAMPLE_CHUNKS:
            mid = lo + (hi - lo) // 2
            self._cover = _cover(self.needles, buf[mid : mid + _SAMPLE_BYTES])
            self.stale, self._age = False, 0
        self._age += 1
        groups: list[_Anchored] = []
        plain: list[_Plain] = []
        for anchor, needles in self._cover:
            if anchor is None:
                more_groups, more_plain = self._unanchored(needles)
                groups += more_groups
                plain += more_plain
            else:
                groups.append(self._anchored(anchor, needles))
        return _SearchFinder(buf, hi, groups, plain)

    def _anchored(self, anchor: int, needles: Sequence[bytes]) -> _Anchored:
        key = (anchor, tuple(needles))
        regex = self._regexes.get(key)
        if regex is None:
            regex = self._regexes[key] = _anchored_regex(anchor, needles, self.keys)
        return _Anchored(regex, needles, anchor, self.keys)

    def _unanchored(
        self, needles: Sequence[bytes]
    ) -> tuple[list[_Anchored], list[_Plain]]:
        """Needles without a rare byte: plain search, except for key-only words, whose
        regex (on their first byte) rejects prose in C rather than one hit at a time."""
        groups = [self._anchored(needle[0], [needle]) for needle in needles
                  if needle in self.keys.words]
        plain = [_Plain(needle) for needle in needles if needle not in self.keys.words]
        return groups, plain


class TriggerPool:
    """The trigger sets of the scanners that read one file (callback, policy_engine, the
    operator patterns' literals): with Hyperscan, one scan of a read finds the hits of
    all of them, where each would make its own pass over the bytes.

    Each scanner makes its :class:`Triggers` with ``pool=``; the first finder asked for a
    read scans it for all members and the others reuse that scan (the same buffer, end
    and a start no earlier). Where a read is dense with matches, each member scans on its
    own, window by window (:class:`~.compiled_search.CompiledFinder`).
    """

    def __init__(self) -> None:
        self.members: list[Triggers] = []
        self._compiled: CompiledPool | None = None
        self._changes = 0  # members joined or left so far
        self._built = -1  # ... when the database was compiled
        self._last: tuple[bytes, int, int, list[list[int]] | None] | None = None

    def join(self, member: Triggers) -> None:
        self.members.append(member)
        self._changes += 1

    def leave(self, member: Triggers) -> None:
        self.members.remove(member)
        self._changes += 1

    def finder(self, member: Triggers, buf: bytes, lo: int, hi: int) -> Finder | None:
        """A finder over ``member``'s hits in ``buf[lo:hi]`` from the shared scan, or None
        where the read is too dense for one (the member then scans alone)."""
        from iotwx_watch.extract import compiled_search

        if self._built != self._changes:
            hyperscan = compiled_search.load()
            assert hyperscan is not None  # a member compiled: Hyperscan is here
            groups = [(m.needles, m.keys) for m in self.members]
            try:
                self._compiled = compiled_search.CompiledPool(hyperscan, groups)
            except hyperscan.error:  # a member beyond Hyperscan's limits: each on its own
                self._compiled = None
            self._built, self._last = self._changes, None
        if self._compiled is None:
            return None
        last = self._last
        if last is not None and last[0] is buf and last[2] == hi and last[1] <= lo:
            lists = last[3]
        else:
            lists = self._compiled.scan(buf, lo, hi)
            self._last = (buf, lo, hi, lists)
        if lists is None:
            return None
        return compiled_search.ListedFinder(lists[self.members.index(member)])


def _compile(needles: Sequence[bytes], keys: KeyContext) -> CompiledTriggers | None:
    """The Hyperscan search of these triggers, or None where Hyperscan is not available."""
    from iotwx_watch.extract import compiled_search

    hyperscan = compiled_search.load()
    if hyperscan is None:
        return None
    try:
        return compiled_search.CompiledTriggers(hyperscan, needles, keys)
    except hyperscan.error:  # beyond Hyperscan's limits (a literal of kilobytes): pure Python
        return None


def _cover(needles: Sequence[bytes], sample: bytes) -> list[tuple[int | None, list[bytes]]]:
    """Group the needles under as few, as rare anchor bytes as possible (greedy cover).

    Each round takes the byte with the lowest count per needle it would newly cover, if
    that is below one per ``_MAX_ANCHOR_RATE`` bytes (a common byte shared by several
    needles may still pay: one split replaces several plain searches); needles left
    without one get no anchor (None) and are searched plainly.
    """
    counts = {byte: sample.count(byte) for needle in needles for byte in set(needle)}
    limit = len(sample) / _MAX_ANCHOR_RATE
    left = list(dict.fromkeys(needles))
    groups: list[tuple[int | None, list[bytes]]] = []
    while left:
        cost = {byte: (counts[byte] + 1) / sum(byte in n for n in left)
                for needle in left for byte in needle}
        candidates = {byte for byte, per_needle in cost.items() if per_needle <= limit}
        if not candidates:
            groups.append((None, left))
            break
        anchor = min(candidates, key=lambda b: (cost[b], b))
        covered = [needle for needle in left if anchor in needle]
        groups.append((anchor, covered))
        left = [needle for needle in left if anchor not in needle]
    return groups
