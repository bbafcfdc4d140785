"""Decoding, unescaping and field reading shared by the callback forms."""

from __future__ import annotations

import pytest

from iotwx_watch.extract.fields import (
    context_suite_id,
    decode,
    find_field,
    find_fields,
    signature_params,
    unescape,
)


def test_decode_falls_back_from_utf8_to_gbk_to_lossy() -> None:
    """UTF-8 first, then GBK (GB18030), then UTF-8 with replacement characters."""
    assert "收到的id" == decode("收到的id".encode())
    assert "收到的id" == decode("收到的id".encode("gbk"))
    assert "a\ufffdb" == decode(b"a\xffb")


def test_unescape_json_escapes_up_to_three_levels() -> None:
    """<\\/x>, \\n, \\uXXXX and a doubly escaped string all come back as plain text."""
    assert "</SuiteId>\n<" == unescape("<\\/SuiteId>\\n\\u003c")
    assert '<xml>"a"</xml>' == unescape('\\\\u003cxml\\\\u003e\\\\\\"a\\\\\\"\\\\u003c/xml>')
    assert "扫码" == unescape("\\u626b\\u7801")


@pytest.mark.parametrize(
    "text",
    [
        "<SuiteTicket><![CDATA[abc-123]]></SuiteTicket>",
        "<SuiteTicket> <![CDATA[ abc-123 ]]> </SuiteTicket>",
        "<SuiteTicket>\n  abc-123\n</SuiteTicket>",
        "    [SuiteTicket] => abc-123\n",
        "  'SuiteTicket' => 'abc-123',",
        '{"SuiteTicket": "abc-123"}',
    ],
)
def test_field_in_every_form(text: str) -> None:
    """XML (CDATA or not, padded), print_r, var_export and JSON give the same value."""
    assert "abc-123" == find_field(text, "suite_ticket")


def test_numeric_forms_and_missing_fields() -> None:
    """Unquoted numbers are read; absent fields are simply not there."""
    assert {"timestamp": "1795856400", "info_type": "suite_ticket"} == find_fields(
        "'TimeStamp' => 1795856400, \"InfoType\": \"suite_ticket\"",
        ["timestamp", "info_type", "auth_code"],
    )


def test_context_id_and_signature_params() -> None:
    """The last 收到的id wins; query-string and JSON forms of the signature params are read."""
    assert "dk2" == context_suite_id("收到的id: dk1\n收到的id：dk2\n")
    sig = "a" * 40
    assert {"msg_signature": sig, "timestamp": "1409659813", "nonce": "1372623149"} == (
        signature_params(f"/cb?msg_signature={sig}&timestamp=1409659813&nonce=1372623149")
    )
    assert {"msg_signature": sig, "timestamp": "17", "nonce": "n1"} == signature_params(
        f'{{"time":"2026-11-28T17:00","msg_signature":"{sig}","timestamp":"17","nonce":"n1"}}'
    )
