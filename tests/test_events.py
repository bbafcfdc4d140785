"""Tests for iotwx_watch.events: the `parse` JSON contract and secret-free reprs."""

from __future__ import annotations

from iotwx_watch.engine.ledger import code_key
from iotwx_watch.events import (
    AuthChange,
    AuthCode,
    BlockedIP,
    SourcePosition,
    SuiteTicket,
    UnrecognizedRecord,
    event_to_json,
    event_type,
    secret_key,
)

SRC = SourcePosition("/logs/receive.log", 42)


def test_suite_ticket_json() -> None:
    """suite_ticket events print the docs/architecture.md keys, the ticket masked with its key."""
    event = SuiteTicket("dk1", "TICKET", 1704421425, SRC)
    assert {
        "type": "suite_ticket",
        "suite_id": "dk1",
        "suite_ticket": "***",
        "ticket_key": secret_key("TICKET"),
        "timestamp": 1704421425,
        "verified": False,
        "source": {"path": "/logs/receive.log", "offset": 42},
    } == event_to_json(event)
    assert "TICKET" == event_to_json(event, show_secrets=True)["suite_ticket"]


def test_auth_code_json() -> None:
    """auth_code events carry info_type, state and verified; the code only when asked."""
    event = AuthCode("create_auth", "dk1", "CODE", 1704421425, "st", SRC, verified=True)
    assert {
        "type": "auth_code",
        "info_type": "create_auth",
        "suite_id": "dk1",
        "auth_code": "CODE",
        "code_key": secret_key("CODE"),
        "timestamp": 1704421425,
        "state": "st",
        "verified": True,
        "source": {"path": "/logs/receive.log", "offset": 42},
    } == event_to_json(event, show_secrets=True)
    assert "***" == event_to_json(event)["auth_code"]


def test_the_code_key_is_the_ledger_key() -> None:
    """parse's code_key finds the code's entry in the state's auth-code ledger."""
    assert code_key("some-auth-code") == secret_key("some-auth-code")


def test_auth_change_and_blocked_ip_json() -> None:
    """auth_change and blocked_ip events print their documented keys; no source is null."""
    assert {
        "type": "auth_change",
        "info_type": "cancel_auth",
        "suite_id": "dk1",
        "corpid": "wwcorp",
        "timestamp": 5,
        "verified": False,
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


def test_unrecognized_record_json() -> None:
    """A record that gave no event prints its kind, reason, what is known and its excerpt."""
    event = UnrecognizedRecord(
        "callback", "no_suite_id", "<xml><AuthCode>***</AuthCode></xml>", "create_auth", None, SRC
    )
    assert "unrecognized" == event_type(event)
    assert {
        "type": "unrecognized",
        "kind": "callback",
        "reason": "no_suite_id",
        "info_type": "create_auth",
        "suite_id": None,
        "excerpt": "<xml><AuthCode>***</AuthCode></xml>",
        "source": {"path": "/logs/receive.log", "offset": 42},
    } == event_to_json(event)


def test_secrets_not_in_repr() -> None:
    """Tickets and auth codes never appear in an event's repr."""
    text = repr(SuiteTicket("dk1", "TICKET-SECRET", 1))
    text += repr(AuthCode("create_auth", "dk1", "CODE-SECRET", 1))
    assert "TICKET-SECRET" not in text
    assert "CODE-SECRET" not in text
