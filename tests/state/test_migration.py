"""A state file written by the previous code (the hand-written codec) keeps working as is."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from iotwx_watch.state.model import decode, encode, parse_time
from iotwx_watch.state.store import StateStore
from tests.state.support import PREVIOUS, previous_bytes


def test_previous_file_loads_and_resaves_byte_for_byte(tmp_path: Path) -> None:
    """Loading the previous writer's file and saving it at the same time rewrites it unchanged."""
    path = tmp_path / "state.json"
    shutil.copyfile(PREVIOUS, path)
    updated_at = parse_time(json.loads(previous_bytes())["updated_at"])
    store = StateStore(path, clock=lambda: updated_at)
    store.save(store.load())
    assert previous_bytes() == path.read_bytes()


def test_previous_file_round_trips_in_memory() -> None:
    """decode() then encode() of the previous writer's bytes gives the same bytes."""
    assert previous_bytes() == encode(decode(previous_bytes()))
