"""One record's fields to an event, or to the reason it gave none; envelopes verified."""

from __future__ import annotations

from collections import Counter

import pytest

from iotwx_watch.config import Config, parse_config
from iotwx_watch.events import AuthChange, AuthCode, SourcePosition, SuiteTicket
from iotwx_watch.events import UnrecognizedRecord as Unrecognized
from iotwx_watch.extract.callback_events import (
    EnvelopeOpener,
    Fields,
    Miss,
    callback_event,
    outcome_events,
    record_event,
)
from iotwx_watch.extract.crypto import CallbackCrypto

AT = SourcePosition("r.log", 7)
SUITE = "dk7f3a9c2b41e05d68"
WW = "ww4asffe99e54c0fxxxx"
TOKEN = "QDG6eK"
KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
CODE = "code-0123456789abcdef"
BASE: dict[str, str | None] = {"suite_id": SUITE, "timestamp": "1795856400"}


def fields(**values: str | None) -> Fields:
    return {**BASE, **values}


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (fields(info_type="suite_ticket", suite_ticket="t-1"),
         SuiteTicket(SUITE, "t-1", 1795856400, AT)),
        (fields(info_type="create_auth", auth_code=CODE, state="s"),
         AuthCode("create_auth", SUITE, CODE, 1795856400, "s", AT)),
        (fields(info_type="cancel_auth", corpid="wwcorp1"),
         AuthChange("cancel_auth", SUITE, "wwcorp1", 1795856400, AT)),
        (fields(info_type="create_auth"), Miss("skipped.missing_auth_code", "no_auth_code", SUITE)),
        (fields(info_type="create_auth", auth_code='a"b'),
         Miss("skipped.invalid_auth_code", "bad_auth_code", SUITE)),
        (fields(info_type="suite_ticket", suite_ticket="t", timestamp="2026-11-28"),
         Miss("skipped.invalid_timestamp", "bad_timestamp", SUITE)),
        (fields(info_type="change_auth", suite_id=None), Miss("skipped.missing_suite_id",
                                                             "no_suite_id")),
        (fields(info_type="change_auth", suite_id="dk/../x"),
         Miss("skipped.invalid_suite_id", "bad_suite_id")),
        (fields(info_type="change_contact"), Miss("skipped.unknown_info_type")),
        (fields(info_type="create_auth", auth_code="jMh6***ETJe"),
         Miss("skipped.masked_auth_code")),
        (fields(info_type=None), Miss("skipped.missing_info_type", "no_info_type", SUITE)),
        ({"info_type": None, "timestamp": "1"}, Miss("skipped.missing_info_type")),
    ],
)
def test_event_or_reason(record: Fields, expected: object) -> None:
    """Each rule gives its event or its reason; masked values and other InfoTypes are
    counted but not reported; an InfoType with no value in a callback dump is reported."""
    assert expected == callback_event(record, context_id=None, source=AT)


def test_context_id_names_the_suite() -> None:
    """Without a SuiteId in the record, the 收到的id line before it names the suite."""
    event = callback_event(
        {"info_type": "suite_ticket", "timestamp": "1", "suite_ticket": "t"},
        context_id="dk2", source=AT,
    )
    assert SuiteTicket("dk2", "t", 1, AT) == event


def test_an_auth_code_without_its_info_type_is_reported() -> None:
    """A plausible AuthCode alone is a record we missed; a short or masked one is not."""
    opener = EnvelopeOpener(None)

    def outcome(value: str) -> object:
        return record_event({"auth_code": value}, context="", text="", source=AT,
                            envelopes=opener)

    assert Miss("skipped.missing_info_type", "no_info_type") == outcome(CODE)
    assert (None, None) == (outcome("expired"), outcome("*" * 20))


def test_a_reported_miss_carries_a_masked_excerpt() -> None:
    """The UnrecognizedRecord shows the record with its secrets as ***."""
    stats: Counter[str] = Counter()
    record = fields(info_type="create_auth", auth_code=f'{CODE}"')
    text = f"<xml><SuiteId>{SUITE}</SuiteId><AuthCode>{CODE}\"</AuthCode></xml>"
    miss = callback_event(record, context_id=None, source=AT)
    assert [Unrecognized("callback", "bad_auth_code", f"<xml><SuiteId>{SUITE}</SuiteId>"
                         "<AuthCode>***</AuthCode></xml>", "create_auth", SUITE, AT)] == (
        outcome_events(miss, fields=record, text=text, source=AT, stats=stats)
    )
    assert {"records": 1, "skipped.invalid_auth_code": 1} == dict(stats)


def envelope(inner: str) -> tuple[dict[str, str | None], str]:
    """The envelope's fields, and the msg_signature of its callback URL."""
    crypto = CallbackCrypto(TOKEN, KEY, WW)
    encrypt, signature = crypto.encrypt(inner.encode(), timestamp="17", nonce="42")
    return {"to_user": WW, "encrypt": encrypt}, signature


def open_envelope(sealed: tuple[dict[str, str | None], str], config: Config | None) -> object:
    record, signature = sealed
    context = f"/cb?msg_signature={signature}&timestamp=17&nonce=42"
    return record_event(record, context=context, text="", source=AT,
                        envelopes=EnvelopeOpener(config))


def keys(*others: str) -> Config:
    suites = [{"suite_id": WW, "token": TOKEN, "encoding_aes_key": KEY}]
    return parse_config({"suite": suites + [{"suite_id": other} for other in others]})


def test_a_verified_envelope_gives_a_verified_event() -> None:
    """Signature checked and decrypted: the event says so; no SuiteId inside means the
    verified receiveid's."""
    inner = "<xml><InfoType>suite_ticket</InfoType><TimeStamp>17</TimeStamp>" \
        "<SuiteTicket>t-9</SuiteTicket></xml>"
    assert SuiteTicket(WW, "t-9", 17, AT, verified=True) == open_envelope(envelope(inner),
                                                                          keys())


def test_an_inner_suite_id_other_than_the_receiveid_is_rejected() -> None:
    """One suite's keys must not vouch for another suite's ticket or code."""
    inner = f"<xml><SuiteId>{SUITE}</SuiteId><InfoType>suite_ticket</InfoType>" \
        "<TimeStamp>17</TimeStamp><SuiteTicket>t-9</SuiteTicket></xml>"
    assert Miss("rejects.receiveid_mismatch", "receiveid_mismatch", WW) == open_envelope(
        envelope(inner), keys()
    )


def test_envelopes_without_keys() -> None:
    """A configured suite without keys is reported; another receiver (a corp's data
    callback) is not, when the config lists the suites it owns."""
    record, signature = envelope("<xml/>")
    assert Miss("skipped.envelope_no_keys", "no_keys", WW) == open_envelope(
        (record, signature), None
    )
    foreign = {**record, "to_user": "wwcorp0000000001"}
    assert Miss("skipped.envelope_foreign") == open_envelope((foreign, signature), keys(SUITE))
    assert Miss("skipped.envelope_no_keys", "no_keys", SUITE) == open_envelope(
        ({**record, "to_user": SUITE}, signature), keys(SUITE)
    )
