"""Tests for iotwx_watch.extract.crypto against the published vectors of docs/wecom.md."""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Callable
from typing import NamedTuple

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from iotwx_watch.errors import ConfigError, CryptoError
from iotwx_watch.extract.crypto import CallbackCrypto

# Set A (official)
A_TOKEN = "QDG6eK"
A_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
A_ID = "wx5823bf96d3bd56c7"
A1_ECHOSTR = (
    "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
)
A2_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3Qczc"
    "dCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLj"
    "vd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMn"
    "vw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k"
    "22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2Yoy"
    "yH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
)
A2_PLAINTEXT = (
    b"<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n"
    b"<FromUserName><![CDATA[mycreate]]></FromUserName>\n"
    b"<CreateTime>1409659813</CreateTime>\n"
    b"<MsgType><![CDATA[text]]></MsgType>\n"
    b"<Content><![CDATA[hello]]></Content>\n"
    b"<MsgId>4561255354251345929</MsgId>\n"
    b"<AgentID>218</AgentID>\n"
    b"</xml>"
)
A3_ENCRYPT = (
    "CZWs4CWRpI4VolQlvn4dlEC1alN2MUEY2VklGehgBVLBrlVF7SyT+SV+Toj43l4ayJ9UMGKphktKKmP7B2j/P1ey"
    "67XB8PBgS7Wr5/8+w/yWriZv3Vmoo/MH3/1HsIWZrPQ3N2mJrelStIfI2Y8kLKXA7EhfZgZX4o+ffdkZDM76SEl7"
    "9Ib9mw7TGjZ9Aw/x/A2VjNbV1E8BtEbRxYYcQippYNw7hr8sFfa3nW1xLdxokt8QkRX83vK3DFP2F6TQFPL2Tu98"
    "UwhcUpPvdJBuu1/yiOQIScppV3eOuLWEsko="
)
A3_PLAINTEXT = (
    b'{"ToUserName":"wx5823bf96d3bd56c7","FromUserName":"mycreate","CreateTime": 1409659813,'
    b'"MsgType":"text","Content":"hello","MsgId":4561255354251345929,"AgentID": 218}'
)

# Set B (official)
B_TOKEN = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
B_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
B_ID = "ww1436e0e65a779aee"
B2_ENCRYPT = (
    "Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTk"
    "AgGzBhzTtRLNshw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJP"
    "QbZ9U+3JWcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7Mhm"
    "EbU2qARR4iQHE7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpHSGXAyh+/"
    "oxwaWbvL6aSDPOYuPDGOCI8jmnKiypE+"
)
B2_PLAINTEXT = (
    "<xml><ToUserName>ww1436e0e65a779aee</ToUserName><FromUserName>ChenJiaShun</FromUserName>"
    "<CreateTime>1476422779</CreateTime><MsgType>text</MsgType><Content>你好</Content>"
    "<MsgId>1456453720</MsgId><AgentID>1000002</AgentID></xml>"
).encode()
B3_ENCRYPT = (
    "cjhLUX7UU4yCSelv1vz7T0zT8huF51bAMVWriNvO1FMegHrQZNrtvRxbwf0fUPsFvwqR0U0fgiJNEA5Y30F2MoI2"
    "S7vv3EjVQ68C0cjw9frBoUE2Hj0BvFp9h3u6Vbsg4lc1C8AtHdaN8orKuNKkLRLuYEL52R1J3v8olJGZRLnRdVKI"
    "ivixmX/eQpzgeExtp20jI1HxRP1AAZ6xZoILdqDPO549LO4WeG+685JRUTdiwcY5fjZlqeMxuT4PpMn1X9OWsS7N"
    "Rj06Wa5E3Tvg4twjWp39KPfOdRte6P1T4JU="
)
B3_PLAINTEXT = (
    b'{ "ToUserName": "wx5823bf96d3bd56c7", "FromUserName": :mycreate", "CreateTime": 1409659813,'
    b' "MsgType": "text", "Content": "hello", "MsgId": 4561255354251345929, "AgentID": 218}'
)

# Set W (wechatpy)
W_TOKEN = "123456"
W_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
W_ID = "wx49f0ab532d5d035a"
W1_ECHOSTR = (
    "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q=="
)
W2_PLAINTEXT = (
    b"<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n"
    b"<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n"
    b"<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n"
    b"<CreateTime>1411525903</CreateTime>\n</xml>"
)
W2_ENCRYPT = (
    "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNc"
    "BqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY"
    "0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsV"
    "bwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAG"
    "VRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3"
)
W3_ENCRYPT = (
    "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHC"
    "rsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpX"
    "aG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQi"
    "MS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQi"
    "pvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
)

