"""From one record's fields to an event, or to the reason it gave none.

Validation happens here (see :mod:`.validate`). A record that yields no event says
why as a :class:`Miss`: the counter it bumps (``skipped.<why>``, or
``rejects.<why>`` for an envelope that failed its signature, decryption or receiveid
check) and, when the record looked like a callback we should have read, the reason an
operator is shown in an :class:`~iotwx_watch.events.UnrecognizedRecord`. An InfoType
we do not handle, or a value the logger masked, is counted but not reported. Nothing
here raises.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from iotwx_watch.config import Config
from iotwx_watch.errors import ConfigError, CryptoError
from iotwx_watch.events import (
    AuthChange,
    AuthCode,
    Event,
    SourcePosition,
    SuiteTicket,
    UnrecognizedRecord,
)
from iotwx_watch.extract.fields import context_suite_id, find_pairs, signature_params
from iotwx_watch.extract.mask import excerpt
from iotwx_watch.extract.structure import group
from iotwx_watch.extract.text import decode
from iotwx_watch.extract.validate import (
    INFO_TYPES,
    clean_state,
    masked,
    parse_timestamp,
    plausible_code,
    valid_id,
    valid_token,
)

if TYPE_CHECKING:
    from iotwx_watch.extract.crypto import CallbackCrypto

Fields = Mapping[str, str | None]
RECEIVEID_MISMATCH = "receiveid_mismatch"
SECRET_FIELDS = ("suite_ticket", "auth_code", "encrypt")
_CALLBACK_ONLY = ("suite_id", "suite_ticket", "auth_code", "corpid")  # not generic log keys
_SECRET_OF = {
    "suite_ticket": "suite_ticket",
    "create_auth": "auth_code",
    "reset_permanent_code": "auth_code",
}


@dataclass(frozen=True)
class Miss:
    """Why a record gave no event: the counter it bumps, and the reason shown to an
    operator (None when there is nothing to report)."""

    counter: str
    reason: str | None = None
    suite_id: str | None = None


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

    def foreign(self, suite_id: str) -> bool:
        """An envelope for a receiver the config does not list (a corp's data callback)."""
        return bool(self._config and self._config.suites) and (
            self._config is not None and self._config.suite(suite_id) is None
        )

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
    fields: Fields,
    *,
    context_id: str | None,
    source: SourcePosition,
    verified: bool = False,
) -> Event | Miss:
    """The event for one callback's fields, or why it must not become one."""
    info_type = fields.get("info_type")
    if not info_type:
        # A dump with callback fields but no InfoType value (print_r of a SimpleXMLElement
        # read without LIBXML_NOCDATA shows every field empty) is a callback we lost.
        lost = any(name in fields for name in _CALLBACK_ONLY)
        suite = fields.get("suite_id") or context_id
        return Miss("skipped.missing_info_type", "no_info_type" if lost else None, suite)
    if info_type not in INFO_TYPES:
        return Miss("skipped.unknown_info_type")
    secret = _SECRET_OF.get(info_type)
    if secret is not None and masked(fields.get(secret) or ""):
        return Miss(f"skipped.masked_{secret}")
    suite_id = fields.get("suite_id") or context_id
    if not suite_id:
        return Miss("skipped.missing_suite_id", "no_suite_id")
    if not valid_id(suite_id):
        return Miss("skipped.invalid_suite_id", "bad_suite_id")
    miss = _check("timestamp", fields, suite_id, lambda v: parse_timestamp(v) is not None)
    if miss is not None:
        return miss
    timestamp = int(fields["timestamp"] or 0)
    if secret is not None:
        miss = _check(secret, fields, suite_id, valid_token)
        if miss is not None:
            return miss
        value = fields[secret] or ""
        if info_type == "suite_ticket":
            return SuiteTicket(suite_id, value, timestamp, source=source, verified=verified)
        return AuthCode(
            info_type,  # type: ignore[arg-type]  # create_auth or reset_permanent_code here
            suite_id,
            value,
            timestamp,
            state=clean_state(fields.get("state")),
            source=source,
            verified=verified,
        )
    miss = _check("corpid", fields, suite_id, valid_id)
    if miss is not None:
        return miss
    corpid = fields["corpid"] or ""
    return AuthChange(
        info_type,  # type: ignore[arg-type]  # change_auth or cancel_auth here
        suite_id,
        corpid,
        timestamp,
        source=source,
        verified=verified,
    )


