"""Property tests of the state reader: whatever the file holds, the answer is a State or ours."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iotwx_watch.errors import StateError
from iotwx_watch.state.model import ShapeError, State, decode, encode
from iotwx_watch.state.store import StateStore
from tests.state.support import previous_doc

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["2026-11-28T14:00:00Z", "pending", "app", "active", "9999-12-31T23:59:59Z"])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                  max_size=4),
    max_leaves=20,
)


def places(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path in a JSON document, the root included."""
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += places(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += places(value, (*path, index))
    return found


VALID = previous_doc()
PLACES = places(VALID)


def read(data: bytes) -> State | None:
    """decode(), with our ShapeError as None: the only two outcomes allowed."""
    try:
        return decode(data)
    except ShapeError:
        return None


def assert_round_trips(state: State) -> None:
    """A state read from any file can be written, and reads back equal."""
    written = encode(state)
    again = decode(written)
    assert state == again
    assert written == encode(again)


@settings(max_examples=300, deadline=None)
@given(value=JSON)
def test_any_json_value_is_a_state_or_a_shape_error(value: Any) -> None:
    """Any JSON value, as a whole file, reads as a State or raises ShapeError."""
    state = read(json.dumps(value).encode())
    if state is not None:
        assert_round_trips(state)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(where=st.sampled_from(PLACES[1:]), value=JSON, remove=st.booleans())
def test_a_valid_file_changed_anywhere_is_a_state_or_a_shape_error(
    where: tuple[Any, ...], value: Any, remove: bool
) -> None:
    """The fixture with any one value replaced or removed is a State or a ShapeError."""
    document = copy.deepcopy(VALID)
    parent: Any = document
    for key in where[:-1]:
        parent = parent[key]
    if remove and isinstance(parent, dict):
        del parent[where[-1]]
    else:
        parent[where[-1]] = value
    state = read(json.dumps(document).encode())
    if state is not None:
        assert_round_trips(state)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200) | st.builds(lambda doc: doc.encode(), st.text(max_size=200)))
def test_any_bytes_are_a_state_or_a_shape_error(data: bytes) -> None:
    """Arbitrary bytes read as a State or raise ShapeError."""
    read(data)


@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=100))
def test_store_turns_any_bad_file_into_a_state_error(tmp_path: Path, data: bytes) -> None:
    """StateStore.load() of arbitrary bytes gives a State or a StateError naming the file."""
    path = tmp_path / "state.json"
    path.write_bytes(data)
    try:
        StateStore(path).load()
    except StateError as exc:
        assert str(path) in str(exc)


def test_the_fixture_itself_is_read() -> None:
    """The unchanged fixture reads as a State (so the properties above start from a valid file)."""
    state = read(json.dumps(VALID).encode())
    assert state is not None
    assert_round_trips(state)


@pytest.mark.parametrize("path", [p for p in PLACES if len(p) == 1])
def test_each_top_level_key_missing_still_reads_or_is_refused(path: tuple[str, ...]) -> None:
    """Of the top-level keys only schema_version is required; the others default."""
    document = {k: v for k, v in VALID.items() if k != path[0]}
    state = read(json.dumps(document).encode())
    assert ("schema_version" == path[0]) == (state is None)
