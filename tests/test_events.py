"""Tests for iotwx_watch.events: the `parse` JSON contract and secret-free reprs."""

from __future__ import annotations

from iotwx_watch.events import (
    AuthChange,
    AuthCode,
    BlockedIP,
    SourcePosition,
    SuiteTicket,
    event_to_json,
)

SRC = SourcePosition("/logs/receive.log", 42)


def test_suite_ticket_json() -> None:
    """suite_ticket events print exactly the documented keys."""
    event = SuiteTicket("dk1", "TICKET", 1704421425, SRC)
    assert {
        "type": "suite_ticket",
        "suite_id": "dk1",
        "suite_ticket": "TICKET",
        "timestamp": 1704421425,
        "source": {"path": "/logs/receive.log", "offset": 42},
    } == event_to_json(event)


def test_auth_code_json() -> None:
    """auth_code events carry info_type and state."""
    event = AuthCode("create_auth", "dk1", "CODE", 1704421425, "st", SRC)
    assert {
        "type": "auth_code",
        "info_type": "create_auth",
        "suite_id": "dk1",
        "auth_code": "CODE",
        "timestamp": 1704421425,
        "state": "st",
        "source": {"path": "/logs/receive.log", "offset": 42},
    } == event_to_json(event)


def test_auth_change_and_blocked_ip_json() -> None:
    """auth_change and blocked_ip events print their documented keys; no source is null."""
    assert {
        "type": "auth_change",
        "info_type": "cancel_auth",
        "suite_id": "dk1",
        "corpid": "wwcorp",
        "timestamp": 5,
        "source": None,
    } == event_to_json(AuthChange("cancel_auth", "dk1", "wwcorp", 5))
    assert {
        "type": "blocked_ip",
        "ip": "121.46.1.2",
        "errcode": 60020,
        "hint": "h",
        "corpid": None,
        "source": None,
    } == event_to_json(BlockedIP("121.46.1.2", hint="h"))


def test_secrets_not_in_repr() -> None:
    """Tickets and auth codes never appear in an event's repr."""
    text = repr(SuiteTicket("dk1", "TICKET-SECRET", 1))
    text += repr(AuthCode("create_auth", "dk1", "CODE-SECRET", 1))
    assert "TICKET-SECRET" not in text
    assert "CODE-SECRET" not in text
