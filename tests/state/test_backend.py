"""Tests for the file backend's saves: written when the state changed, skipped when not."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from iotwx_watch.errors import StateWriteError
from iotwx_watch.state.backend import FileBackend
from iotwx_watch.state.model import AuthCodeEntry, CorpEntry, State, encode
from iotwx_watch.state.store import StateStore

T0 = 1795852800.0  # 2026-11-28T08:00:00Z


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def stamp(path: Path) -> tuple[int, int, bytes]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns, path.read_bytes()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    path = tmp_path / "state" / "state.json"
    state = State()
    state.suite("dk1").corps.update({f"ww{n:04d}": CorpEntry(f"c{n}", n) for n in range(100)})
    StateStore(path, clock=lambda: T0).save(state)
    return path


def test_a_save_with_nothing_changed_since_the_load_writes_nothing(path: Path) -> None:
    """Loaded and saved unchanged (a `once` with nothing new): the file is not touched."""
    backend = FileBackend(str(path), clock=Clock())
    before = stamp(path)
    state = backend.load()
    assert backend.save(state) is False
    assert before == stamp(path)
    assert T0 == state.updated_at


def test_each_change_is_written_and_only_a_change(path: Path) -> None:
    """After the first write, what the file would hold decides: a change in place (a Secret)
    or a new entry is written, a save with nothing new is not, nor is a field the file
    leaves out (a redeemed code's own value)."""
    backend = FileBackend(str(path), clock=Clock())
    state = backend.load()
    corps = state.suites["dk1"].corps
    corps["ww0007"].permanent_code = "pc-7"
    assert backend.save(state) is True
    written = stamp(path)
    assert backend.save(state) is False
    assert written == stamp(path)
    state.suites["dk1"].auth_codes["k"] = AuthCodeEntry("redeemed", "create_auth", 1, T0, T0)
    assert backend.save(state) is True
    state.suites["dk1"].auth_codes["k"].code = "spent"  # not written once redeemed
    assert backend.save(state) is False
    corps["ww0050"].extra["from_the_future"] = [1]
    corps["ww0100"] = CorpEntry("New", 100, "pc-100", obtained_at=T0)
    assert backend.save(state) is True
    assert encode(state) == path.read_bytes()
    again = StateStore(path).load().suites["dk1"].corps
    assert ("pc-7", [1], "pc-100") == (again["ww0007"].permanent_code,
                                       again["ww0050"].extra["from_the_future"],
                                       again["ww0100"].permanent_code)


def test_a_write_that_failed_is_made_again_though_nothing_changed_since(path: Path) -> None:
    """What a failed save would have written is not taken as written: the retry writes."""
    backend = FileBackend(str(path), clock=Clock())
    state = backend.load()
    state.suites["dk1"].corps["ww0001"].agentid = -1
    assert backend.save(state) is True
    state.suites["dk1"].corps["ww0002"].agentid = -2
    path.unlink()
    path.mkdir()
    (path / "in-the-way").write_text("x", encoding="utf-8")
    with pytest.raises(StateWriteError):
        backend.save(state)
    shutil.rmtree(path)
    assert backend.save(state) is True
    assert -2 == StateStore(path).load().suites["dk1"].corps["ww0002"].agentid
    assert [] == [name for name in os.listdir(path.parent) if name.endswith(".tmp")]
