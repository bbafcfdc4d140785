"""Records no extractor understood, read again after a reload.

An auth code lives ten minutes. When `status` reports a record the extractors could not
read, the operator adds a ``[[pattern]]`` for its form and reloads; this module then reads
each such record again, from the same file, through the new config's extractor. A record
that now yields events is handed to the engine (its code may still be valid) and stops
being an alarm; one that still does not stays.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from iotwx_watch.config import Config
from iotwx_watch.engine.core import Engine
from iotwx_watch.events import Event, UnrecognizedRecord
from iotwx_watch.extract import make_extractor
from iotwx_watch.log import get_logger
from iotwx_watch.state.model import MissedRecord, State

log = get_logger("runner")

WINDOW = 64 * 1024  # a callback dump is a few KiB; the record is read again within this


def note_files(state: State, path: str, dev: int, inode: int) -> None:
    """Remember which file the new missed records of ``path`` were read from."""
    for record in state.missed_records.values():
        if record.path == path and record.dev is None:
            record.dev, record.inode = dev, inode


def reread_missed(state: State, config: Config, engine: Engine) -> int:
    """Read every missed record again with ``config``; returns how many are now read."""
    kinds = {source.path: source.kind for source in config.sources}
    read = 0
    for key, record in list(state.missed_records.items()):
        kind = kinds.get(record.path)
        if kind is None or kind != record.kind:
            continue
        events = _events_at(record, config, kind)
        if events is None or any(
            isinstance(e, UnrecognizedRecord) and _offset(e) == record.offset for e in events
        ):
            continue
        engine.forget_missed(key)
        engine.handle([e for e in events if not isinstance(e, UnrecognizedRecord)])
        read += 1
    if read:
        log.info("runner.missed_records_read", records=read)
    return read


def _events_at(record: MissedRecord, config: Config, kind: str) -> list[Event] | None:
    """The events of the bytes at the record's position, or None if the file is gone."""
    data = _window(record)
    if data is None:
        return None
    extractor = make_extractor(kind, path=record.path, config=config,  # type: ignore[arg-type]
                               max_line_bytes=config.max_line_bytes)
    events = extractor.feed(data, record.offset) + extractor.finish()
    return [e for e in events if record.offset <= _offset(e) < record.offset + len(data)]


def _window(record: MissedRecord) -> bytes | None:
    """Whole lines from the record's offset, if the file at the path is still that file."""
    with _opened(record.path) as fd:
        if fd is None:
            return None
        st = os.fstat(fd)
        if (record.dev, record.inode) != (st.st_dev, st.st_ino) or st.st_size <= record.offset:
            return None
        try:
            data = os.pread(fd, WINDOW, record.offset)
        except OSError:
            return None
    end = data.rfind(b"\n")
    return data[: end + 1] if end != -1 else data


@contextlib.contextmanager
def _opened(path: str) -> Iterator[int | None]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        yield None
        return
    try:
        yield fd
    finally:
        os.close(fd)


def _offset(event: Event) -> int:
    return event.source.offset if event.source is not None else -1
