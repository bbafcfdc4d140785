"""Tests for the state file: schema 1 shape, atomic saves, loud loads, the process lock."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from iotwx_watch.errors import StateError, StateLockedError
from iotwx_watch.state.model import (
    AuthCodeEntry,
    BlockedIpEntry,
    CorpEntry,
    State,
    SuiteState,
    TicketEntry,
    TokenEntry,
    encode,
    format_time,
    parse_time,
)
from iotwx_watch.state.store import StateStore

T0 = 1795852800.0  # 2026-11-28T08:00:00Z

SCHEMA_1: dict[str, Any] = {
    "schema_version": 1,
    "updated_at": "2026-11-28T14:00:00Z",
    "suites": {
        "dk1234567890abcdef": {
            "suite_ticket": {"value": "tkt-1", "timestamp": 1704421425,
                             "received_at": "2026-11-28T13:59:00Z"},
            "suite_access_token": {"value": "sat-1", "expires_at": "2026-11-28T16:00:00Z"},
            "corps": {
                "wwcorp1": {"corp_name": "Acme", "agentid": 1000002, "permanent_code": "pc-1",
                            "obtained_at": "2026-11-28T13:00:00Z", "status": "active",
                            "from_the_future": {"kept": True}},
                "wwcorp2": {"corp_name": None, "agentid": None, "status": "cancelled",
                            "cancelled_at": "2026-11-28T12:00:00Z"},
            },
            "auth_codes": {
                "0123456789abcdef": {"status": "redeemed", "attempts": 1,
                                     "info_type": "create_auth", "timestamp": 1704421425,
                                     "first_seen": "2026-11-28T13:00:00Z",
                                     "updated_at": "2026-11-28T13:00:01Z", "corpid": "wwcorp1"},
                "fedcba9876543210": {"status": "pending", "attempts": 0,
                                     "info_type": "reset_permanent_code", "timestamp": 1704421425,
                                     "first_seen": "2026-11-28T13:58:00Z",
                                     "updated_at": "2026-11-28T13:58:00Z",
                                     "next_attempt_at": "2026-11-28T13:59:00Z",
                                     "code": "the-code"},
            },
            "last_error": None,
        }
    },
    "blocked_ips": {
        "121.46.1.2": {"whitelist": "app", "first_seen": "2026-11-28T10:00:00Z",
                       "last_seen": "2026-11-28T11:00:00Z", "count": 3, "hint": "168822"},
    },
    "sources": {"/var/log/receive.log": {"dev": 2049, "inode": 77, "offset": 1234,
                                         "head_sha256": "ab"}},
    "added_by_a_newer_version": [1, 2],
}


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_times_are_iso_utc_with_z() -> None:
    """Times are written as ISO-8601 UTC with a Z, whole seconds, and read back."""
    assert "2026-11-28T08:00:00Z" == format_time(T0 + 0.7)
    assert T0 == parse_time("2026-11-28T08:00:00Z")
    assert T0 == parse_time("2026-11-28T09:00:00+01:00")


def test_missing_file_is_an_empty_state(tmp_path: Path) -> None:
    """No state file yet means an empty schema 1 state, not an error."""
    state = StateStore(tmp_path / "none" / "state.json").load()
    assert State() == state
    assert 1 == state.to_json()["schema_version"]


def test_schema_1_round_trips_with_unknown_keys(tmp_path: Path) -> None:
    """Loading and saving a schema 1 file gives the same document, unknown keys included."""
    path = tmp_path / "state.json"
    write(path, json.dumps(SCHEMA_1))
    store = StateStore(path, clock=lambda: parse_time("2026-11-28T14:00:00Z"))
    store.save(store.load())
    assert SCHEMA_1 == json.loads(path.read_text(encoding="utf-8"))


def test_model_writes_design_shape(tmp_path: Path) -> None:
    """A state built in code is written in docs/state.md's shape; optional keys only when set."""
    state = State()
    suite = state.suite("dk1")
    suite.suite_ticket = TicketEntry("tkt", 1704421425, received_at=T0)
    suite.suite_access_token = TokenEntry("sat", expires_at=T0 + 7200)
    suite.corps["ww1"] = CorpEntry("Acme", 1000002, "pc", obtained_at=T0)
    suite.auth_codes["k"] = AuthCodeEntry(status="redeemed", info_type="create_auth",
                                          timestamp=1704421425, first_seen=T0, updated_at=T0,
                                          attempts=1, corpid="ww1", code="dropped-when-final")
    state.blocked_ips["1.2.3.4"] = BlockedIpEntry("provider", T0, T0, 1)
    store = StateStore(tmp_path / "s.json", clock=lambda: T0)
    store.save(state)
    data = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    assert {
        "schema_version": 1,
        "updated_at": "2026-11-28T08:00:00Z",
        "suites": {"dk1": {
            "suite_ticket": {"value": "tkt", "timestamp": 1704421425,
                             "received_at": "2026-11-28T08:00:00Z"},
            "suite_access_token": {"value": "sat", "expires_at": "2026-11-28T10:00:00Z"},
            "corps": {"ww1": {"corp_name": "Acme", "agentid": 1000002, "permanent_code": "pc",
                              "obtained_at": "2026-11-28T08:00:00Z", "status": "active"}},
            "auth_codes": {"k": {"status": "redeemed", "attempts": 1, "info_type": "create_auth",
                                 "timestamp": 1704421425, "first_seen": "2026-11-28T08:00:00Z",
                                 "updated_at": "2026-11-28T08:00:00Z", "corpid": "ww1"}},
            "last_error": None,
        }},
        "blocked_ips": {"1.2.3.4": {"whitelist": "provider", "first_seen": "2026-11-28T08:00:00Z",
                                    "last_seen": "2026-11-28T08:00:00Z", "count": 1}},
        "sources": {},
    } == data


