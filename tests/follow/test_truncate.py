"""Truncation and copytruncate, while running and while stopped, for every backend."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

import pytest

from tests.follow.support import Harness, append
from tests.follow.support import harness_factory as harness_factory

Make = Callable[..., Harness]


def test_truncate_to_zero_then_write(harness_factory: Make) -> None:
    """After truncation the file is read again from 0, flagged as a new file."""
    h = harness_factory()
    append(h.path, b"a1\na2\n")
    h.pump_lines(2)
    os.truncate(h.path, 0)
    h.read()
    append(h.path, b"b1\n")
    assert [b"a1\n", b"a2\n", b"b1\n"] == h.pump_lines(3)
    assert h.chunks[-1].new_file
    assert 0 == h.chunks[-1].offset
    assert 1 == h.follower.stats["truncations"]


def test_copytruncate_with_stale_writer_emits_no_nul(harness_factory: Make) -> None:
    """A non-O_APPEND writer leaves a NUL hole after copytruncate; it is skipped."""
    h = harness_factory()
    writer = os.open(h.path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(writer, b"a1\na2\n")
        h.pump_lines(2)
        shutil.copyfile(h.path, h.path.with_name("receive.log.1"))
        os.truncate(h.path, 0)
        os.write(writer, b"after\n")  # lands at offset 6: six NULs before it
    finally:
        os.close(writer)
    assert [b"a1\n", b"a2\n", b"after\n"] == h.pump_lines(3)
    assert b"\x00" not in h.data()
    assert 6 == h.follower.stats["nul_bytes_skipped"]
    assert 6 == h.chunks[-1].offset


@pytest.mark.parametrize(
    ("mode", "rewrite", "expected"),
    [
        # Truncated and rewritten longer before the next check.
        pytest.param("wb", b"rewritten line one\nline two\n",
                     [b"a1\n", b"rewritten line one\n", b"line two\n"], id="regrown_past_offset"),
        # Same size, other bytes before the offset: the marker tells.
        pytest.param("r+b", b"z9\n", [b"a1\n", b"z9\n"], id="same_size"),
    ],
)
def test_file_rewritten_in_place_is_reread_from_0(
    harness_factory: Make, mode: str, rewrite: bytes, expected: list[bytes]
) -> None:
    """A file rewritten in place behind the read position is detected and read again from 0."""
    h = harness_factory()
    append(h.path, b"a1\n")
    h.pump_lines(1)
    with open(h.path, mode) as f:
        f.write(rewrite)
    assert expected == h.pump_lines(len(expected))


def test_truncate_while_stopped_resets_cursor(harness_factory: Make) -> None:
    """A saved offset past the (truncated, regrown) file's end is not trusted."""
    h = harness_factory()
    saved = h.stop_after(b"a1\na2\na3\n", 3)
    os.truncate(h.path, 0)
    append(h.path, b"b1\n")
    logs = h.resume(saved, 4)
    assert [b"a1\n", b"a2\n", b"a3\n", b"b1\n"] == h.lines()
    assert ["offset_beyond_size"] == [
        e["reason"] for e in logs if e["event"] == "follow.cursor_reset"
    ]


def test_copytruncate_regrown_past_offset_while_stopped(harness_factory: Make) -> None:
    """Same first KiB, regrown past the saved offset while stopped: the marker catches it."""
    header = b"".join(b"header %04d\n" % i for i in range(100))  # 1200 bytes
    h = harness_factory()
    saved = h.stop_after(header + b"a1\n", 101)
    os.truncate(h.path, 0)
    append(h.path, header + b"b1\nb2\n")
    logs = h.resume(saved, 101 + 102)
    assert [b"b1\n", b"b2\n"] == h.lines()[-2:]
    assert ["marker_changed"] == [
        e["reason"] for e in logs if e["event"] == "follow.cursor_reset"
    ]


def test_valid_cursor_resumes_without_duplicates(harness_factory: Make) -> None:
    """A cursor that still matches resumes exactly where it was taken."""
    h = harness_factory()
    saved = h.stop_after(b"a1\n", 1)
    append(h.path, b"a2\n")
    logs = h.resume(saved, 2)
    assert [b"a1\n", b"a2\n"] == h.lines()
    assert [] == [e for e in logs if e["event"] == "follow.cursor_reset"]


def test_partial_line_across_restart_completed_once(harness_factory: Make) -> None:
    """A half line at shutdown is not saved past; after restart it arrives once."""
    h = harness_factory()
    saved = h.stop_after(b"a1\nhal", 1)
    assert 3 == saved.offset
    append(h.path, b"f\n")
    h.restart(saved)
    assert [b"a1\n", b"half\n"] == h.pump_lines(2)


def test_cursor_behind_read_position_rereads(harness_factory: Make) -> None:
    """A cursor taken behind the read position (extractor resume) re-reads those bytes."""
    h = harness_factory()
    append(h.path, b"r1\nr2\n")
    h.pump_lines(2)
    behind = h.follower.cursor_at(3)
    assert behind is not None
    h.restart(behind)
    h.pump_lines(3)
    assert [b"r1\n", b"r2\n", b"r2\n"] == h.lines()
