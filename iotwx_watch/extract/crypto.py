"""WeCom callback encryption (WXBizMsgCrypt), on ``cryptography``.

Command callbacks (suite_ticket, create_auth, ...) reach receive.log encrypted; the
extractor needs the plaintext to find tickets and auth codes. The algorithm is
WeCom's (docs/wecom.md, "Callback encryption"): ``sha1(sorted(token, timestamp,
nonce, encrypt))`` signs the envelope; ``AES-256-CBC(key, iv=key[:16])`` over
``random(16) + len(4, big-endian) + msg + receiveid``, PKCS#7-padded to 32 bytes.

Pure: no IO, no clock, no logging. Every rejection is a :class:`CryptoError` whose
``reason`` is a stable token the engine counts; messages carry sizes at most, never
the key, the token or any plaintext.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from iotwx_watch.errors import ConfigError, CryptoError

__all__ = [
    "BAD_BASE64",
    "BAD_LENGTH",
    "BAD_PADDING",
    "BAD_RECEIVEID",
    "BAD_SIGNATURE",
    "CallbackCrypto",
]

BAD_SIGNATURE = "bad_signature"
BAD_BASE64 = "bad_base64"
BAD_LENGTH = "bad_length"
BAD_PADDING = "bad_padding"
BAD_RECEIVEID = "bad_receiveid"

_AES_BLOCK = 16
_PAD_BLOCK = 32  # WeCom pads to 32 bytes, not AES's 16
_RANDOM_LEN = 16
_HEADER_LEN = _RANDOM_LEN + 4
_KEY_LEN = 32
_ENCODING_AES_KEY_LEN = 43


def _utf8(text: str) -> bytes:
    """Encode any str, even one with lone surrogates, so hashing never raises."""
    return text.encode("utf-8", "surrogatepass")


class CallbackCrypto:
    """Verify, decrypt and encrypt callback envelopes for one (token, key, receiveid).

    ``receiveid`` is the suite id for command callbacks and the corp id for data
    callbacks (docs/wecom.md); it is checked against the id inside the ciphertext.
    """

    def __init__(self, token: str, encoding_aes_key: str, receiveid: str) -> None:
        self._token = token
        self._key = self._decode_key(encoding_aes_key)
        self._iv = self._key[:_AES_BLOCK]
        self.receiveid = receiveid
        self._receiveid_bytes = _utf8(receiveid)

    def __repr__(self) -> str:
        return f"CallbackCrypto(receiveid={self.receiveid!r})"

    @staticmethod
    def _decode_key(encoding_aes_key: str) -> bytes:
        """EncodingAESKey is 43 base64 chars without its ``=``; it must give 32 bytes."""
        if len(encoding_aes_key) != _ENCODING_AES_KEY_LEN:
            raise ConfigError(
                f"encoding_aes_key must be {_ENCODING_AES_KEY_LEN} characters,"
                f" got {len(encoding_aes_key)}"
            )
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ConfigError("encoding_aes_key is not valid base64") from exc
        if len(key) != _KEY_LEN:  # pragma: no cover - 43 valid chars always give 32 bytes
            raise ConfigError(f"encoding_aes_key must decode to {_KEY_LEN} bytes")
        return key

    def signature(self, timestamp: str, nonce: str, encrypt: str) -> str:
        """``msg_signature`` for these values: sha1 of the sorted concatenation, lowercase hex."""
        parts = sorted([self._token, timestamp, nonce, encrypt])
        return hashlib.sha1(_utf8("".join(parts))).hexdigest()

    def decrypt(self, *, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> bytes:
        """Check ``msg_signature`` in constant time, then decrypt; return the message bytes.

        Raises:
            CryptoError: reason ``bad_signature``, ``bad_base64``, ``bad_length``,
                ``bad_padding`` or ``bad_receiveid``.
        """
        expected = self.signature(timestamp, nonce, encrypt)
        if not hmac.compare_digest(_utf8(expected), _utf8(msg_signature)):
            raise CryptoError(BAD_SIGNATURE)
        return self.decrypt_unsigned(encrypt)

    def decrypt_unsigned(self, encrypt: str) -> bytes:
        """Decrypt without a signature check, for tools that only hold the ciphertext.

        Raises:
            CryptoError: reason ``bad_base64``, ``bad_length``, ``bad_padding`` or
                ``bad_receiveid``.
        """
        try:
            ciphertext = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CryptoError(BAD_BASE64) from exc
        if not ciphertext or len(ciphertext) % _AES_BLOCK:
            raise CryptoError(BAD_LENGTH, f"ciphertext is {len(ciphertext)} bytes")
        decryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._iv)).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        content = _unpad(padded)
        if len(content) < _HEADER_LEN:
            raise CryptoError(BAD_LENGTH, f"content is {len(content)} bytes")
        (msg_len,) = struct.unpack(">I", content[_RANDOM_LEN:_HEADER_LEN])
        end = _HEADER_LEN + msg_len
        if end > len(content):
            raise CryptoError(BAD_LENGTH, "message length exceeds the data")
        if content[end:] != self._receiveid_bytes:
            raise CryptoError(BAD_RECEIVEID)
        return content[_HEADER_LEN:end]

    def encrypt(
        self,
        plaintext: bytes,
        *,
        timestamp: str,
        nonce: str,
        random16: bytes | None = None,
    ) -> tuple[str, str]:
        """Encrypt ``plaintext`` as WeCom would; return ``(encrypt_b64, msg_signature)``.

        ``random16`` fixes the random prefix, for byte-exact test vectors.
        """
        prefix = os.urandom(_RANDOM_LEN) if random16 is None else random16
        if len(prefix) != _RANDOM_LEN:
            raise ValueError(f"random16 must be {_RANDOM_LEN} bytes, got {len(prefix)}")
        content = prefix + struct.pack(">I", len(plaintext)) + plaintext + self._receiveid_bytes
        pad = _PAD_BLOCK - len(content) % _PAD_BLOCK
        padded = content + bytes([pad]) * pad
        encryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._iv)).encryptor()
        ciphertext = encryptor.update(padded) + encryptor.finalize()
        encrypt_b64 = base64.b64encode(ciphertext).decode("ascii")
        return encrypt_b64, self.signature(timestamp, nonce, encrypt_b64)


def _unpad(padded: bytes) -> bytes:
    """Strip a PKCS#7 pad of 1..32 bytes, all equal to its length."""
    pad = padded[-1]
    if not 1 <= pad <= _PAD_BLOCK or pad > len(padded):
        raise CryptoError(BAD_PADDING)
    if padded[-pad:] != bytes([pad]) * pad:
        raise CryptoError(BAD_PADDING)
    return padded[:-pad]
