"""Finding a few trigger strings in megabytes of noise, fast, in one pass per rare byte.

CPython's substring search runs at about 2 GB/s, while ``memchr`` (what ``bytes.find``
uses for a single byte) runs near memory speed, and a regex alternation of several
words manages only ~0.2 GB/s. So :class:`Triggers` picks, on a sample of each chunk,
a few *anchor* bytes that are rare there and that together occur in every trigger
(``y`` covers ``InfoType``, ``info_type`` and ``Encrypt``), scans for each anchor with
``memchr`` and checks the full strings only where it occurs. An anchor that turns out
to be common falls back to plain substring search for its triggers.

The search is lazy (:meth:`Finder.next` gives the first hit at or after a position),
so a caller that handles a whole line or record at its first hit skips the other hits
in it without ever listing them: a line made of trigger words costs one search, not
one per word.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

_SAMPLE_BYTES = 16 * 1024
_SMALL = 64 * 1024  # below this, plain search is as fast as anything
_MAX_ANCHOR_RATE = 4096  # at most one anchor byte per this many bytes, else plain search


class _Anchored:
    """Triggers sharing one anchor byte, scanned for with ``memchr``.

    Invariant: every anchor before ``scan`` has been examined and the trigger starts
    it gave (at or after the position asked) are in the heap ``found``. A trigger
    starts at most ``reach`` bytes before its anchor, so once ``scan - reach`` passes
    the smallest start found, no unexamined anchor can give an earlier one.
    """

    def __init__(self, anchor: int, needles: Sequence[bytes], budget: int) -> None:
        self.anchor = bytes([anchor])
        self.needles = [(needle, needle.index(anchor)) for needle in needles]
        self.reach = max(index for _, index in self.needles)
        self.budget = budget  # anchor occurrences left before plain search is cheaper
        self.scan = 0
        self.done = False
        self.found: list[int] = []

    def first(self, buf: bytes, pos: int, hi: int) -> int | None:
        """First trigger start at or after ``pos``; -1 if none; None once too costly."""
        found = self.found
        while found and found[0] < pos:
            heapq.heappop(found)
        self.scan = max(self.scan, pos)  # an anchor before pos starts no trigger at pos+
        while not self.done and (not found or self.scan - self.reach < found[0]):
            at = buf.find(self.anchor, self.scan, hi)
            if at < 0:
                self.done = True
                break
            self.budget -= 1
            if self.budget < 0:
                return None
            for needle, index in self.needles:
                start = at - index
                if start >= pos and start + len(needle) <= hi and buf.startswith(needle, start):
                    heapq.heappush(found, start)
            self.scan = at + 1
        return found[0] if found else -1


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


class Finder:
    """The trigger hits in ``buf[lo:hi]`` of one chunk, found lazily and in order.

    Positions asked of :meth:`next` never go backwards (each search resumes where the
    last one stopped), which is what keeps a whole chunk to one pass per anchor.
    """

    def __init__(
        self,
        buf: bytes,
        hi: int,
        groups: list[_Anchored],
        plain: list[_Plain],
        owner: Triggers | None = None,
    ) -> None:
        self._buf = buf
        self._hi = hi
        self._groups = groups
        self._plain = plain
        self._owner = owner

    def next(self, pos: int) -> int:
        """Offset of the first trigger occurrence starting at or after ``pos``, or -1."""
        best = -1
        for group in list(self._groups):
            found = group.first(self._buf, pos, self._hi)
            if found is None:  # the anchor is common here: plain search is cheaper
                if self._owner is not None:
                    self._owner.stale = True  # choose anchors afresh on the next chunk
                self._groups.remove(group)
                self._plain.extend(_Plain(needle) for needle, _ in group.needles)
                continue
            if found >= 0 and (best < 0 or found < best):
                best = found
        for plain in self._plain:
            found = plain.first(self._buf, pos, self._hi)
            if found >= 0 and (best < 0 or found < best):
                best = found
        return best


class Triggers:
    """A fixed set of trigger strings; :meth:`finder` searches one chunk for them."""

    def __init__(self, needles: Sequence[bytes]) -> None:
        if not needles or any(not needle for needle in needles):
            raise ValueError("triggers must be non-empty strings")
        self.needles = tuple(needles)
        self.stale = True  # the anchors must be chosen (again) on the next large chunk
        self._cover: list[tuple[int | None, list[bytes]]] = []

    def finder(self, buf: bytes, lo: int, hi: int) -> Finder:
        """A :class:`Finder` over ``buf[lo:hi]``, anchored on bytes rare in this log.

        The anchors are chosen on a sample of a large chunk and kept until one turns
        out to be common, or while some trigger has none (then they are chosen again on
        the next chunk).
        """
        if hi - lo < _SMALL:
            return Finder(buf, hi, [], [_Plain(needle) for needle in self.needles])
        if self.stale:
            mid = lo + (hi - lo) // 2
            self._cover = _cover(self.needles, buf[mid : mid + _SAMPLE_BYTES])
            self.stale = any(anchor is None for anchor, _ in self._cover)
        budget = max(64, (hi - lo) // _MAX_ANCHOR_RATE)
        groups: list[_Anchored] = []
        plain: list[_Plain] = []
        for anchor, needles in self._cover:
            if anchor is None:
                plain.extend(_Plain(needle) for needle in needles)
            else:
                groups.append(_Anchored(anchor, needles, budget))
        return Finder(buf, hi, groups, plain, self)


def _cover(needles: Sequence[bytes], sample: bytes) -> list[tuple[int | None, list[bytes]]]:
    """Group the needles under as few, as rare anchor bytes as possible (greedy cover).

    Each round takes the byte with the lowest count per needle it would newly cover;
    needles whose rarest byte is still common in the sample get no anchor (None).
    """
    counts = {byte: sample.count(byte) for needle in needles for byte in set(needle)}
    limit = len(sample) // _MAX_ANCHOR_RATE
    left = list(dict.fromkeys(needles))
    groups: list[tuple[int | None, list[bytes]]] = []
    while left:
        candidates = {byte for needle in left for byte in needle if counts[byte] <= limit}
        if not candidates:
            groups.append((None, left))
            break
        anchor = min(
            candidates,
            key=lambda b: ((counts[b] + 1) / sum(b in n for n in left), b),
        )
        covered = [needle for needle in left if anchor in needle]
        groups.append((anchor, covered))
        left = [needle for needle in left if anchor not in needle]
    return groups