def _check(
    name: str, fields: Fields, suite_id: str, valid: Callable[[str], bool]
) -> Miss | None:
    value = fields.get(name)
    if not value:
        return Miss(f"skipped.missing_{name}", f"no_{name}", suite_id)
    if not valid(value):
        return Miss(f"skipped.invalid_{name}", f"bad_{name}", suite_id)
    return None


def record_event(
    fields: Fields,
    *,
    context: str,
    text: str,
    source: SourcePosition,
    envelopes: EnvelopeOpener,
) -> Event | Miss | None:
    """The outcome of one record found in receive.log, or None when it is no callback.

    ``context`` is the few lines before the record (for ``收到的id:`` and the callback
    URL); ``text`` the record's own lines.
    """
    context_id = context_suite_id(context) or context_suite_id(text)
    if "info_type" in fields:
        return callback_event(fields, context_id=context_id, source=source)
    if "encrypt" in fields:
        params = signature_params(context + "\n" + text)
        return _envelope_event(fields, params, context_id, source, envelopes)
    if plausible_code(fields.get("auth_code")):
        return Miss("skipped.missing_info_type", "no_info_type", fields.get("suite_id"))
    return None


def _envelope_event(
    fields: Fields,
    params: Mapping[str, str],
    context_id: str | None,
    source: SourcePosition,
    envelopes: EnvelopeOpener,
) -> Event | Miss | None:
    suite_id = fields.get("to_user") or context_id
    if not suite_id or not valid_id(suite_id):
        return Miss("skipped.envelope_no_suite", "no_suite_id")
    crypto = envelopes.crypto(suite_id)
    if crypto is None:
        if envelopes.foreign(suite_id):
            return Miss("skipped.envelope_foreign")
        return Miss("skipped.envelope_no_keys", "no_keys", suite_id)
    if not all(name in params for name in ("msg_signature", "timestamp", "nonce")):
        return Miss("skipped.envelope_no_signature", "no_signature", suite_id)
    try:
        plaintext = crypto.decrypt(
            msg_signature=params["msg_signature"],
            timestamp=params["timestamp"],
            nonce=params["nonce"],
            encrypt=fields.get("encrypt") or "",
        )
    except CryptoError as exc:
        return Miss(f"rejects.{exc.reason}", exc.reason, suite_id)
    inner = _inner_fields(decode(plaintext))
    if inner is None:
        return Miss("skipped.envelope_no_callback")
    inner_suite = inner.get("suite_id")
    if inner_suite is not None and inner_suite != suite_id:
        # The signature proves who sent it for `suite_id`; a payload naming another
        # suite would let one suite's keys vouch for another's tickets and codes.
        return Miss(f"rejects.{RECEIVEID_MISMATCH}", RECEIVEID_MISMATCH, suite_id)
    return callback_event(inner, context_id=suite_id, source=source, verified=True)


def _inner_fields(plaintext: str) -> Fields | None:
    """The fields of the first callback in a decrypted envelope."""
    text = plaintext[: 64 * 1024]
    for record in group(text, find_pairs(text), lambda pos: 0):
        if "info_type" in record.fields:
            return record.fields
    return None


def outcome_events(
    outcome: Event | Miss,
    *,
    fields: Fields,
    text: str,
    source: SourcePosition,
    stats: Counter[str],
) -> list[Event]:
    """Count an outcome; an event, or the UnrecognizedRecord a reported miss becomes."""
    stats["records"] += 1
    if not isinstance(outcome, Miss):
        return [outcome]
    stats[outcome.counter] += 1
    if outcome.reason is None:
        return []
    secrets = [fields.get(name) for name in SECRET_FIELDS]
    info_type = fields.get("info_type")
    suite_id = outcome.suite_id or fields.get("suite_id")
    return [
        UnrecognizedRecord(
            "callback",
            outcome.reason,
            excerpt(text, secrets),
            info_type=info_type if info_type in INFO_TYPES else None,
            suite_id=suite_id if suite_id and valid_id(suite_id) else None,
            source=source,
        )
    ]