# The suite_ticket vector (self-generated)
S_ID = "ww4asffe99e54c0fxxxx"
S_PLAINTEXT = (
    b"<xml><SuiteId><![CDATA[ww4asffe99e54c0fxxxx]]></SuiteId>"
    b"<InfoType><![CDATA[suite_ticket]]></InfoType><TimeStamp>1403610513</TimeStamp>"
    b"<SuiteTicket><![CDATA[asdfasfdasdfasdf]]></SuiteTicket></xml>"
)
S_ENCRYPT = (
    "sKqRbbiSUnDhFHOvPjtUMc8d6yx4a/6nI6K3ydSsWPWu4vOoCc0O9FEBB+1OFCveV8iC/PW3MUyLoF2BogNhwAH6"
    "q6P5gNCcdx8K+y4iRRESAy1N5GMeB+vHyx0uSct6kid34EhaIsvVmcYWru7hUxUgLXne5nbAOMMyFzAfybg7h7bq"
    "qc0k0AhBRzR4JBh8Hs5pRIX2pcBeLUTzpUHA6OQciX9/YOywRGXTyrFg4esWVTUYL6NDIgP3TABbJ1tYZAPV5LTu"
    "3rn5IuVJUKbTcXwENo89kU3iZit5L5ZA5YgL9GjT0igpOstAcRwnxqImEBA/CB5M+WfruL56c7/5uA=="
)

REASONS = {"bad_signature", "bad_base64", "bad_length", "bad_padding", "bad_receiveid"}


class Envelope(NamedTuple):
    """One signed callback as WeCom sends it: the arguments of ``CallbackCrypto.decrypt``."""

    msg_signature: str
    timestamp: str
    nonce: str
    encrypt: str


