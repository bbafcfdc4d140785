"""Keys of the auth-code ledger and of rejected secrets: hashes, so the state file shows
which codes and secrets were handled without keeping them readable."""

from __future__ import annotations

import hashlib


def code_key(auth_code: str) -> str:
    """The ledger key of an auth code: first 16 hex digits of SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(auth_code.encode("utf-8")).hexdigest()[:16]


def secret_fingerprint(secret: str) -> str:
    """Identifies a suite_secret WeCom rejected without keeping it readable."""
    return hashlib.sha256(b"iotwx-watch suite_secret\0" + secret.encode("utf-8")).hexdigest()[:16]