def test_save_is_0600_keeps_bak_and_leaves_no_temp(tmp_path: Path) -> None:
    """Each save is mode 0600, the previous file becomes .bak, and no temp file remains."""
    path = tmp_path / "state" / "state.json"
    store = StateStore(path, clock=lambda: T0)
    first = State(sources={"a": {"offset": 1}})
    store.save(first)
    first_text = path.read_text(encoding="utf-8")
    second = State(sources={"a": {"offset": 2}})
    store.save(second)
    assert 0o600 == stat.S_IMODE(path.stat().st_mode)
    assert 0o700 == stat.S_IMODE(path.parent.stat().st_mode)
    assert first_text == Path(f"{path}.bak").read_text(encoding="utf-8")
    assert {"offset": 2} == store.load().sources["a"]
    assert ["state.json", "state.json.bak"] == sorted(os.listdir(path.parent))


def test_each_save_writes_the_state_as_it_is_now(tmp_path: Path) -> None:
    """The store reuses what it wrote last (its memo), yet a corp changed in place since and
    one added are in the next file, whose bytes are encode()'s."""
    path = tmp_path / "state" / "state.json"
    store = StateStore(path, clock=lambda: T0)
    write(path, json.dumps(SCHEMA_1))
    state = store.load()
    corps = state.suites["dk1234567890abcdef"].corps
    corps.update({f"ww{n:04d}": CorpEntry(f"c{n}", n) for n in range(100)})
    store.save(state)
    corps["wwcorp2"].status = "active"
    corps["wwcorp2"].permanent_code = "pc-2"
    corps["ww0050"].extra["from_the_future"] = 1
    corps["wwcorp3"] = CorpEntry("New", 3, "pc-3", obtained_at=T0)
    store.save(state)
    assert encode(state) == path.read_bytes()
    again = store.load().suites["dk1234567890abcdef"].corps
    assert ("active", "pc-2", "pc-3") == (
        again["wwcorp2"].status, again["wwcorp2"].permanent_code, again["wwcorp3"].permanent_code)
    assert {"from_the_future": 1} == again["ww0050"].extra


def test_failed_save_raises_state_error_and_removes_temp(tmp_path: Path) -> None:
    """A save that cannot replace the file raises StateError and leaves no temp file behind."""
    path = tmp_path / "state.json"
    path.mkdir()
    (path / "in-the-way").write_text("x", encoding="utf-8")
    with pytest.raises(StateError, match="cannot write state file"):
        StateStore(path).save(State())
    assert ["state.json"] == sorted(os.listdir(tmp_path))


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "is not valid JSON"),
        (json.dumps({**SCHEMA_1, "schema_version": 2}), "unknown schema_version 2"),
        (json.dumps({"suites": {}}), "schema_version is missing"),
        (json.dumps([1, 2]), "top level must be an object"),
        (json.dumps({**SCHEMA_1, "blocked_ips": {"1.2.3.4": {"whitelist": "corp"}}}),
         "blocked_ips.1.2.3.4.whitelist must be one of app, provider"),
        (json.dumps({**SCHEMA_1, "suites": {"dk": {"auth_codes": {"k": {"status": "done"}}}}}),
         "suites.dk.auth_codes.k.status must be one of"),
        (json.dumps({**SCHEMA_1, "updated_at": "yesterday"}), "updated_at is not an ISO-8601"),
    ],
)
def test_unreadable_file_is_a_loud_error_and_untouched(
    tmp_path: Path, content: str, problem: str
) -> None:
    """Corrupt JSON, an unknown schema or a wrong shape raise StateError; nothing is rewritten."""
    path = tmp_path / "state.json"
    write(path, content)
    store = StateStore(path)
    with pytest.raises(StateError) as caught:
        store.load()
    assert str(path) in str(caught.value)
    assert problem in str(caught.value)
    assert content == path.read_text(encoding="utf-8")
    assert not Path(f"{path}.bak").exists()


