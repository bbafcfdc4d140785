"""Reading whole files for `parse`: chunked reads, stats, and unreadable files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from iotwx_watch.errors import SourceError
from iotwx_watch.events import SourcePosition, SuiteTicket
from iotwx_watch.run.reader import iter_file_events

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
