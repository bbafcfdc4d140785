"""Extractors: pure functions from log bytes to events (no file IO, clock or logging).

``make_extractor(kind, path=…)`` returns an :class:`Extractor` for one file:
``callback`` reads WeCom command callbacks from receive.log (:mod:`.callback`),
``policy_engine`` reads 60020 refusals from policy_engine.log (:mod:`.policy`), and
``auto`` (for ``parse``) runs both over the same bytes, merging their events in offset
order, until the first read that yields events shows which log this is; from then on
only that kind runs (both, if that read held both). A file holding both kinds whose
first events are of one kind needs an explicit kind. Operator patterns from the
config (:mod:`.patterns`) are added for the matching kind(s).

Besides the events proper, an extractor reports each record that looks like a
callback (or a 60020 refusal) but gave no event as an
:class:`~iotwx_watch.events.UnrecognizedRecord`, in offset order with the others, so
a record the extractor could not read is never lost silently. Such records never
decide the kind of an ``auto`` extractor.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Literal, Protocol

from iotwx_watch.config import DEFAULT_MAX_LINE_BYTES, Config, SourceKind
from iotwx_watch.events import Event

if TYPE_CHECKING:
    from iotwx_watch.extract.chunks import Scanner

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "EXTRACTOR_KINDS",
    "ExtractorKind",
    "Extractor",
    "make_extractor",
]

ExtractorKind = Literal["callback", "policy_engine", "auto"]
EXTRACTOR_KINDS: tuple[ExtractorKind, ...] = ("callback", "policy_engine", "auto")


class Extractor(Protocol):
    """Bytes of one file in, events out; counters in ``stats``.

    ``stats`` keys: ``bytes``, ``records`` (candidate records seen), ``events.<type>``
    (events proper), ``unrecognized.<reason>`` (records reported as unrecognized, by
    the reason they carry), ``skipped.<reason>`` (``unknown_info_type``,
    ``invalid_suite_id``, ``masked_auth_code``, ``long_line``, …), ``rejects.<reason>``
    (``bad_signature``, ``receiveid_mismatch``, … for encrypted envelopes) and, for
    ``auto``, ``guessed.<kind>`` once the kind is known.
    """

    stats: Counter[str]

    def feed(self, data: bytes, offset: int) -> list[Event]:
        """``data`` = the next bytes of the file, starting at file offset ``offset``.

        Any chunk boundary is fine: an unterminated tail is kept (bounded by
        ``max_line_bytes``) until its newline arrives. Returns events in log order,
        each with ``source`` = (path, offset of the record's first line). An offset
        that does not continue the previous feed starts over there.
        """
        ...

    def finish(self) -> list[Event]:
        """End of file for good: flush what can still be completed."""
        ...

    @property
    def resume_offset(self) -> int:
        """File offset from which a fresh extractor must re-read to reproduce every event
        not yet returned (the start of an unfinished record or of the context lines it
        needs, else the end of the last complete line fed)."""
        ...


def make_extractor(
    kind: ExtractorKind,
    *,
    path: str,
    config: Config | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> Extractor:
    """An extractor for one file of the given kind (see the module docstring)."""
    # The scanners (and their regexes) load here, not with this module: `--help` and
    # `status` import the kinds above and never extract.
    from iotwx_watch.extract.callback import CallbackScanner
    from iotwx_watch.extract.chunks import ChunkExtractor
    from iotwx_watch.extract.patterns import PatternScanner
    from iotwx_watch.extract.policy import PolicyScanner
    from iotwx_watch.extract.search import TriggerPool

    if kind not in EXTRACTOR_KINDS:
        raise ValueError(f"unknown extractor kind {kind!r}")
    kinds: tuple[SourceKind, ...] = ("callback", "policy_engine") if kind == "auto" else (kind,)
    scanners: list[Scanner] = []
    pool = TriggerPool()  # one scan of each read for all the scanners' trigger words
    for one in kinds:
        if one == "callback":
            scanners.append(
                CallbackScanner(path, config, max_line_bytes=max_line_bytes, pool=pool))
        else:
            scanners.append(PolicyScanner(path, max_line_bytes=max_line_bytes, pool=pool))
        patterns = PatternScanner(
            path, one, config.patterns if config else (), max_line_bytes=max_line_bytes,
            pool=pool,
        )
        if patterns:
            scanners.append(patterns)
    return ChunkExtractor(scanners, max_line_bytes=max_line_bytes, guess=kind == "auto")