A1 = Envelope("5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "1409659589", "263014780", A1_ECHOSTR)
A2 = Envelope("477715d11cdb4164915debcba66cb864d751f3e6", "1409659813", "1372623149", A2_ENCRYPT)
A3 = Envelope("0623cbc5a8cbee5bcc137c70de99575366fc2af3", "1409659813", "1372623149", A3_ENCRYPT)
B1 = Envelope(
    "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb",
    "1476416373",
    "47744683",
    "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA==",
)
B2 = Envelope("0c3914025cb4b4d68103f6bfc8db550f79dcf48e", "1476422779", "1597212914", B2_ENCRYPT)
B3 = Envelope("e3647471e395139e2308c1fa963f2d648a00b90e", "1409659813", "1372623149", B3_ENCRYPT)
W1 = Envelope("dd6b9c95b495b3f7e2901bfbc76c664930ffdb96", "1411443780", "437374425", W1_ECHOSTR)
W3 = Envelope("74d92dfeb87ba7c714f89d98870ae5eb62dff26d", "1411525903", "461056294", W3_ENCRYPT)
S = Envelope("faba227e7299fcdf671f6d644a9232dbe0881c48", "1403610513", "380320359", S_ENCRYPT)

A_SET = (A_TOKEN, A_KEY, A_ID)
B_SET = (B_TOKEN, B_KEY, B_ID)
W_SET = (W_TOKEN, W_KEY, W_ID)


def _raw_encrypt(encoding_aes_key: str, padded: bytes) -> str:
    """AES-CBC encrypt bytes as they stand, to build envelopes the module would never make."""
    key = base64.b64decode(encoding_aes_key + "=")
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()


def _raw_decrypt(encoding_aes_key: str, encrypt: str) -> bytes:
    """AES-CBC decrypt without unpadding, to look at the pad bytes of a vector."""
    key = base64.b64decode(encoding_aes_key + "=")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    return decryptor.update(base64.b64decode(encrypt)) + decryptor.finalize()


def _reason(call: Callable[[], object]) -> str:
    """Run a zero-argument call that must raise CryptoError; return its reason."""
    with pytest.raises(CryptoError) as info:
        call()
    return info.value.reason


@pytest.fixture
def a_crypto() -> CallbackCrypto:
    """The official set-A crypto (receiveid = corpid)."""
    return CallbackCrypto(*A_SET)


@pytest.mark.parametrize(
    ("keys", "envelope", "expected"),
    [
        # A1: the GET echostr verifies and decrypts to the echo plaintext.
        pytest.param(A_SET, A1, b"1616140317555161061", id="A1"),
        # A3: the Go sample's JSON callback verifies and decrypts.
        pytest.param(A_SET, A3, A3_PLAINTEXT, id="A3"),
        # B1-B3: the second official set (receiveid from the ciphertext).
        pytest.param(B_SET, B1, b"1288432023552776189", id="B1"),
        pytest.param(B_SET, B2, B2_PLAINTEXT, id="B2"),
        pytest.param(B_SET, B3, B3_PLAINTEXT, id="B3"),
        # W1: wechatpy's echo string.
        pytest.param(W_SET, W1, b"5927782489442352469", id="W1"),
    ],
)
def test_official_vectors_decrypt(
    keys: tuple[str, str, str], envelope: Envelope, expected: bytes
) -> None:
    """Each official vector verifies and decrypts to its plaintext."""
    assert expected == CallbackCrypto(*keys).decrypt(**envelope._asdict())


@pytest.mark.parametrize(
    ("keys", "envelope", "reason"),
    [
        # B3: initialising with the envelope's ToUserName instead of the inner id.
        pytest.param((B_TOKEN, B_KEY, A_ID), B3, "bad_receiveid", id="B3-envelope-corpid"),
        # W1: the same envelope with nonce 437374424.
        pytest.param(W_SET, W1._replace(nonce="437374424"), "bad_signature", id="W1-wrong-nonce"),
        # One changed hex digit in msg_signature.
        pytest.param(
            A_SET,
            A1._replace(msg_signature="5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd4"),
            "bad_signature",
            id="A1-tampered-signature",
        ),
        # A non-ASCII msg_signature is a bad_signature, not a TypeError from compare_digest.
        pytest.param(A_SET, Envelope("签名", "1", "2", A1_ECHOSTR), "bad_signature",
                     id="non-ascii-signature"),
        # A correctly signed envelope for another receiveid.
        pytest.param((A_TOKEN, A_KEY, S_ID), A1, "bad_receiveid", id="A1-wrong-receiveid"),
    ],
)
def test_altered_vector_is_rejected_with_its_reason(
    keys: tuple[str, str, str], envelope: Envelope, reason: str
) -> None:
    """An official vector with its signature, nonce or receiveid wrong is rejected, saying why."""
    crypto = CallbackCrypto(*keys)
    assert reason == _reason(lambda: crypto.decrypt(**envelope._asdict()))


def test_a1_encrypt_with_official_random_is_byte_exact(a_crypto: CallbackCrypto) -> None:
    """A1: encrypting the echo with its random prefix reproduces echostr and signature."""
    actual = a_crypto.encrypt(
        b"1616140317555161061",
        timestamp="1409659589",
        nonce="263014780",
        random16=b"c41b64491c2468d0",
    )
    assert (A1_ECHOSTR, "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3") == actual


def test_a2_post_xml_decrypts(a_crypto: CallbackCrypto) -> None:
    """A2: the POST XML vector verifies and decrypts to the 284-byte plaintext."""
    actual = a_crypto.decrypt(**A2._asdict())
    assert A2_PLAINTEXT == actual
    assert 284 == len(actual)


def test_a2_encrypt_with_official_random_is_byte_exact(a_crypto: CallbackCrypto) -> None:
    """A2: its pad is 30 bytes and encrypting with the random prefix is byte-exact."""
    actual = a_crypto.encrypt(
        A2_PLAINTEXT, timestamp="1409659813", nonce="1372623149", random16=b"0960688932c47ef1"
    )
    assert (A2_ENCRYPT, "477715d11cdb4164915debcba66cb864d751f3e6") == actual
    assert 30 == _raw_decrypt(A_KEY, A2_ENCRYPT)[-1]


def test_a2_official_sort_string(a_crypto: CallbackCrypto) -> None:
    """A2: the signature is sha1 of nonce+timestamp+token+encrypt in sorted order."""
    expected = hashlib.sha1(f"13726231491409659813QDG6eK{A2_ENCRYPT}".encode()).hexdigest()
    assert expected == a_crypto.signature("1409659813", "1372623149", A2_ENCRYPT)


def test_w2_encrypt_is_byte_exact() -> None:
    """W2: encrypt with the fixed random prefix matches wechatpy byte for byte."""
    crypto = CallbackCrypto(*W_SET)
    actual = crypto.encrypt(
        W2_PLAINTEXT, timestamp="1411525903", nonce="461056294", random16=b"1234567890123456"
    )
    assert (W2_ENCRYPT, "407518b7649e86ef23978113f92d27afa9296533") == actual


def test_w3_decrypt_with_one_byte_pad() -> None:
    """W3: wechatpy's decrypt vector (a 1-byte pad) gives the expected XML."""
    actual = CallbackCrypto(*W_SET).decrypt(**W3._asdict())
    assert b"<Content><![CDATA[test]]></Content>" in actual
    assert b"<FromUserName><![CDATA[messense]]></FromUserName>" in actual
    assert b"<MsgId>4363689963896700987</MsgId>" in actual
    assert 1 == _raw_decrypt(W_KEY, W3_ENCRYPT)[-1]


def test_suite_ticket_vector_round_trips() -> None:
    """The suite_ticket vector decrypts with receiveid = suite id, and re-encrypts exactly."""
    crypto = CallbackCrypto(A_TOKEN, A_KEY, S_ID)
    decrypted = crypto.decrypt(**S._asdict())
    encrypted = crypto.encrypt(
        S_PLAINTEXT, timestamp="1403610513", nonce="380320359", random16=b"0123456789abcdef"
    )
    assert (S_PLAINTEXT, (S_ENCRYPT, "faba227e7299fcdf671f6d644a9232dbe0881c48")) == (
        decrypted, encrypted
    )


def test_decrypt_unsigned_skips_the_signature() -> None:
    """decrypt_unsigned decrypts a URL-verification echostr with no signature at hand."""
    crypto = CallbackCrypto("any-other-token", A_KEY, A_ID)
    assert b"1616140317555161061" == crypto.decrypt_unsigned(A1_ECHOSTR)


def test_corrupted_padding_is_bad_padding(a_crypto: CallbackCrypto) -> None:
    """Flipping the last pad byte (via the previous block) is rejected as bad_padding."""
    raw = bytearray(base64.b64decode(A1_ECHOSTR))
    raw[-17] ^= 7  # the last plaintext byte was the pad length 7; make it 0
    tampered = base64.b64encode(bytes(raw)).decode()
    sig = a_crypto.signature("1409659589", "263014780", tampered)
    assert "bad_padding" == _reason(
        lambda: a_crypto.decrypt(
            msg_signature=sig, timestamp="1409659589", nonce="263014780", encrypt=tampered
        )
    )


@pytest.mark.parametrize(
    "padded",
    [
        b"x" * 31 + b"\x00",  # pad length 0
        b"x" * 31 + b"\x21",  # pad length 33
        b"x" * 29 + b"\x02\x03\x03",  # pad bytes differ
        b"x" * 15 + b"\x20",  # pad longer than the data
    ],
    ids=["zero", "33", "unequal", "longer-than-data"],
)
def test_malformed_pkcs7_is_bad_padding(a_crypto: CallbackCrypto, padded: bytes) -> None:
    """Every malformed PKCS#7 pad is rejected as bad_padding."""
    encrypt = _raw_encrypt(A_KEY, padded)
    assert "bad_padding" == _reason(lambda: a_crypto.decrypt_unsigned(encrypt))


@pytest.mark.parametrize(
    "encrypt",
    [
        "",
        base64.b64encode(base64.b64decode(A1_ECHOSTR)[:-5]).decode(),
        base64.b64encode(b"\x00" * 17).decode(),
    ],
    ids=["empty", "truncated", "17-bytes"],
)
def test_truncated_ciphertext_is_bad_length(a_crypto: CallbackCrypto, encrypt: str) -> None:
    """A ciphertext that is empty or not a multiple of 16 bytes is rejected as bad_length."""
    assert "bad_length" == _reason(lambda: a_crypto.decrypt_unsigned(encrypt))


@pytest.mark.parametrize(
    "content",
    [
        b"0123456789abcdef" + b"\x00\x00",  # shorter than random + length
        b"0123456789abcdef" + struct.pack(">I", 1000) + b"msg" + A_ID.encode(),
    ],
    ids=["too-short", "msg-len-beyond-data"],
)
def test_bad_inner_length_is_bad_length(a_crypto: CallbackCrypto, content: bytes) -> None:
    """Content too short for its header, or a msg_len past the end, is rejected as bad_length."""
    pad = 32 - len(content) % 32
    encrypt = _raw_encrypt(A_KEY, content + bytes([pad]) * pad)
    assert "bad_length" == _reason(lambda: a_crypto.decrypt_unsigned(encrypt))


@pytest.mark.parametrize(
    "encrypt",
    ["not base64!", "P9nAzCzy DtyT", "abc", "字节==", A1_ECHOSTR.rstrip("=")],
    ids=["punct", "space", "bad-length", "non-ascii", "no-padding"],
)
def test_non_base64_is_bad_base64(a_crypto: CallbackCrypto, encrypt: str) -> None:
    """Text that is not strict base64 is rejected as bad_base64."""
    assert "bad_base64" == _reason(lambda: a_crypto.decrypt_unsigned(encrypt))


def test_error_messages_carry_no_secret(a_crypto: CallbackCrypto) -> None:
    """No rejection message contains the token, the key, the receiveid or the plaintext."""
    messages = []
    for encrypt in ["", "!!", A1_ECHOSTR[:-8] + "AAAAAA==", A1_ECHOSTR]:
        with pytest.raises(CryptoError) as info:
            a_crypto.decrypt(msg_signature="x", timestamp="1", nonce="2", encrypt=encrypt)
        messages.append(str(info.value))
        sig = a_crypto.signature("1", "2", encrypt)
        with pytest.raises(CryptoError) as info:
            CallbackCrypto(A_TOKEN, A_KEY, "other").decrypt(
                msg_signature=sig, timestamp="1", nonce="2", encrypt=encrypt
            )
        messages.append(str(info.value))
    leaked = [m for m in messages for s in (A_TOKEN, A_KEY, A_ID, "1616140317555161061") if s in m]
    assert [] == leaked


@pytest.mark.parametrize(
    "key",
    [A_KEY[:-1], A_KEY + "A", "-" * 43, "中" * 43, ""],
    ids=["short", "long", "url-safe-chars", "non-ascii", "empty"],
)
def test_bad_encoding_aes_key_is_config_error(key: str) -> None:
    """An EncodingAESKey that does not give 32 bytes is a ConfigError that does not echo it."""
    with pytest.raises(ConfigError) as info:
        CallbackCrypto(A_TOKEN, key, A_ID)
    assert key == "" or key not in str(info.value)


def test_repr_hides_token_and_key(a_crypto: CallbackCrypto) -> None:
    """repr shows the receiveid only."""
    assert "CallbackCrypto(receiveid='wx5823bf96d3bd56c7')" == repr(a_crypto)


def test_encrypt_rejects_wrong_random_length(a_crypto: CallbackCrypto) -> None:
    """A random prefix that is not 16 bytes is a programming error."""
    with pytest.raises(ValueError):
        a_crypto.encrypt(b"x", timestamp="1", nonce="2", random16=b"short")


def test_default_random_prefix_differs(a_crypto: CallbackCrypto) -> None:
    """Without random16 two encryptions of the same message differ but both decrypt."""
    first, _ = a_crypto.encrypt(b"same", timestamp="1", nonce="2")
    second, _ = a_crypto.encrypt(b"same", timestamp="1", nonce="2")
    assert first != second
    assert [b"same", b"same"] == [a_crypto.decrypt_unsigned(e) for e in (first, second)]


@settings(max_examples=200, deadline=None)
@given(
    plaintext=st.binary(max_size=600),
    receiveid=st.text(max_size=40),
    timestamp=st.text(max_size=12),
    nonce=st.text(max_size=12),
)
def test_round_trip(plaintext: bytes, receiveid: str, timestamp: str, nonce: str) -> None:
    """Whatever is encrypted decrypts to itself, for any receiveid, with a valid signature."""
    crypto = CallbackCrypto(A_TOKEN, A_KEY, receiveid)
    encrypt, sig = crypto.encrypt(plaintext, timestamp=timestamp, nonce=nonce)
    assert 0 == len(base64.b64decode(encrypt)) % 32
    actual = crypto.decrypt(msg_signature=sig, timestamp=timestamp, nonce=nonce, encrypt=encrypt)
    assert plaintext == actual


@settings(max_examples=300, deadline=None)
@given(
    encrypt=st.one_of(
        st.text(max_size=200),
        st.binary(max_size=200).map(lambda b: base64.b64encode(b).decode()),
        st.integers(1, 12).flatmap(
            lambda n: st.binary(min_size=16 * n, max_size=16 * n).map(
                lambda b: base64.b64encode(b).decode()
            )
        ),
    )
)
def test_garbage_raises_only_crypto_error(encrypt: str) -> None:
    """Random text or bytes as `encrypt` never raise anything but CryptoError."""
    crypto = CallbackCrypto(A_TOKEN, A_KEY, A_ID)
    reasons: set[str] = set()
    calls: list[Callable[[], bytes]] = [
        lambda: crypto.decrypt_unsigned(encrypt),
        lambda: crypto.decrypt(
            msg_signature=crypto.signature("1", "2", encrypt),
            timestamp="1",
            nonce="2",
            encrypt=encrypt,
        ),
        lambda: crypto.decrypt(msg_signature="0" * 40, timestamp="1", nonce="2", encrypt=encrypt),
    ]
    for call in calls:
        try:
            call()
        except CryptoError as exc:
            reasons.add(exc.reason)
    assert set() == reasons - REASONS
