"""From a callback record's text to events: plaintext payloads and encrypted envelopes.

Validation happens here (see :mod:`.validate`); every record that yields no event
says why in the stats (``skipped.<reason>``, or ``rejects.<reason>`` for an envelope
that failed its signature or decryption), never in an exception.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING

from iotwx_watch.config import Config
from iotwx_watch.errors import ConfigError, CryptoError
from iotwx_watch.events import AuthChange, AuthCode, Event, SourcePosition, SuiteTicket
from iotwx_watch.extract.fields import (
    context_suite_id,
    decode,
    find_fields,
    signature_params,
    unescape,
)
from iotwx_watch.extract.validate import (
    INFO_TYPES,
    clean_state,
    parse_timestamp,
    valid_id,
    valid_token,
)

if TYPE_CHECKING:
    from iotwx_watch.extract.crypto import CallbackCrypto


class EnvelopeOpener:
    """Decrypts envelopes for the suites that have callback keys in the config."""

    def __init__(self, config: Config | None) -> None:
        self._config = config
        self._cryptos: dict[str, CallbackCrypto | None] = {}

    def crypto(self, suite_id: str) -> CallbackCrypto | None:
        """The crypto for ``suite_id`` (receiveid = suite id), or None without keys."""
        if suite_id not in self._cryptos:
            self._cryptos[suite_id] = self._make(suite_id)
        return self._cryptos[suite_id]

    def _make(self, suite_id: str) -> CallbackCrypto | None:
        suite = self._config.suite(suite_id) if self._config is not None else None
        if suite is None or suite.token is None or suite.encoding_aes_key is None:
            return None
        # Imported here: ``cryptography`` costs startup time that most logs never need.
        from iotwx_watch.extract.crypto import CallbackCrypto

        try:
            return CallbackCrypto(suite.token, suite.encoding_aes_key, suite_id)
        except ConfigError:
            return None


def callback_event(
    fields: Mapping[str, str],
    *,
    context_id: str | None,
    source: SourcePosition,
    stats: Counter[str],
) -> Event | None:
    """The event for one callback's fields, or None (counted) when it must not become one."""
    info_type = fields.get("info_type")
    if not info_type:
        stats["skipped.missing_info_type"] += 1
        return None
    if info_type not in INFO_TYPES:
        stats["skipped.unknown_info_type"] += 1
        return None
    suite_id = fields.get("suite_id") or context_id
    if not suite_id:
        stats["skipped.missing_suite_id"] += 1
        return None
    if not valid_id(suite_id):
        stats["skipped.invalid_suite_id"] += 1
        return None
    raw_timestamp = fields.get("timestamp")
    if raw_timestamp is None:
        stats["skipped.missing_timestamp"] += 1
        return None
    timestamp = parse_timestamp(raw_timestamp)
    if timestamp is None:
        stats["skipped.invalid_timestamp"] += 1
        return None
    if info_type == "suite_ticket":
        ticket = _token(fields, "suite_ticket", stats)
        if ticket is None:
            return None
        return SuiteTicket(suite_id, ticket, timestamp, source=source)
    if info_type in ("create_auth", "reset_permanent_code"):
        code = _token(fields, "auth_code", stats)
        if code is None:
            return None
        return AuthCode(
            info_type,  # type: ignore[arg-type]  # narrowed by the tuple test above
            suite_id,
            code,
            timestamp,
            state=clean_state(fields.get("state")),
            source=source,
        )
    corpid = fields.get("corpid")
    if not corpid:
        stats["skipped.missing_corpid"] += 1
        return None
    if not valid_id(corpid):
        stats["skipped.invalid_corpid"] += 1
        return None
    return AuthChange(info_type, suite_id, corpid, timestamp, source=source)  # type: ignore[arg-type]


def _token(fields: Mapping[str, str], name: str, stats: Counter[str]) -> str | None:
    value = fields.get(name)
    if not value:
        stats[f"skipped.missing_{name}"] += 1
        return None
    if not valid_token(value):
        stats[f"skipped.invalid_{name}"] += 1
        return None
    return value


def record_events(
    text: str,
    *,
    context: str,
    source: SourcePosition,
    envelopes: EnvelopeOpener,
    stats: Counter[str],
) -> list[Event] | None:
    """Events of one record's text (``context``: the few lines before it).

    Returns None when the text holds no callback at all (a trigger word in noise).
    """
    if "\\" in text:
        text = unescape(text)
    fields = find_fields(text)
    context_id = context_suite_id(context) or context_suite_id(text)
    if "info_type" in fields:
        stats["records"] += 1
        event = callback_event(fields, context_id=context_id, source=source, stats=stats)
        return [] if event is None else [event]
    if "encrypt" in fields:
        stats["records"] += 1
        params = signature_params(context + "\n" + text)
        event = _envelope_event(fields, params, context_id, source, envelopes, stats)
        return [] if event is None else [event]
    return None


def _envelope_event(
    fields: Mapping[str, str],
    params: Mapping[str, str],
    context_id: str | None,
    source: SourcePosition,
    envelopes: EnvelopeOpener,
    stats: Counter[str],
) -> Event | None:
    suite_id = fields.get("to_user") or context_id
    if not suite_id or not valid_id(suite_id):
        stats["skipped.envelope_no_suite"] += 1
        return None
    crypto = envelopes.crypto(suite_id)
    if crypto is None:
        stats["skipped.envelope_no_keys"] += 1
        return None
    if not all(name in params for name in ("msg_signature", "timestamp", "nonce")):
        stats["skipped.envelope_no_signature"] += 1
        return None
    try:
        plaintext = crypto.decrypt(
            msg_signature=params["msg_signature"],
            timestamp=params["timestamp"],
            nonce=params["nonce"],
            encrypt=fields["encrypt"],
        )
    except CryptoError as exc:
        stats[f"rejects.{exc.reason}"] += 1
        return None
    inner = find_fields(decode(plaintext))
    if "info_type" not in inner:
        stats["skipped.envelope_no_callback"] += 1
        return None
    return callback_event(inner, context_id=suite_id, source=source, stats=stats)
