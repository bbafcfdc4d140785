"""Cursor serialisation, validation, and the pure framing function."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from iotwx_watch.errors import StateError
from iotwx_watch.follow.cursor import cursor_for, mismatch, sha256_hex
from iotwx_watch.follow.follower import Cursor, FileId, Follower
from iotwx_watch.follow.frame import frame
from iotwx_watch.follow.siblings import list_siblings, newer_than


def sample_cursor() -> Cursor:
    return Cursor(dev=2049, inode=77, offset=10, head_len=10,
                  head_sha256=sha256_hex(b"h"), marker_sha256=sha256_hex(b"m"))


def test_cursor_json_round_trip_has_design_keys() -> None:
    """to_json holds dev/inode/offset (docs/following.md) and from_json restores the cursor."""
    cursor = sample_cursor()
    data = cursor.to_json()
    design_keys = {k: data[k] for k in ("dev", "inode", "offset")}
    assert {"dev": 2049, "inode": 77, "offset": 10} == design_keys
    assert cursor == Cursor.from_json(data)


@pytest.mark.parametrize(
    "broken",
    [
        {},
        {"dev": 1, "inode": 2, "offset": 3},
        {**sample_cursor().to_json(), "offset": -1},
        {**sample_cursor().to_json(), "offset": "10"},
        {**sample_cursor().to_json(), "inode": True},
        {**sample_cursor().to_json(), "head_sha256": "zz"},
        {**sample_cursor().to_json(), "marker_sha256": None},
        {**sample_cursor().to_json(), "head_len": 5000},
    ],
)
def test_malformed_cursor_raises_state_error(broken: dict[str, Any]) -> None:
    """Empty, partial or mistyped cursor data is a StateError, never a guess."""
    with pytest.raises(StateError):
        Cursor.from_json(broken)


def test_non_mapping_cursor_raises_state_error() -> None:
    """A cursor that is not an object at all is a StateError."""
    with pytest.raises(StateError):
        Cursor.from_json([1, 2, 3])  # type: ignore[arg-type]


def test_cursor_for_and_mismatch_agree(tmp_path: Path) -> None:
    """A fresh cursor matches; appending keeps it valid; rewriting the head does not."""
    path = tmp_path / "f.log"
    path.write_bytes(b"one\ntwo\n")
    fd = os.open(path, os.O_RDONLY)
    try:
        cursor = cursor_for(fd, 4)
        assert (8, sha256_hex(b"one\n")) == (cursor.head_len, cursor.marker_sha256)
        assert mismatch(fd, cursor) is None
        with open(path, "ab") as f:
            f.write(b"three\n")
        assert mismatch(fd, cursor) is None
        with open(path, "r+b") as f:
            f.write(b"ONE")
        assert "head_changed" == mismatch(fd, cursor)
    finally:
        os.close(fd)


def test_empty_file_cursor_needs_no_minimum_size(tmp_path: Path) -> None:
    """A cursor on an empty file is valid and resumes as the file grows."""
    path = tmp_path / "f.log"
    path.write_bytes(b"")
    follower = Follower(str(path), cursor=None)
    assert [] == follower.read()
    cursor = follower.cursor_at(0)
    assert cursor is not None and 0 == cursor.head_len
    follower.close()
    path.write_bytes(b"x\n")
    resumed = Follower(str(path), cursor=cursor)
    assert [b"x\n"] == [c.data for c in resumed.read()]
    resumed.close()


def test_cursor_at_clamps_offsets_beyond_what_was_read(tmp_path: Path) -> None:
    """cursor_at never saves past the read position (e.g. a stale offset after truncation)."""
    path = tmp_path / "f.log"
    path.write_bytes(b"a\nb")
    follower = Follower(str(path), cursor=None)
    follower.read()
    cursor = follower.cursor_at(3)
    assert cursor is not None and 2 == cursor.offset
    assert 1 == follower.stats["cursor_clamped"]
    with pytest.raises(ValueError):
        follower.cursor_at(-1)
    assert FileId(os.stat(path).st_dev, os.stat(path).st_ino) == follower.current_file
    follower.close()


def test_frame_keeps_fragment_and_skips_nul_runs() -> None:
    """frame() emits complete lines only and drops NUL runs at line starts."""
    framed = frame(b"\x00\x00ab\n\x00\x00\x00cd\nef", 100, at_line_start=True)
    assert [(102, b"ab\n"), (108, b"cd\n")] == framed.pieces
    assert (11, 5, True) == (framed.consumed, framed.nul_skipped, framed.at_line_start)


def test_frame_mid_line_keeps_nuls() -> None:
    """NULs that continue an already started line are data, not a hole."""
    framed = frame(b"\x00x\n", 0, at_line_start=False)
    assert [(0, b"\x00x\n")] == framed.pieces
    assert 0 == framed.nul_skipped


def test_siblings_with_equal_mtimes_are_ordered_by_rotation_name(tmp_path: Path) -> None:
    """With equal mtimes, receive.log.3 is older than .2, and dated names sort ascending."""
    base = tmp_path / "receive.log"
    names = ["receive.log.1", "receive.log.10", "receive.log.2", "receive.log-20240106",
             "receive.log-20240105"]
    for name in names:
        (tmp_path / name).write_bytes(b"x\n")
        os.utime(tmp_path / name, ns=(5, 5))
    ordered = newer_than(list_siblings(str(base), None), 0, set())
    assert ["receive.log.10", "receive.log.2", "receive.log.1", "receive.log-20240105",
            "receive.log-20240106"] == [Path(s.path).name for s in ordered]
