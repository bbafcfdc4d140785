"""Follower framing and start-up behaviour over real files, for every wake-up backend."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from structlog.testing import capture_logs

from iotwx_watch.follow.follower import Follower
from tests.follow.support import Harness, append
from tests.follow.support import harness_factory as harness_factory

Make = Callable[..., Harness]


def test_appended_lines_are_delivered_in_order(harness_factory: Make) -> None:
    """One line, then several (with an empty one and CRLF), arrive whole and in order."""
    h = harness_factory()
    append(h.path, b"one\n")
    assert [b"one\n"] == h.pump_lines(1)
    append(h.path, b"two\r\n\nthree\n")
    assert [b"one\n", b"two\r\n", b"\n", b"three\n"] == h.pump_lines(4)
    assert h.chunks[0].new_file
    assert not any(c.new_file for c in h.chunks[1:])


def test_half_line_is_held_until_its_newline(harness_factory: Make) -> None:
    """A partial write is not delivered; once completed it arrives exactly once."""
    h = harness_factory()
    append(h.path, b"first\nsec")
    assert [b"first\n"] == h.pump_lines(1)
    assert [] == h.read()
    assert 6 == h.follower.cursor_at(6).offset  # type: ignore[union-attr]
    append(h.path, b"ond\n")
    assert [b"first\n", b"second\n"] == h.pump_lines(2)


def test_multibyte_character_split_across_writes(harness_factory: Make) -> None:
    """A UTF-8 character split between two writes reaches the consumer intact."""
    h = harness_factory()
    text = "收到的id: dk1\n".encode()
    append(h.path, text[:1])
    append(h.path, text[1:2])
    assert [] == h.read()
    append(h.path, text[2:])
    assert [text] == h.pump_lines(1)


def test_over_long_line_is_handed_on_in_bounded_pieces(harness_factory: Make) -> None:
    """A line longer than max_read_bytes arrives in unterminated pieces, then the next line."""
    h = harness_factory(max_read_bytes=1000)
    long_line = b"x" * 3500 + b"\n"
    append(h.path, long_line + b"next\n")
    h.pump_until(lambda: h.data().endswith(b"next\n"))
    assert [long_line, b"next\n"] == h.lines()
    assert all(len(c.data) <= 1000 for c in h.chunks)
    assert [True, True, True, False] == [c.unterminated for c in h.chunks[:4]]


def test_missing_file_is_waited_for_quietly_and_read_from_start(
    harness_factory: Make, tmp_path: Path
) -> None:
    """A file (and directory) that does not exist yet logs once, then is read whole."""
    deep = tmp_path / "later" / "receive.log"
    h = harness_factory()
    h.move_to(deep)
    h.follower = Follower(str(deep), cursor=None, start="end", clock=h.clock)
    with capture_logs() as logs:
        for _ in range(5):
            assert [] == h.read()
    assert 1 == [e["event"] for e in logs].count("follow.waiting_for_file")
    deep.parent.mkdir()
    append(deep, b"early\n")
    assert [b"early\n"] == h.pump_lines(1)


def test_start_end_skips_history_but_not_a_line_in_progress(tmp_path: Path) -> None:
    """start="end" begins after the last complete line, so a half-written line is kept."""
    path = tmp_path / "receive.log"
    append(path, b"old\nhalf")
    follower = Follower(str(path), cursor=None, start="end")
    assert [] == follower.read()
    append(path, b" done\n")
    assert [b"half done\n"] == [c.data for c in follower.read()]
    follower.close()


def test_start_beginning_reads_history(tmp_path: Path) -> None:
    """start="beginning" (the default) delivers what the file already holds."""
    path = tmp_path / "receive.log"
    append(path, b"old\n")
    follower = Follower(str(path), cursor=None)
    assert [b"old\n"] == [c.data for c in follower.read()]
    follower.close()


def test_limit_to_snapshot_stops_at_size_of_first_call(tmp_path: Path) -> None:
    """With limit_to_snapshot a file written during `once` still ends at the first size."""
    path = tmp_path / "receive.log"
    append(path, b"a\nb\n")
    follower = Follower(str(path), cursor=None)
    first = follower.read(limit_to_snapshot=True)
    append(path, b"c\n")
    assert [] == follower.read(limit_to_snapshot=True)
    assert [b"a\nb\n"] == [c.data for c in first]
    follower.close()


def test_max_bytes_bounds_one_call(tmp_path: Path) -> None:
    """read(max_bytes=...) returns a bounded batch; repeated calls deliver the rest."""
    path = tmp_path / "receive.log"
    append(path, b"".join(b"line %d\n" % i for i in range(1000)))
    follower = Follower(str(path), cursor=None, max_read_bytes=100)
    batches = []
    while batch := follower.read(max_bytes=500):
        batches.append(b"".join(c.data for c in batch))
    assert all(len(b) < 600 for b in batches)
    assert b"".join(b"line %d\n" % i for i in range(1000)) == b"".join(batches)
    follower.close()


def test_a_full_read_is_handed_on_whole_and_the_last_read_keeps_half_a_line(
    tmp_path: Path,
) -> None:
    """A read that fills max_read_bytes with more of the file behind it is handed on as
    read, its unfinished last line included (no copy to cut it off); the next chunk goes
    on at the next offset. The read that reaches the end stops at its last newline."""
    path = tmp_path / "receive.log"
    content = b"".join(b"line %03d\n" % i for i in range(100)) + b"unfinished"
    append(path, content)
    follower = Follower(str(path), cursor=None, max_read_bytes=100)
    chunks = []
    while batch := follower.read(max_bytes=1):
        chunks += batch
    assert [c.offset for c in chunks] == [sum(len(c.data) for c in chunks[:i])
                                          for i in range(len(chunks))]
    assert content[: content.rfind(b"\n") + 1] == b"".join(c.data for c in chunks)
    assert any(not c.data.endswith(b"\n") for c in chunks[:-1])  # half lines went on
    assert chunks[-1].data.endswith(b"\n")
    append(path, b" now\n")
    assert [b"unfinished now\n"] == [c.data for c in follower.read()]
    follower.close()


def test_no_file_contents_in_log_lines(tmp_path: Path) -> None:
    """Rotation/truncation log lines carry counts and names, never the bytes read."""
    path = tmp_path / "receive.log"
    append(path, b"SECRETTICKET123\n")
    follower = Follower(str(path), cursor=None)
    follower.read()
    with capture_logs() as logs:
        path.write_bytes(b"")
        follower.read()
    assert ["follow.truncated"] == [e["event"] for e in logs]
    assert "SECRETTICKET123" not in repr(logs)
    follower.close()


def test_follower_imports_no_http_cli_or_watchdog() -> None:
    """The follower is a file adapter: importing it loads neither httpx, click nor watchdog."""
    code = (
        "import sys, iotwx_watch.follow.follower\n"
        "print(sorted(m for m in ('httpx', 'click', 'watchdog') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "[]" == out.stdout.strip()


def test_position_is_the_read_offset_of_the_current_file(tmp_path: Path) -> None:
    """position says how far the current file was read (never past a half line)."""
    path = tmp_path / "receive.log"
    follower = Follower(str(path), cursor=None)
    assert 0 == follower.position
    append(path, b"abc\nde")
    follower.read()
    assert 4 == follower.position
    follower.close()


def test_bytes_pass_through_unchanged(harness_factory: Make) -> None:
    """BOM, invalid UTF-8, GBK and NULs inside a line reach the extractor byte for byte."""
    h = harness_factory()
    raw = b"\xef\xbb\xbfbom\n\xff\xfe bad utf8\n\xca\xd5\xb5\xbd gbk\nmid\x00nul\n"
    append(h.path, raw)
    h.pump_until(lambda: h.data() == raw)
    assert raw == h.data()
