"""What the extractors find in the logs: immutable events with their source position.

The JSON form (:func:`event_to_json`) is the ``iotwx-watch parse`` contract in
docs/architecture.md; change it only by adding keys. Secret-bearing fields are ``repr=False`` so
an event printed in a log or traceback never shows them, and the JSON form shows
them only when asked to (``show_secrets``): otherwise ``***`` and the value's
:func:`secret_key`, so an operator can still tell two codes apart.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

AuthCodeInfoType = Literal["create_auth", "reset_permanent_code"]
AuthChangeInfoType = Literal["change_auth", "cancel_auth"]
RecordKind = Literal["callback", "policy_engine"]
MASK = "***"


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
    verified: bool = False  # read from an envelope whose signature checked out


@dataclass(frozen=True)
class AuthCode:
    """A temporary auth code (``create_auth`` or ``reset_permanent_code``): single use, ~10 min."""

    info_type: AuthCodeInfoType
    suite_id: str
    auth_code: str = field(repr=False)
    timestamp: int
    state: str | None = None
    source: SourcePosition | None = None
    verified: bool = False  # read from an envelope whose signature checked out


@dataclass(frozen=True)
class AuthChange:
    """``change_auth`` or ``cancel_auth`` for a corp that authorized the app."""

    info_type: AuthChangeInfoType
    suite_id: str
    corpid: str
    timestamp: int
    source: SourcePosition | None = None
    verified: bool = False  # read from an envelope whose signature checked out


@dataclass(frozen=True)
class BlockedIP:
    """An address WeCom refused with errcode 60020, seen in the IoT platform's log."""

    ip: str
    errcode: int = 60020
    hint: str | None = None
    corpid: str | None = None
    source: SourcePosition | None = None


@dataclass(frozen=True)
class UnrecognizedRecord:
    """A record that looks like a callback or a 60020 refusal but gave no event.

    An auth code lives ten minutes and is sent once, so a record the extractor could
    not read must reach an operator rather than vanish into a counter (fail2ban-regex
    calls these "missed lines"). ``reason`` is a short stable token (``no_suite_id``,
    ``bad_timestamp``, ``unknown_form``, ``bad_signature``, ``masked_ip``, …);
    ``excerpt`` is the record with every ticket-, code- or secret-like value replaced
    by ``***``, whitespace squeezed, at most :data:`EXCERPT_MAX` characters.
    """

    kind: RecordKind
    reason: str
    excerpt: str
    info_type: str | None = None
    suite_id: str | None = None
    source: SourcePosition | None = None


EXCERPT_MAX = 200

Event = SuiteTicket | AuthCode | AuthChange | BlockedIP | UnrecognizedRecord

EVENT_TYPES: dict[type[Any], str] = {
    SuiteTicket: "suite_ticket",
    AuthCode: "auth_code",
    AuthChange: "auth_change",
    BlockedIP: "blocked_ip",
    UnrecognizedRecord: "unrecognized",
}


def event_type(event: Event) -> str:
    """The ``type`` string of an event in the JSON contract."""
    return EVENT_TYPES[type(event)]


def _source_json(source: SourcePosition | None) -> dict[str, Any] | None:
    if source is None:
        return None
    return {"path": source.path, "offset": source.offset}


def secret_key(value: str) -> str:
    """A value's correlation key: the first 16 hex digits of SHA-256 of its UTF-8 bytes.

    The same function as the engine's auth-code ledger key (``code_key``), so a masked
    ``parse`` line can be matched to the ledger entry of its code.
    """
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]


def event_to_json(event: Event, *, show_secrets: bool = False) -> dict[str, Any]:
    """The event as ``iotwx-watch parse`` prints it (docs/architecture.md).

    Tickets and auth codes are ``***`` unless ``show_secrets``; their ``ticket_key`` /
    ``code_key`` (:func:`secret_key`) are always there.
    """
    body: dict[str, Any]
    match event:
        case SuiteTicket():
            body = {
                "type": "suite_ticket",
                "suite_id": event.suite_id,
                "suite_ticket": event.suite_ticket if show_secrets else MASK,
                "ticket_key": secret_key(event.suite_ticket),
                "timestamp": event.timestamp,
                "verified": event.verified,
            }
        case AuthCode():
            body = {
                "type": "auth_code",
                "info_type": event.info_type,
                "suite_id": event.suite_id,
                "auth_code": event.auth_code if show_secrets else MASK,
                "code_key": secret_key(event.auth_code),
                "timestamp": event.timestamp,
                "state": event.state,
                "verified": event.verified,
            }
        case AuthChange():
            body = {
                "type": "auth_change",
                "info_type": event.info_type,
                "suite_id": event.suite_id,
                "corpid": event.corpid,
                "timestamp": event.timestamp,
                "verified": event.verified,
            }
        case BlockedIP():
            body = {
                "type": "blocked_ip",
                "ip": event.ip,
                "errcode": event.errcode,
                "hint": event.hint,
                "corpid": event.corpid,
            }
        case UnrecognizedRecord():
            body = {
                "type": "unrecognized",
                "kind": event.kind,
                "reason": event.reason,
                "info_type": event.info_type,
                "suite_id": event.suite_id,
                "excerpt": event.excerpt,
            }
    body["source"] = _source_json(event.source)
    return body
