"""What the extractors find in the logs: immutable events with their source position.

The JSON form (:func:`event_to_json`) is the ``iotwx-watch parse`` contract in
docs/architecture.md; change it only by adding keys. Secret-bearing fields are ``repr=False`` so
an event printed in a log or traceback never shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

AuthCodeInfoType = Literal["create_auth", "reset_permanent_code"]
AuthChangeInfoType = Literal["change_auth", "cancel_auth"]


@dataclass(frozen=True)
class SourcePosition:
    """Where a record starts: the file as named by the operator, and the byte offset."""

    path: str
    offset: int


@dataclass(frozen=True)
class SuiteTicket:
    """A ``suite_ticket`` push: the credential for ``get_suite_token``, valid 30 minutes."""

    suite_id: str
    suite_ticket: str = field(repr=False)
    timestamp: int
    source: SourcePosition | None = None


@dataclass(frozen=True)
class AuthCode:
    """A temporary auth code (``create_auth`` or ``reset_permanent_code``): single use, ~10 min."""

    info_type: AuthCodeInfoType
    suite_id: str
    auth_code: str = field(repr=False)
    timestamp: int
    state: str | None = None
    source: SourcePosition | None = None


@dataclass(frozen=True)
class AuthChange:
    """``change_auth`` or ``cancel_auth`` for a corp that authorized the app."""

    info_type: AuthChangeInfoType
    suite_id: str
    corpid: str
    timestamp: int
    source: SourcePosition | None = None


@dataclass(frozen=True)
class BlockedIP:
    """An address WeCom refused with errcode 60020, seen in the IoT platform's log."""

    ip: str
    errcode: int = 60020
    hint: str | None = None
    corpid: str | None = None
    source: SourcePosition | None = None


Event = SuiteTicket | AuthCode | AuthChange | BlockedIP

EVENT_TYPES: dict[type[Any], str] = {
    SuiteTicket: "suite_ticket",
    AuthCode: "auth_code",
    AuthChange: "auth_change",
    BlockedIP: "blocked_ip",
}


def event_type(event: Event) -> str:
    """The ``type`` string of an event in the JSON contract."""
    return EVENT_TYPES[type(event)]


def _source_json(source: SourcePosition | None) -> dict[str, Any] | None:
    if source is None:
        return None
    return {"path": source.path, "offset": source.offset}


def event_to_json(event: Event) -> dict[str, Any]:
    """The event as ``iotwx-watch parse`` prints it (docs/architecture.md)."""
    body: dict[str, Any]
    match event:
        case SuiteTicket():
            body = {
                "type": "suite_ticket",
                "suite_id": event.suite_id,
                "suite_ticket": event.suite_ticket,
                "timestamp": event.timestamp,
            }
        case AuthCode():
            body = {
                "type": "auth_code",
                "info_type": event.info_type,
                "suite_id": event.suite_id,
                "auth_code": event.auth_code,
                "timestamp": event.timestamp,
                "state": event.state,
            }
        case AuthChange():
            body = {
                "type": "auth_change",
                "info_type": event.info_type,
                "suite_id": event.suite_id,
                "corpid": event.corpid,
                "timestamp": event.timestamp,
            }
        case BlockedIP():
            body = {
                "type": "blocked_ip",
                "ip": event.ip,
                "errcode": event.errcode,
                "hint": event.hint,
                "corpid": event.corpid,
            }
    body["source"] = _source_json(event.source)
    return body