def test_error_mentions_the_backup_when_there_is_one(tmp_path: Path) -> None:
    """When state.json.bak exists, the error tells the operator about it."""
    path = tmp_path / "state.json"
    write(path, "{broken")
    write(Path(f"{path}.bak"), json.dumps(SCHEMA_1))
    with pytest.raises(StateError, match=r"previous version is in .*state\.json\.bak"):
        StateStore(path).load()


LOCK_HOLDER = textwrap.dedent(
    """
    import sys
    from iotwx_watch.state.store import StateStore
    with StateStore(sys.argv[1]).lock():
        print("locked", flush=True)
        sys.stdin.readline()
    """
)


def test_lock_held_by_another_process_names_its_pid(tmp_path: Path) -> None:
    """While a real second process holds the lock, taking it fails with that process's pid."""
    path = tmp_path / "new-dir" / "state.json"
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert "locked\n" == holder.stdout.readline()
        assert 0o700 == stat.S_IMODE(path.parent.stat().st_mode)
        with pytest.raises(StateLockedError) as caught, StateStore(path).lock():
            pass
        assert holder.pid == caught.value.holder_pid
        assert f"{path}.lock" == caught.value.lock_path
        holder.stdin.close()
        assert 0 == holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    with StateStore(path).lock():
        assert str(os.getpid()) == Path(f"{path}.lock").read_text(encoding="utf-8").strip()


def test_suite_state_is_created_on_first_use() -> None:
    """State.suite() returns the same entry, creating it empty the first time."""
    state = State()
    suite = state.suite("dk1")
    assert SuiteState() == suite
    assert suite is state.suite("dk1")


def test_a_symlinked_lock_file_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    """state.json.lock -> any file: the lock is refused and the target keeps its bytes."""
    target = tmp_path / "precious.conf"
    target.write_text("do not truncate me\n")
    (tmp_path / "state").mkdir(mode=0o700)
    store = StateStore(tmp_path / "state" / "state.json")
    store.lock_path.symlink_to(target)
    with pytest.raises(StateError, match="symbolic link"), store.lock():
        pass
    assert "do not truncate me\n" == target.read_text()


def test_a_symlinked_state_file_is_refused(tmp_path: Path) -> None:
    """A state file that is a symlink is neither read nor silently replaced."""
    (tmp_path / "state").mkdir(mode=0o700)
    real = tmp_path / "elsewhere.json"
    real.write_text('{"schema_version": 1}')
    store = StateStore(tmp_path / "state" / "state.json")
    store.path.symlink_to(real)
    with pytest.raises(StateError, match="symbolic link"):
        store.load()
    with pytest.raises(StateError, match="symbolic link"):
        store.save(State())
    assert '{"schema_version": 1}' == real.read_text()
    assert store.path.is_symlink()


def test_a_state_directory_writable_by_others_is_refused(tmp_path: Path) -> None:
    """A 0777 state directory lets anyone swap the files: refused with the fix."""
    directory = tmp_path / "state"
    directory.mkdir()
    directory.chmod(0o777)
    with pytest.raises(StateError, match="chmod 700"), StateStore(directory / "s.json").lock():
        pass
    directory.chmod(0o1777)  # sticky, like /tmp: others cannot replace our files
    with StateStore(directory / "s.json").lock():
        pass


def test_a_temp_file_left_by_a_killed_save_is_removed_at_the_next_lock(tmp_path: Path) -> None:
    """A save killed before its rename leaves .state.json.*.tmp; the next holder removes it."""
    (tmp_path / "state").mkdir(mode=0o700)
    store = StateStore(tmp_path / "state" / "state.json")
    stale = tmp_path / "state" / ".state.json.abc123.tmp"
    stale.write_text("half a state")
    other = tmp_path / "state" / "notes.tmp"
    other.write_text("not ours")
    with store.lock():
        pass
    assert (False, True) == (stale.exists(), other.exists())
