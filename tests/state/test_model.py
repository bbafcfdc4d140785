"""Tests for the state model's reading and writing: shapes, unknown keys, snapshots, secrets."""

from __future__ import annotations

from typing import Any

import pytest

from iotwx_watch.state.model import (
    AuthCodeEntry,
    BlockedIpEntry,
    CorpEntry,
    ShapeError,
    State,
    SuiteState,
    TicketEntry,
    TokenEntry,
    decode,
    encode,
    snapshot,
)
from tests.state.support import CORP, PENDING, SOURCE, SUITE, previous_bytes, with_value

T0 = 1795852800.0  # 2026-11-28T08:00:00Z
S = ("suites", SUITE)
C = (*S, "corps", CORP)
A = (*S, "auth_codes", PENDING)
IP = ("blocked_ips", "121.46.1.2")


def shape_error(data: bytes) -> str:
    with pytest.raises(ShapeError) as caught:
        decode(data)
    return str(caught.value)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("schema_version",), "unknown schema_version true (this version reads 1)"),
        ((*S, "suite_ticket", "timestamp"),
         f"suites.{SUITE}.suite_ticket.timestamp: expected `int`, got `bool`"),
        ((*C, "agentid"),
         f"suites.{SUITE}.corps.{CORP}.agentid: expected `int | null`, got `bool`"),
        ((*A, "attempts"),
         f"suites.{SUITE}.auth_codes.{PENDING}.attempts: expected `int`, got `bool`"),
        ((*IP, "count"), "blocked_ips.121.46.1.2.count: expected `int`, got `bool`"),
    ],
)
def test_a_bool_is_never_an_int(path: tuple[str, ...], expected: str) -> None:
    """true where a number belongs is refused (schema_version true used to read as 1)."""
    assert expected == shape_error(with_value(path, True))


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("schema_version",), "1", 'unknown schema_version "1" (this version reads 1)'),
        (("schema_version",), ..., "schema_version is missing (this version reads 1)"),
        (("suites",), [], "suites must be an object, not an array"),
        ((*S, "corps"), [1], f"suites.{SUITE}.corps must be an object, not an array"),
        (C, "x", f"suites.{SUITE}.corps.{CORP} must be an object, not a string"),
        ((*S, "suite_ticket"), [], f"suites.{SUITE}.suite_ticket must be an object, not an array"),
        ((*C, "agentid"), "1000002",
         f"suites.{SUITE}.corps.{CORP}.agentid: expected `int | null`, got `str`"),
        ((*C, "status"), "gone", f"suites.{SUITE}.corps.{CORP}.status must be one of active, "
         "cancelled"),
        ((*S, "suite_ticket", "timestamp"), 10**30,
         f"suites.{SUITE}.suite_ticket.timestamp is out of range (0 to 253402300799)"),
        ((*S, "suite_ticket", "timestamp"), 1e30,
         f"suites.{SUITE}.suite_ticket.timestamp: expected `int`, got `float`"),
        ((*A, "errcode"), 2**64, f"suites.{SUITE}.auth_codes.{PENDING}.errcode is out of range "
         f"({-(2**63)} to {2**63 - 1})"),
        ((*IP, "count"), -1,
         "blocked_ips.121.46.1.2.count is out of range (0 to 9007199254740991)"),
        ((*S, "suite_ticket", "received_at"), 1795852800,
         f"suites.{SUITE}.suite_ticket.received_at must be an ISO-8601 time string, not a number"),
        ((*C, "obtained_at"), "9999-12-31T23:59:59-01:00",
         f"suites.{SUITE}.corps.{CORP}.obtained_at is out of range (1970 to 9999): "
         "'9999-12-31T23:59:59-01:00'"),
        (("updated_at",), "yesterday", "updated_at is not an ISO-8601 time: 'yesterday'"),
        ((*S, "suite_ticket", "value"), ..., f"suites.{SUITE}.suite_ticket: object missing "
         "required field `value`"),
        ((*S, "last_error"), "boom", f"suites.{SUITE}.last_error: expected `object | null`, "
         "got `str`"),
        (("sources", SOURCE), [], f"sources.{SOURCE}: expected `object`, got `array`"),
    ],
)
def test_a_wrong_shape_names_its_place(path: tuple[str, ...], value: Any, expected: str) -> None:
    """Wrong JSON types, sizes and missing keys raise ShapeError naming the key path."""
    assert expected == shape_error(with_value(path, value))


def test_deep_nesting_is_a_shape_error_not_a_recursion_error() -> None:
    """Deep free-form values are refused by place; absurd depth is refused as JSON."""
    deep: Any = "bottom"
    for _ in range(40):
        deep = [deep]
    assert (f"suites.{SUITE}.corps.{CORP}.deep is nested more than 32 levels deep"
            == shape_error(with_value((*C, "deep"), deep)))
    absurd = b'{"schema_version": 1, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert "is not valid JSON (nested too deeply)" == shape_error(absurd)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "is not valid JSON (Input data was truncated)"),
        (b"[1, 2]", "top level must be an object, not an array"),
        (b'{"schema_version": 1, "x": NaN}', "is not valid JSON (JSON is malformed: invalid "
         "character (byte 27))"),
        (b'"\xff"', "is not valid JSON ("),  # the rest of the message is msgspec's
    ],
)
def test_what_is_not_a_json_object_is_a_shape_error(data: bytes, expected: str) -> None:
    """Bytes that are not one JSON object raise ShapeError, never a decoder's own error."""
    assert expected == shape_error(data)[: len(expected)]


