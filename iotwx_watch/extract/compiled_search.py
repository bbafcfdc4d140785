"""The trigger search on Hyperscan: every trigger word of a scanner in one pass, in C.

Hyperscan (Intel's multi-pattern matcher, on PyPI as ``hyperscan``) compiles all the
triggers, their key contexts included, into one automaton and scans a read at several
GB/s with SIMD: about 0.2 ms per MiB for the callback triggers, where ``re`` needs two
passes at 0.4-0.5 ms each and CPython's substring search one pass per word. Only real
hits reach Python, through Hyperscan's match callback.

It is optional: a machine without a wheel for it (or a CPU it does not support) gets
the pure-Python search of :mod:`.search`, which finds exactly the same hits (a property
test checks that on arbitrary bytes).
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from iotwx_watch.extract.search import KeyContext

_BLANK_TAIL = rb"[ \t]{0,4}(?:"


@functools.cache
def load() -> Any | None:
    """The ``hyperscan`` module, or None where it cannot be imported or cannot run here.

    Imported on first use (about 12 ms), so commands that read no log never load it;
    the answer cannot change within a process, so it is asked once.
    """
    try:
        import hyperscan
    except (ImportError, OSError):
        return None
    try:  # the CPU may lack what the library was built for (SSSE3 on x86)
        _database(hyperscan, (b"probe",))
    except Exception:
        return None
    return hyperscan


def _hex(data: bytes) -> bytes:
    return b"".join(b"\\x%02x" % byte for byte in data)


def _class(chars: bytes) -> bytes:
    return b"[" + _hex(bytes(sorted(set(chars)))) + b"]"


class CompiledTriggers:
    """One Hyperscan database for a scanner's triggers; :meth:`window` scans part of a read.

    A key-only word (see :class:`~iotwx_watch.extract.search.KeyContext`) becomes two
    expressions, ``[before]WORD`` and ``WORD[ \\t]{0,4}(?:[after]|\\z)``, exactly the
    regex the pure-Python search uses; every other trigger is its literal bytes. Each
    expression reports its leftmost start, and ``shift`` says where the word starts
    relative to it (one byte later for ``[before]WORD``).
    """

    def __init__(self, hyperscan: Any, needles: Sequence[bytes], keys: KeyContext) -> None:
        made = _expressions(needles, keys)
        self._shift = [shift for _, shift, _ in made]
        self._reach = max(longest for _, _, longest in made)  # the longest match there is
        self._db = _database(hyperscan, tuple(expression for expression, _, _ in made))
        self._scratch = hyperscan.Scratch(self._db)
        self._stopped = hyperscan.ScanTerminated

    def finder(self, buf: bytes, lo: int, hi: int) -> CompiledFinder:
        """A finder over ``buf[lo:hi]``; it scans window by window as it is asked."""
        return CompiledFinder(self, buf, hi)

    def window(
        self, buf: bytes, start: int, hi: int, size: int
    ) -> tuple[list[int], int] | int:
        """Scan ``buf[start:start + size]`` (at most to ``hi``); return the sorted starts of
        the triggers found there and how far that list is complete: every trigger starting
        before that offset and at or after ``start`` is in it.

        The scan starts one byte early, so a key's ``before`` byte there counts (the
        pure-Python regex looks behind its start too). Short of ``hi``, a trigger starting
        in the last ``reach`` bytes may be cut off (or end in a false ``\\z``), so the list
        is complete only up to there. A scan that meets more than ``MAX_MATCHES`` matches
        (each costs a Python callback) stops and returns instead the size of a window that
        would hold about that many.
        """
        size = max(size, 2 * self._reach)  # a window must hold more than a cut-off trigger
        origin = max(start - 1, 0)
        stop = min(hi, start + size)
        shift = self._shift
        found: set[int] = set()
        last = 0

        def on_match(ident: int, first: int, end: int, _flags: int, _context: object) -> bool:
            nonlocal last
            found.add(origin + first + shift[ident])
            last = max(last, end)
            return size > MIN_WINDOW and len(found) >= MAX_MATCHES

        try:
            self._db.scan(memoryview(buf)[origin:stop], match_event_handler=on_match,
                          scratch=self._scratch)
        except self._stopped:
            return max(MIN_WINDOW, last // 2)
        complete = stop if stop == hi else stop - self._reach + 1
        return sorted(at for at in found if start <= at < complete), complete


MAX_MATCHES = 256
MIN_WINDOW = 4 * 1024


def _expressions(
    needles: Sequence[bytes], keys: KeyContext
) -> list[tuple[bytes, int, int]]:
    """(expression, shift, longest match) for each trigger: see :class:`CompiledTriggers`."""
    out: list[tuple[bytes, int, int]] = []
    for needle in dict.fromkeys(needles):
        if needle in keys.words:
            out.append((_class(keys.before) + _hex(needle), 1, len(needle) + 1))
            out.append((_hex(needle) + _BLANK_TAIL + _class(keys.after) + rb"|\z)", 0,
                        len(needle) + 5))
        else:
            out.append((_hex(needle), 0, len(needle)))
    return out


@functools.lru_cache(maxsize=64)
def _database(hyperscan: Any, expressions: tuple[bytes, ...]) -> Any:
    """The compiled database for these expressions, compiled once per process (about
    4 ms each: an extractor is made per file and per rotation, and `parse` of many small
    files, or a test making thousands, would pay it each time). A database is immutable;
    what a scan writes is its scratch, which each user allocates for itself."""
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(
        expressions=expressions,
        ids=list(range(len(expressions))),
        elements=len(expressions),
        flags=[hyperscan.HS_FLAG_SOM_LEFTMOST] * len(expressions),
    )
    return db


class CompiledPool:
    """One Hyperscan database for the triggers of several scanners (a
    :class:`~iotwx_watch.extract.search.TriggerPool`): :meth:`scan` lists each one's hits
    in a read at once."""

    def __init__(
        self, hyperscan: Any, groups: Sequence[tuple[Sequence[bytes], KeyContext]]
    ) -> None:
        expressions: list[bytes] = []
        self._owner: list[int] = []
        self._shift: list[int] = []
        for index, (needles, keys) in enumerate(groups):
            for expression, shift, _ in _expressions(needles, keys):
                expressions.append(expression)
                self._owner.append(index)
                self._shift.append(shift)
        self._groups = len(groups)
        self._db = _database(hyperscan, tuple(expressions))
        self._scratch = hyperscan.Scratch(self._db)
        self._stopped = hyperscan.ScanTerminated

    def scan(self, buf: bytes, lo: int, hi: int) -> list[list[int]] | None:
        """Each group's sorted hits wholly in ``buf[lo:hi]`` (a key's ``before`` byte may be
        at ``lo - 1``), or None when the read holds more than ``MAX_MATCHES`` matches."""
        origin = max(lo - 1, 0)
        owner, shift = self._owner, self._shift
        found: list[set[int]] = [set() for _ in range(self._groups)]
        count = 0

        def on_match(ident: int, first: int, _end: int, _flags: int, _context: object) -> bool:
            nonlocal count
            found[owner[ident]].add(origin + first + shift[ident])
            count += 1
            return count > MAX_MATCHES

        try:
            self._db.scan(memoryview(buf)[origin:hi], match_event_handler=on_match,
                          scratch=self._scratch)
        except self._stopped:
            return None
        return [sorted(at for at in hits if at >= lo) for hits in found]


class ListedFinder:
    """A :class:`~iotwx_watch.extract.search.Finder` over hits already listed (all of
    them from the finder's start on)."""

    def __init__(self, hits: list[int]) -> None:
        self._hits = hits

    def next(self, pos: int) -> int:
        """Offset of the first hit at or after ``pos``, or -1."""
        index = bisect.bisect_left(self._hits, pos)
        return self._hits[index] if index < len(self._hits) else -1


class CompiledFinder:
    """A :class:`~iotwx_watch.extract.search.Finder` that scans the rest of a read at once,
    or window by window where triggers are dense.

    A scan reports every match through a Python callback, and a scanner that reads a
    whole line at its first hit asks for the next one after that line: a line made of
    trigger words must not cost a callback per word. So a scan stops after
    ``MAX_MATCHES`` matches, and the part it had reached is scanned again in a window
    that holds about that many; the next ask past the window scans the rest again.
    """

    def __init__(self, triggers: CompiledTriggers, buf: bytes, hi: int) -> None:
        self._triggers = triggers
        self._buf = buf
        self._hi = hi
        self._from = -1  # _hits holds every hit in [_from, _complete) (-1: nothing scanned)
        self._complete = -1
        self._hits: list[int] = []

    def next(self, pos: int) -> int:
        """Offset of the first hit at or after ``pos``, or -1."""
        start = pos
        if 0 <= self._from <= pos:
            index = bisect.bisect_left(self._hits, pos)
            if index < len(self._hits):
                return self._hits[index]
            if self._complete >= self._hi:
                return -1
            start = max(pos, self._complete)
        size = self._hi - start
        while True:
            scanned = self._triggers.window(self._buf, start, self._hi, size)
            if isinstance(scanned, int):  # too dense: a smaller window
                size = scanned
                continue
            hits, complete = scanned
            self._from, self._complete, self._hits = start, complete, hits
            if hits or complete >= self._hi:
                return hits[0] if hits else -1
            start = complete
            size = self._hi - start
