"""What a value must look like before it may become an event (and so, maybe, a WeCom call).

WeCom documents its ids, tickets and codes as short ASCII tokens of at most 512 bytes
(docs/wecom.md). Anything else in a log (a truncated line, binary junk, a hostile
line crafted to smuggle text into a request) is rejected here, and the caller counts
the rejection; nothing in this module raises.
"""

from __future__ import annotations

import ipaddress
import re

MAX_VALUE_BYTES = 512

_ID = re.compile(r"[A-Za-z0-9_\-]{2,128}")
_TOKEN = re.compile(rf"[A-Za-z0-9_\-.~+/=*@!]{{1,{MAX_VALUE_BYTES}}}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_HINT = re.compile(r"[A-Za-z0-9_\-]{1,128}")
_STATE_BAD = re.compile(r"[\x00-\x1f\x7f<>\"'\\\ud800-\udfff]")
_MASKED_IP = re.compile(r"[*xX]")
# The words a logger's mask puts where a value was (any case): read as "masked" here, and
# as a value, not structure, where fields and brackets are found (fields, structure).
MASK_WORDS = "masked|redacted|filtered|hidden"
_MASKED = re.compile(
    rf"\*{{3}}|\A(?:x{{3,}}|X{{3,}}|\.{{3,}}|…+|[<\[(]?(?:{MASK_WORDS})[>\])]?)\Z",
    re.IGNORECASE,
)
PLAUSIBLE_CODE_LEN = 16  # an AuthCode-like value this long is worth reporting

INFO_TYPES = frozenset(
    {"suite_ticket", "create_auth", "reset_permanent_code", "change_auth", "cancel_auth"}
)


def valid_id(value: str) -> bool:
    """A suite id or corp id: letters, digits, ``_`` and ``-`` (ww…, wx…, dk…, tj…)."""
    return _ID.fullmatch(value) is not None


def valid_token(value: str) -> bool:
    """A suite_ticket or auth code: printable ASCII token characters, at most 512 bytes."""
    return _TOKEN.fullmatch(value) is not None


def masked(value: str) -> bool:
    """A value a logger hid (``***``, ``jMh6***ETJe``, ``[REDACTED]``): nothing to read
    and nothing to report, since the record was never meant to carry it."""
    return _MASKED.search(value) is not None


def plausible_code(value: str | None) -> bool:
    """A value that could be an auth code: a valid token, long enough, not masked."""
    return (
        value is not None
        and len(value) >= PLAUSIBLE_CODE_LEN
        and valid_token(value)
        and not masked(value)
    )


def parse_timestamp(value: str) -> int | None:
    """A WeCom ``TimeStamp`` (Unix seconds) as an int, or None when it is not one."""
    if _TIMESTAMP.fullmatch(value) is None:
        return None
    return int(value)


def clean_state(value: str | None) -> str | None:
    """The optional ``State`` of a create_auth, kept only when it is short plain text."""
    if value is None or not value or len(value.encode("utf-8", "replace")) > MAX_VALUE_BYTES:
        return None
    if _STATE_BAD.search(value):
        return None
    return value


def clean_hint(value: str | None) -> str | None:
    """WeCom's error ``hint`` (digits, or ``<ts>_<n>_<hex>``), or None."""
    if value is None or _HINT.fullmatch(value) is None:
        return None
    return value


def check_ip(candidate: str) -> tuple[str | None, str | None]:
    """Normalise an address from ``from ip: …``.

    Returns ``(ip, None)`` for a valid IPv4/IPv6 address, else ``(None, reason)`` with
    reason ``masked_ip`` (``x.x.x.x``, ``1.2.*.*``) or ``invalid_ip``.
    """
    candidate = candidate.strip().rstrip(".,;")
    if _MASKED_IP.search(candidate):
        return None, "masked_ip"
    if "%" in candidate:  # a scoped (link-local) address is nothing WeCom could have seen
        return None, "invalid_ip"
    try:
        return str(ipaddress.ip_address(candidate)), None
    except ValueError:
        return None, "invalid_ip"
