"""SourceReader: bounded reads extracted one at a time, cursors that never pass a record not
yet handed on, NUL holes, and whole files for `parse`."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from iotwx_watch.config import SourceConfig
from iotwx_watch.errors import SourceError
from iotwx_watch.events import SourcePosition, SuiteTicket
from iotwx_watch.follow.follower import Cursor, Follower
from iotwx_watch.run.reader import SourceReader, iter_file_events

TICKET = (
    b"<xml><SuiteId>dk7f3a9c2b41e05d68</SuiteId>\n<InfoType>suite_ticket</InfoType>\n"
    b"<TimeStamp>1795856400</TimeStamp>\n<SuiteTicket>t-9</SuiteTicket>\n</xml>\n"
)


def test_events_and_stats_of_a_file_read_in_small_chunks(tmp_path: Path) -> None:
    """A record split by the read size is found once, and the stats are handed back."""
    log = tmp_path / "receive.log"
    log.write_bytes(b"noise\n" * 10 + TICKET)
    stats: Counter[str] = Counter()
    events = list(iter_file_events(str(log), "callback", chunk_size=16, stats=stats))
    assert [SuiteTicket("dk7f3a9c2b41e05d68", "t-9", 1795856400, SourcePosition(str(log), 60))] == (
        events
    )
    assert (60 + len(TICKET), 1) == (stats["bytes"], stats["events.suite_ticket"])


def test_missing_file_and_directory_raise_source_error(tmp_path: Path) -> None:
    """A file that cannot be read is a SourceError naming it, not an OSError."""
    with pytest.raises(SourceError, match="missing.log"):
        list(iter_file_events(str(tmp_path / "missing.log")))
    with pytest.raises(SourceError, match=str(tmp_path)):
        list(iter_file_events(str(tmp_path)))


def reader_for(path: Path, *, cursor: Cursor | None = None, read: int = 64) -> SourceReader:
    """A callback SourceReader over ``path`` whose follower reads ``read`` bytes at a time."""
    follower = Follower(str(path), cursor=cursor, max_read_bytes=read)
    return SourceReader(SourceConfig("callback", str(path)), follower, None)


def test_a_record_straddling_two_reads_is_found_once_from_any_saved_cursor(
    tmp_path: Path,
) -> None:
    """A multi-line record cut by the read size: the cursor kept after each read never
    passes the record before its event was handed on, so a restart from any of them
    yields the event exactly once over both runs."""
    log = tmp_path / "receive.log"
    log.write_bytes(b"noise line\n" * 9 + "收到的id: dk7f3a9c2b41e05d68\n".encode() + TICKET
                    + b"tail line\n" * 9)
    reader = reader_for(log)
    seen: list[tuple[int, int]] = []  # (events so far, cursor offset) after each read
    events = []
    for chunk_events in reader.chunks(limit_to_snapshot=True):
        events += chunk_events
        cursor = reader.cursor()
        assert cursor is not None
        seen.append((len(events), cursor.offset))
    reader.close()
    assert 1 == len(events)
    assert len(seen) > 3  # the record really was cut
    content = log.read_bytes()  # full reads hand on half lines; a cursor never passes one
    assert all(offset == 0 or content[offset - 1 : offset] == b"\n" for _, offset in seen)
    for found_before, offset in seen:
        restarted = reader_for(log, cursor=cursor_at(log, offset))
        again = restarted.read(limit_to_snapshot=True)
        restarted.close()
        assert 1 == found_before + len(again), f"restart at {offset}"


def cursor_at(path: Path, offset: int) -> Cursor:
    """The cursor a runner would have saved at ``offset`` of ``path``."""
    follower = Follower(str(path), cursor=None)
    follower.read()
    cursor = follower.cursor_at(offset)
    follower.close()
    assert cursor is not None
    return cursor


def test_a_nul_hole_inside_a_read_is_dropped_and_offsets_stay_exact(tmp_path: Path) -> None:
    """A run of NULs at a line start (copytruncate under a writer without O_APPEND) in the
    middle of one read is skipped and counted; the record after it keeps its offset, and a
    NUL inside a line is left alone."""
    head = b"before\x00inside a line\n"
    hole = b"\x00" * 4096
    log = tmp_path / "receive.log"
    log.write_bytes(head + hole + TICKET + b"after\n")
    reader = reader_for(log, read=1 << 20)
    events = reader.read(limit_to_snapshot=True)
    reader.close()
    offset = len(head) + len(hole)
    expected = SuiteTicket("dk7f3a9c2b41e05d68", "t-9", 1795856400,
                           SourcePosition(str(log), offset))
    assert [expected] == events
    assert len(hole) == reader.follower.stats["nul_bytes_skipped"]
