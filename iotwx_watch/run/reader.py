"""Reading a log as a stream of bounded chunks: follower → extractor, one chunk at a time.

`once`, `run` and `parse` read through :class:`SourceReader`, so what `parse` shows and
what the benchmarks time is what the daemon does. Each call of :meth:`SourceReader.chunks`
reads at most one read's worth of bytes (``READ_BYTES``), extracts it and yields its
events; the caller hands them on (to the engine, or to stdout) and only then asks for the
next chunk. So memory is bounded by one read plus the extractor's tail, whatever the
size of the file or the backlog, and a caller can make a cursor durable after each chunk
(:meth:`SourceReader.cursor` is the extractor's resume point: never past a record whose
events were not handed on).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from iotwx_watch.config import DEFAULT_MAX_LINE_BYTES, Config, SourceConfig
from iotwx_watch.errors import SourceError
from iotwx_watch.events import Event
from iotwx_watch.extract import Extractor, ExtractorKind, make_extractor
from iotwx_watch.follow.follower import READ_BYTES, Cursor, Follower


@dataclass
class SourceReader:
    """One log: its follower and the extractor for the file being read.

    ``app_config`` gives the extractor its patterns, envelope keys and line limit (None:
    the built-ins alone, as `parse` without --config); ``kind`` overrides the source's
    kind (`parse --kind auto`).
    """

    config: SourceConfig
    follower: Follower
    app_config: Config | None
    kind: ExtractorKind | None = None
    extractor: Extractor | None = None
    stats: Counter[str] = field(default_factory=Counter)

    def chunks(self, *, limit_to_snapshot: bool) -> Iterator[list[Event]]:
        """Read on, one bounded read at a time, yielding each read's events (maybe none).

        Stops when the follower has nothing more to hand on (or, with
        ``limit_to_snapshot``, at each file's size at the first read).
        """
        while True:
            chunks = self.follower.read(limit_to_snapshot=limit_to_snapshot, max_bytes=1)
            if not chunks:
                return
            events: list[Event] = []
            for chunk in chunks:
                if chunk.new_file or self.extractor is None:
                    self._retire_extractor()
                    self.extractor = self._make_extractor()
                events += self.extractor.feed(chunk.data, chunk.offset)
                if chunk.final:
                    events += self.extractor.finish()
                    self._retire_extractor()
            yield events
            if self.follower.drained:
                return

    def read(self, *, limit_to_snapshot: bool) -> list[Event]:
        """Everything new at once (for tests and small files): :meth:`chunks`, joined."""
        return [e for events in self.chunks(limit_to_snapshot=limit_to_snapshot) for e in events]

    def _make_extractor(self) -> Extractor:
        app = self.app_config
        return make_extractor(
            self.kind or self.config.kind,
            path=self.config.path,
            config=app,
            max_line_bytes=app.max_line_bytes if app is not None else DEFAULT_MAX_LINE_BYTES,
        )

    def _retire_extractor(self) -> None:
        if self.extractor is not None:
            self.stats.update(self.extractor.stats)
            self.extractor = None

    def extractor_stats(self) -> Counter[str]:
        """Counters so far, including those of the extractor still in use."""
        total = Counter(self.stats)
        if self.extractor is not None:
            total.update(self.extractor.stats)
        return total

    def cursor(self) -> Cursor | None:
        """Where a restart must resume: the extractor's resume point in the current file,
        or the follower's position when no bytes of it were handed on yet."""
        if self.extractor is not None:
            return self.follower.cursor_at(self.extractor.resume_offset)
        return self.follower.cursor_at(self.follower.position)

    def close(self) -> None:
        self.follower.close()


def iter_file_events(
    path: str,
    kind: ExtractorKind = "auto",
    *,
    config: Config | None = None,
    chunk_size: int = READ_BYTES,
    stats: Counter[str] | None = None,
) -> Iterator[Event]:
    """Yield the events of the whole file at ``path``, in log order, as the daemon reads it.

    The daemon's follower and extractor, reading the file once from its beginning to its
    size at the start (NUL holes dropped as the daemon drops them), and its unfinished last
    line too, as when a rotated file is let go. ``stats``, when given, receives the
    extractor's counters once the file is done.

    Raises:
        SourceError: the file cannot be opened or read.
    """
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from exc
    follower = Follower(path, cursor=None, max_read_bytes=chunk_size, whole_file=True)
    reader = SourceReader(SourceConfig("callback", path), follower, config, kind=kind)
    try:
        for events in reader.chunks(limit_to_snapshot=True):
            if follower.read_problem is not None:
                raise SourceError(f"cannot read {path}: {follower.read_problem[0]}")
            yield from events
        if follower.read_problem is not None:
            raise SourceError(f"cannot read {path}: {follower.read_problem[0]}")
    finally:
        reader.close()
        if stats is not None:
            stats.update(reader.extractor_stats())


def tune_allocator() -> None:
    """Keep freed read buffers mapped, so each 2 MiB read reuses memory instead of
    faulting fresh pages in (glibc returns a large freed block at the top of the heap to
    the system, then faults it in again for the next read: that costs more than the read).

    RSS stays bounded by the largest set of buffers alive at once. Does nothing where
    the C library has no ``mallopt`` (musl, macOS).
    """
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_TRIM_THRESHOLD, 32 << 20)
        libc.mallopt(_M_MMAP_THRESHOLD, 16 << 20)


_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
