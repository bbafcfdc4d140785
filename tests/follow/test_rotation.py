"""Rotation by rename, while running and while stopped, for every wake-up backend."""

from __future__ import annotations

import dataclasses
import gzip
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from iotwx_watch.follow.follower import Follower
from iotwx_watch.run.wakeup import Wakeup
from tests.follow.support import Harness, append
from tests.follow.support import harness_factory as harness_factory

Make = Callable[..., Harness]


def rotate(path: Path, keep: int = 3) -> None:
    """logrotate `create`: shift path.N to path.N+1, rename path to path.1."""
    for n in range(keep, 0, -1):
        older = path.with_name(f"{path.name}.{n}")
        if older.exists():
            older.rename(path.with_name(f"{path.name}.{n + 1}"))
    path.rename(path.with_name(f"{path.name}.1"))


def test_rename_while_writer_still_writes_old_file(harness_factory: Make) -> None:
    """Old-file bytes written after the rename come first; the new file follows."""
    h = harness_factory()
    writer = os.open(h.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(writer, b"a1\n")
        h.pump_lines(1)
        rotate(h.path)
        append(h.path, b"b1\n")
        os.write(writer, b"a2\n")
        h.pump_until(lambda: b"a2\n" in h.lines())
        os.write(writer, b"a3\n")
        h.pump_until(lambda: b"a3\n" in h.lines())
        assert [b"a1\n", b"a2\n", b"a3\n"] == h.lines()
        h.clock.advance(2.0)
        h.pump_until(lambda: b"b1\n" in h.lines())
    finally:
        os.close(writer)
    assert [b"a1\n", b"a2\n", b"a3\n", b"b1\n"] == h.lines()
    finals = [c for c in h.chunks if c.final]
    assert 1 == len(finals)
    assert b"" == finals[0].data
    assert h.chunks[-1].new_file
    assert 1 == h.follower.stats["rotations"]


def test_rotated_file_kept_for_grace_period_while_path_missing(harness_factory: Make) -> None:
    """With no new file, the renamed one is followed until rotate_wait_s of quiet."""
    h = harness_factory(rotate_wait_s=30.0)
    append(h.path, b"a1\n")
    h.pump_lines(1)
    old = h.path.with_name("receive.log.1")
    h.path.rename(old)
    h.clock.advance(29.0)
    append(old, b"a2\n")
    h.pump_lines(2)
    assert not any(c.final for c in h.chunks)
    h.clock.advance(29.0)
    h.read()
    assert not any(c.final for c in h.chunks)
    h.clock.advance(2.0)
    h.pump_until(lambda: any(c.final for c in h.chunks))
    append(h.path, b"new\n")
    assert [b"a1\n", b"a2\n", b"new\n"] == h.pump_lines(3)


def test_unterminated_tail_of_rotated_file_is_emitted_once_flagged(harness_factory: Make) -> None:
    """A rotated file that never finishes its last line hands it on at close, flagged."""
    h = harness_factory()
    append(h.path, b"a1\npartial")
    h.pump_lines(1)
    rotate(h.path)
    append(h.path, b"b1\n")
    h.read()
    h.clock.advance(5.0)
    h.pump_until(lambda: b"b1\n" in h.data())
    tails = [c for c in h.chunks if c.unterminated]
    assert [(b"partial", True)] == [(c.data, c.final) for c in tails]
    assert 1 == h.data().count(b"partial")


def test_rapid_repeated_rotations_lose_nothing(harness_factory: Make) -> None:
    """Several rotations before the next read: every generation is read, oldest first."""
    h = harness_factory()
    append(h.path, b"g0\n")
    h.pump_lines(1)
    for gen in (1, 2, 3):
        rotate(h.path)
        append(h.path, b"g%d\n" % gen)
    for _ in range(4):
        h.clock.advance(2.0)
        h.read()
    h.pump_until(lambda: len(h.lines()) >= 4)
    assert [b"g0\n", b"g1\n", b"g2\n", b"g3\n"] == h.lines()


def test_delete_and_recreate(harness_factory: Make) -> None:
    """A deleted file is drained, then the recreated one is read from its start."""
    h = harness_factory()
    append(h.path, b"a1\n")
    h.pump_lines(1)
    h.path.unlink()
    append(h.path, b"b1\n")
    h.read()
    h.clock.advance(2.0)
    assert [b"a1\n", b"b1\n"] == h.pump_lines(2)


def test_new_file_renamed_over_path(harness_factory: Make, tmp_path: Path) -> None:
    """A file moved over the followed path replaces it; its content is read whole."""
    h = harness_factory()
    append(h.path, b"a1\n")
    h.pump_lines(1)
    other = tmp_path / "incoming"
    append(other, b"m1\nm2\n")
    other.rename(h.path)
    h.read()
    h.clock.advance(2.0)
    assert [b"a1\n", b"m1\n", b"m2\n"] == h.pump_lines(3)


def test_rotation_while_stopped_is_finished_from_saved_offset(harness_factory: Make) -> None:
    """A file rotated (twice) while stopped is found by identity and finished first."""
    h = harness_factory()
    saved = h.stop_after(b"a1\n", 1)
    append(h.path, b"a2\n")
    rotate(h.path)
    append(h.path, b"b1\n")
    rotate(h.path)
    append(h.path, b"c1\n")
    logs = h.resume(saved, 4)
    assert [b"a1\n", b"a2\n", b"b1\n", b"c1\n"] == h.lines()
    rotated = [e for e in logs if e["event"] == "follow.rotated"]
    assert [("receive.log.2", 3)] == [
        (Path(e["rotated_to"]).name, e["unread_bytes"]) for e in rotated
    ]


def test_rotation_while_stopped_with_custom_glob(harness_factory: Make) -> None:
    """A dateext sibling is found through the configured glob."""
    h = harness_factory(rotated_glob=None)
    saved = h.stop_after(b"a1\n", 1)
    append(h.path, b"a2\n")
    h.path.rename(h.path.with_name("receive.log-20240105"))
    append(h.path, b"b1\n")
    h.kwargs["rotated_glob"] = str(h.path.with_name("receive.log-*"))
    h.restart(saved)
    assert [b"a1\n", b"a2\n", b"b1\n"] == h.pump_lines(3)


def test_rotated_file_gone_while_stopped_warns_possible_gap(harness_factory: Make) -> None:
    """When the rotated file is compressed away, a possible_gap warning carries byte counts."""
    h = harness_factory()
    saved = h.stop_after(b"a1\n", 1)
    append(h.path, b"a2\n")
    rotated = h.path.with_name("receive.log.1.gz")
    rotated.write_bytes(gzip.compress(h.path.read_bytes()))
    fresh = h.path.with_name("fresh")
    append(fresh, b"b1\n")
    fresh.rename(h.path)  # created before the old inode is freed: no inode reuse
    logs = h.resume(saved, 2)
    assert [b"a1\n", b"b1\n"] == h.lines()
    gaps = [e for e in logs if e["event"] == "follow.possible_gap"]
    assert [(3, 3)] == [(e["saved_offset"], e["new_file_size"]) for e in gaps]
    assert 1 == h.follower.stats["gaps"]


def test_inode_reuse_is_not_trusted(harness_factory: Make) -> None:
    """A new file with the saved inode but other content is read from the start."""
    h = harness_factory()
    saved = h.stop_after(b"old content line\n", 1)
    h.path.unlink()
    append(h.path, b"new\n")
    st = os.stat(h.path)
    reused = dataclasses.replace(saved, dev=st.st_dev, inode=st.st_ino)
    logs = h.resume(reused, 2)
    assert [b"old content line\n", b"new\n"] == h.lines()
    resets = [e["reason"] for e in logs if e["event"] == "follow.cursor_reset"]
    assert ["offset_beyond_size"] == resets


def test_directory_renamed_and_recreated(harness_factory: Make, tmp_path: Path) -> None:
    """The whole log directory moved away and recreated: the new file is found and read."""
    logdir = tmp_path / "logs"
    logdir.mkdir()
    h = harness_factory()
    h.move_to(logdir / "receive.log")
    h.restart(None)
    append(h.path, b"a1\n")
    h.pump_lines(1)
    logdir.rename(tmp_path / "logs.old")
    logdir.mkdir()
    append(h.path, b"b1\n")
    h.read()
    h.clock.advance(2.0)
    assert [b"a1\n", b"b1\n"] == h.pump_lines(2)
    append(h.path, b"b2\n")
    assert [b"a1\n", b"b1\n", b"b2\n"] == h.pump_lines(3)


def test_real_writer_process_across_rotations(tmp_path: Path) -> None:
    """A separate writer process appending (reopening per line) loses nothing to rotations."""
    path = tmp_path / "receive.log"
    total = 30000
    script = (
        "import os, sys\n"
        "for i in range(int(sys.argv[2])):\n"
        "    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)\n"
        "    os.write(fd, b'line %06d\\n' % i)\n"
        "    os.close(fd)\n"
    )
    wakeup = Wakeup([str(path)], mode="inotify", poll_interval_s=0.05)
    wakeup.start()
    follower = Follower(str(path), cursor=None, rotate_settle_s=0.5, rotate_wait_s=5.0)
    got: list[bytes] = []
    writer = subprocess.Popen([sys.executable, "-c", script, str(path), str(total)])
    try:
        deadline = time.monotonic() + 30
        rotations = 0
        while len(got) < total:
            assert time.monotonic() < deadline, f"only {len(got)} of {total} lines"
            got.extend(b"".join(c.data for c in follower.read()).splitlines())
            if rotations < 3 and len(got) > (rotations + 1) * 2000 and path.exists():
                rotate(path)
                rotations += 1
            wakeup.wait(0.05)
    finally:
        writer.wait(30)
        follower.close()
        wakeup.stop()
    assert [b"line %06d" % i for i in range(total)] == got
    assert 1 <= follower.stats["rotations"]


def test_cursor_on_empty_file_rotated_while_stopped(harness_factory: Make) -> None:
    """A cursor saved on a just-created empty file still finds that file after a rotation."""
    h = harness_factory()
    h.path.touch()
    assert [] == h.read()
    saved = h.saved()
    assert 0 == saved.head_len
    h.follower.close()
    append(h.path, b"a1\n")
    os.utime(h.path, ns=(saved.mtime_ns, saved.mtime_ns))  # same timestamp tick as the cursor
    rotate(h.path)
    append(h.path, b"b1\n")
    h.restart(saved)
    assert [b"a1\n", b"b1\n"] == h.pump_lines(2)