def test_unknown_keys_are_kept_where_they_were() -> None:
    """Keys this version does not know land in the ``extra`` of the object that held them."""
    state = decode(previous_bytes())
    suite = state.suites[SUITE]
    assert {"written_by": "a newer iotwx-watch"} == state.extra
    assert ["suite_secret_rejected"] == list(suite.extra)
    assert {"from_a_newer_version": {"nested": [1, 2.5, "三", None, True]}} == suite.corps[
        CORP
    ].extra
    assert {"retries": 2} == suite.auth_codes[PENDING].extra
    assert {"whitelists": ["app", "provider"]} == state.blocked_ips["203.0.113.9"].extra


def test_an_extra_key_never_overrides_a_field() -> None:
    """An ``extra`` entry named like a field is not written: the field's value stands."""
    state = State()
    state.suite("dk1").corps["ww1"] = CorpEntry("Acme", 1, extra={"status": "x", "new": 1})
    corp = state.to_json()["suites"]["dk1"]["corps"]["ww1"]
    assert {"corp_name": "Acme", "agentid": 1, "status": "active", "new": 1} == corp


def test_retry_keys_are_written_only_while_pending() -> None:
    """next_attempt_at, waiting_for and code leave the file once the code is not pending."""
    entry = AuthCodeEntry("pending", "create_auth", 1795852700, T0, T0, attempts=1,
                          next_attempt_at=T0 + 60, waiting_for="ticket", code="c0de")
    state = State()
    state.suite("dk1").auth_codes["k"] = entry
    written = state.to_json()["suites"]["dk1"]["auth_codes"]["k"]
    assert ["2026-11-28T08:01:00Z", "ticket", "c0de"] == [
        written["next_attempt_at"], written["waiting_for"], written["code"]]
    entry.status = "redeeming"
    written = state.to_json()["suites"]["dk1"]["auth_codes"]["k"]
    assert set() == {"next_attempt_at", "waiting_for", "code"} & set(written)


def test_to_json_shares_nothing_with_the_state() -> None:
    """A document taken from to_json() does not change when the state does."""
    state = State(sources={SOURCE: {"offset": 1}}, extra={"x": {"y": [1]}})
    before = state.to_json()
    state.sources[SOURCE]["offset"] = 2
    state.sources["/other"] = {"offset": 3}
    state.extra["x"]["y"].append(2)
    assert {SOURCE: {"offset": 1}} == before["sources"]
    assert {"y": [1]} == before["x"]


def test_snapshot_sees_every_change_but_updated_at() -> None:
    """snapshot() differs after a cursor moves in place, and not after updated_at alone."""
    state = decode(previous_bytes())
    first = snapshot(state)
    state.updated_at = T0 + 3600
    assert first == snapshot(state)
    state.sources[SOURCE]["offset"] += 1
    moved = snapshot(state)
    assert first != moved
    state.suites[SUITE].auth_codes[PENDING].extra["retries"] = 3
    assert moved != snapshot(state)


def test_repr_shows_no_secret() -> None:
    """Tickets, tokens, app secrets and auth codes never appear in a repr."""
    state = State()
    suite = state.suite("dk1")
    suite.suite_ticket = TicketEntry("SECRET-ticket", 1, T0)
    suite.suite_access_token = TokenEntry("SECRET-token", T0)
    suite.corps["ww1"] = CorpEntry("Acme", 1, "SECRET-permanent-code")
    suite.auth_codes["k"] = AuthCodeEntry("pending", "create_auth", 1, T0, T0, code="SECRET-c")
    assert "SECRET" not in repr(state)
    assert "Acme" in repr(state)


def test_from_json_refuses_what_json_cannot_hold() -> None:
    """A parsed document holding a non-JSON value is a ShapeError, like a bad file."""
    with pytest.raises(ShapeError, match="is not a JSON document"):
        State.from_json({"schema_version": 1, "x": object()})


def test_a_state_built_in_code_reads_back_equal() -> None:
    """encode() then decode() gives an equal state (times whole seconds, as in the file)."""
    state = State(updated_at=T0)
    suite = state.suite("dk1")
    suite.suite_ticket = TicketEntry("t", 1795852700, T0, rejected=True, extra={"k": 1})
    suite.corps["ww1"] = CorpEntry("Acme", 1000002, "pc", T0, "cancelled", T0 - 1, T0, T0, 5,
                                   "qr")
    suite.last_error = {"errcode": 60020}
    state.blocked_ips["::1"] = BlockedIpEntry("provider", T0, T0, 2, "h", "ww1", "call", T0)
    assert state == decode(encode(state))
    assert SuiteState() == decode(encode(State(suites={"dk2": SuiteState()}))).suites["dk2"]
