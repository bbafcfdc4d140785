"""Reading a whole log file through an extractor: what ``iotwx-watch parse`` runs.

Kept apart from the pure extractors because it opens files; it reads in large
chunks and hands them to the very same :func:`make_extractor` the daemon uses.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import BinaryIO

from iotwx_watch.config import DEFAULT_MAX_LINE_BYTES, Config
from iotwx_watch.errors import SourceError
from iotwx_watch.events import Event
from iotwx_watch.extract import ExtractorKind, make_extractor

DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024


def iter_file_events(
    path: str,
    kind: ExtractorKind = "auto",
    *,
    config: Config | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    stats: Counter[str] | None = None,
) -> Iterator[Event]:
    """Yield the events of the file at ``path`` in log order.

    ``stats``, when given, receives the extractor's counters once the file is done.

    Raises:
        SourceError: the file cannot be opened or read.
    """
    max_line = config.max_line_bytes if config is not None else DEFAULT_MAX_LINE_BYTES
    extractor = make_extractor(kind, path=path, config=config, max_line_bytes=max_line)
    with _open(path) as handle:
        offset = 0
        try:
            while True:
                data = _read(handle, path, chunk_size)
                if not data:
                    break
                yield from extractor.feed(data, offset)
                offset += len(data)
            yield from extractor.finish()
        finally:
            if stats is not None:
                stats.update(extractor.stats)


def _open(path: str) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _read(handle: BinaryIO, path: str, size: int) -> bytes:
    try:
        return handle.read(size)
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from exc
