"""receive.log extractor: record boundaries across reads, context lines, envelopes, limits."""

from __future__ import annotations

import random
import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st

from iotwx_watch.config import DEFAULT_MAX_LINE_BYTES, Config, parse_config
from iotwx_watch.events import (
    AuthChange,
    AuthCode,
    Event,
    SourcePosition,
    SuiteTicket,
    UnrecognizedRecord,
)
from iotwx_watch.extract import Extractor, make_extractor
from iotwx_watch.extract.crypto import CallbackCrypto

SUITE = "dk7f3a9c2b41e05d68"
WW = "ww4asffe99e54c0fxxxx"
TOKEN = "QDG6eK"
KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"


def ticket_xml(ticket: str, ts: int, suite: str = SUITE, sep: str = "\n") -> str:
    return sep.join(
        [
            "<xml>",
            f"<SuiteId><![CDATA[{suite}]]></SuiteId>",
            "<InfoType><![CDATA[suite_ticket]]></InfoType>",
            f"<TimeStamp>{ts}</TimeStamp>",
            f"<SuiteTicket><![CDATA[{ticket}]]></SuiteTicket>",
            "</xml>",
        ]
    ) + "\n"


def feed_all(extractor: Extractor, data: bytes, chunk: int) -> list[Event]:
    events: list[Event] = []
    for start in range(0, len(data), chunk):
        events += extractor.feed(data[start : start + chunk], start)
    return events + extractor.finish()


def extract(
    data: bytes,
    chunk: int | None = None,
    *,
    config: Config | None = None,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> tuple[list[Event], Extractor]:
    extractor = make_extractor(
        "callback", path="r.log", config=config, max_line_bytes=max_line_bytes
    )
    return feed_all(extractor, data, chunk or max(1, len(data))), extractor


def missed(events: list[Event]) -> list[tuple[str, int]]:
    """(reason, offset) of each record reported unrecognized."""
    return [
        (e.reason, e.source.offset if e.source else -1)
        for e in events
        if isinstance(e, UnrecognizedRecord)
    ]


def read(events: list[Event]) -> list[Event]:
    """The events proper, without the unrecognized records."""
    return [e for e in events if not isinstance(e, UnrecognizedRecord)]


def noisy_log(records: int, seed: int = 7) -> tuple[bytes, list[int]]:
    """~200 KiB of noise between records; returns the log and each record's offset."""
    rng = random.Random(seed)
    parts: list[bytes] = []
    offsets: list[int] = []
    size = 0
    for n in range(records):
        noise = b"".join(
            b"10.0.%d.%d - - GET /x?id=%x 200\n" % (rng.randint(0, 255), n, rng.getrandbits(48))
            for _ in range(rng.randint(4000, 9000))
        )
        context = f"[2026-11-28 17:00:00] 收到的id: {SUITE}\n".encode()
        parts += [noise, context]
        size += len(noise) + len(context)
        offsets.append(size)
        record = ticket_xml(f"ticket-{n:04d}", 1795856400 + n).encode()
        parts.append(record)
        size += len(record)
    return b"".join(parts), offsets


def test_records_between_large_noise_in_any_chunking() -> None:
    """Records are found at the right offsets whatever the read size, split lines included."""
    data, offsets = noisy_log(12)
    expected = [
        SuiteTicket(SUITE, f"ticket-{n:04d}", 1795856400 + n, SourcePosition("r.log", off))
        for n, off in enumerate(offsets)
    ]
    for chunk in (65_537, 100_003, 262_144, 1 << 20, len(data)):
        assert expected == extract(data, chunk)[0], f"chunk {chunk}"


def test_restart_from_resume_offset_at_random_cuts() -> None:
    """A fresh extractor started at resume_offset neither loses nor repeats a record."""
    data, _ = noisy_log(6, seed=3)
    whole, _ = extract(data)
    rng = random.Random(11)
    line_ends = [i + 1 for i in range(len(data)) if data[i] == 0x0A]
    cuts = rng.sample(line_ends, 40) + [data.index(b"<TimeStamp>") + 1]
    for cut in cuts:
        cut = data.rfind(b"\n", 0, cut) + 1
        first = make_extractor("callback", path="r.log")
        got = feed_all_partial(first, data[:cut], 70_000)
        resume = first.resume_offset
        second = make_extractor("callback", path="r.log")
        got += second.feed(data[resume:], resume) + second.finish()
        assert whole == got, f"cut at {cut}, resume {resume}"


def feed_all_partial(extractor: Extractor, data: bytes, chunk: int) -> list[Event]:
    events: list[Event] = []
    for start in range(0, len(data), chunk):
        events += extractor.feed(data[start : start + chunk], start)
    return events


def test_unfinished_record_waits_and_resume_points_at_its_context() -> None:
    """Without its closing tag a record is held; resume_offset is its 收到的id line."""
    head = b"noise\n"
    context = f"收到的id: {SUITE}\n".encode()
    body = ticket_xml("t-123456", 1795856400).encode()
    cut = body.index(b"<TimeStamp>")
    extractor = make_extractor("callback", path="r.log")
    assert [] == extractor.feed(head + context + body[:cut], 0)
    assert len(head) == extractor.resume_offset
    rest = extractor.feed(body[cut:], len(head + context) + cut)
    offset = len(head + context)
    assert [SuiteTicket(SUITE, "t-123456", 1795856400, SourcePosition("r.log", offset))] == rest
    assert len(head + context + body) == extractor.resume_offset


def test_trailing_context_line_is_the_resume_point() -> None:
    """A 收到的id line whose payload has not arrived yet is where a restart resumes."""
    data = f"noise\n收到的id: {SUITE}\n".encode()
    extractor = make_extractor("callback", path="r.log")
    extractor.feed(data, 0)
    assert len(b"noise\n") == extractor.resume_offset


def test_noise_only_resume_is_end_of_complete_lines() -> None:
    """With nothing open, resume_offset is the end of the last complete line."""
    extractor = make_extractor("callback", path="r.log")
    extractor.feed(b"a line\nanother line\npartial", 0)
    assert len(b"a line\nanother line\n") == extractor.resume_offset


def test_finish_flushes_a_record_without_closing_tag() -> None:
    """At end of file a record missing </xml> is still read."""
    data = ticket_xml("t-flush", 1795856400).replace("</xml>\n", "").encode()
    extractor = make_extractor("callback", path="r.log")
    assert [] == extractor.feed(data, 0)
    assert [SuiteTicket(SUITE, "t-flush", 1795856400, SourcePosition("r.log", 0))] == (
        extractor.finish()
    )


def test_unterminated_last_line_is_read_at_finish() -> None:
    """A one-line record without its newline is read when the file is finished."""
    data = ticket_xml("t-last", 1795856401, sep="").rstrip("\n").encode()
    events, _ = extract(data)
    assert [SuiteTicket(SUITE, "t-last", 1795856401, SourcePosition("r.log", 0))] == events


def test_record_never_closed_is_cut_after_the_lookahead() -> None:
    """An opener that never closes does not hold the extractor forever."""
    record = ticket_xml("t-open", 1795856402).replace("</xml>\n", "").encode()
    data = record + b"noise line\n" * 100
    extractor = make_extractor("callback", path="r.log")
    events = extractor.feed(data, 0)
    assert [SuiteTicket(SUITE, "t-open", 1795856402, SourcePosition("r.log", 0))] == events
    assert len(data) == extractor.resume_offset


def test_fields_of_the_next_record_are_not_borrowed() -> None:
    """A record cut short by the next <xml> does not take that record's fields: it is
    reported, and the next record is read whole."""
    broken = b"<xml><SuiteId>" + SUITE.encode() + b"</SuiteId>\n<InfoType>suite_ticket</InfoType>\n"
    good = ticket_xml("t-good", 1795856403).encode()
    events, extractor = extract(broken + good)
    assert [SuiteTicket(SUITE, "t-good", 1795856403, SourcePosition("r.log", len(broken)))] == (
        read(events)
    )
    assert [("no_timestamp", 0)] == missed(events)
    assert 1 == extractor.stats["skipped.missing_timestamp"]


def test_each_info_type_and_reasons_are_counted() -> None:
    """Every InfoType maps to its event; others and bad values are counted, not raised."""
    def xml(body: str) -> str:
        return f"<xml><SuiteId>{SUITE}</SuiteId><TimeStamp>1795856400</TimeStamp>{body}</xml>\n"

    data = "".join(
        [
            xml("<InfoType>create_auth</InfoType><AuthCode>c-1</AuthCode><State>s1</State>"),
            xml("<InfoType>reset_permanent_code</InfoType><AuthCode>c-2</AuthCode>"),
            xml("<InfoType>change_auth</InfoType><AuthCorpId>wwcorp01</AuthCorpId>"),
            xml("<InfoType>cancel_auth</InfoType><AuthCorpId>wwcorp02</AuthCorpId>"),
            xml("<InfoType>change_contact</InfoType>"),
            xml("<InfoType>cancel_auth</InfoType><AuthCorpId>bad corp</AuthCorpId>"),
            xml("<InfoType>create_auth</InfoType>"),
        ]
    ).encode()
    events, extractor = extract(data)
    bodies = [(type(e).__name__, getattr(e, "info_type", None)) for e in events]
    assert [
        ("AuthCode", "create_auth"),
        ("AuthCode", "reset_permanent_code"),
        ("AuthChange", "change_auth"),
        ("AuthChange", "cancel_auth"),
        ("UnrecognizedRecord", "cancel_auth"),
        ("UnrecognizedRecord", "create_auth"),
    ] == bodies
    assert ["bad_corpid", "no_auth_code"] == [reason for reason, _ in missed(events)]
    assert isinstance(events[0], AuthCode) and "s1" == events[0].state
    assert isinstance(events[2], AuthChange) and "wwcorp01" == events[2].corpid
    assert 1 == extractor.stats["skipped.unknown_info_type"]
    assert 1 == extractor.stats["skipped.invalid_corpid"]
    assert 1 == extractor.stats["skipped.missing_auth_code"]
    assert 7 == extractor.stats["records"]
    assert 2 == extractor.stats["events.auth_code"]
    assert 1 == extractor.stats["unrecognized.bad_corpid"]


def test_over_long_line_is_skipped_counted_and_memory_stays_bounded() -> None:
    """A 6 MiB line (with a valid record inside) is skipped and never fully buffered."""
    limit = 1 << 20
    record = ticket_xml("t-inside", 1795856400, sep="").encode()
    after = ticket_xml("t-after", 1795856404).encode()
    extractor = make_extractor("callback", path="r.log", max_line_bytes=limit)
    chunk = b"x" * (256 * 1024)
    tracemalloc.start()
    offset = 0
    events: list[Event] = []
    for piece in [record.rstrip(b"\n"), *([chunk] * 24), b"\n", after]:
        events += extractor.feed(piece, offset)
        offset += len(piece)
    events += extractor.finish()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    after_at = SourcePosition("r.log", offset - len(after))
    assert [SuiteTicket(SUITE, "t-after", 1795856404, after_at)] == events
    assert 1 == extractor.stats["skipped.long_line"]
    assert peak < 3 * limit


def test_long_complete_line_inside_one_chunk_is_counted_once() -> None:
    """An over-long line handed whole (not split) is skipped and counted once."""
    limit = 1 << 20
    long_line = b"<xml><InfoType>suite_ticket</InfoType>" + b"y" * (limit + 10) + b"\n"
    good = ticket_xml("t-ok", 1795856405).encode()
    events, extractor = extract(long_line + good, max_line_bytes=limit)
    assert ["t-ok"] == [e.suite_ticket for e in events if isinstance(e, SuiteTicket)]
    assert 1 == extractor.stats["skipped.long_line"]


def envelope_config() -> Config:
    return parse_config(
        {"suite": [{"suite_id": WW, "token": TOKEN, "encoding_aes_key": KEY}]}
    )


def test_encrypted_envelope_is_decrypted_with_the_suite_keys() -> None:
    """An envelope with its query string is verified, decrypted and parsed."""
    crypto = CallbackCrypto(TOKEN, KEY, WW)
    plain = ticket_xml("enc-ticket-1", 1795856406, suite=WW).encode()
    encrypt, signature = crypto.encrypt(plain, timestamp="1795856406", nonce="42")
    data = (
        f"POST /cb?msg_signature={signature}&timestamp=1795856406&nonce=42\n"
        f"<xml><ToUserName><![CDATA[{WW}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]>"
        "</Encrypt></xml>\n"
    ).encode()
    events, extractor = extract(data, config=envelope_config())
    assert [("enc-ticket-1", True)] == [
        (e.suite_ticket, e.verified) for e in events if isinstance(e, SuiteTicket)
    ]
    no_keys, other = extract(data)
    assert ["no_keys"] == [reason for reason, _ in missed(no_keys)]
    assert 1 == other.stats["skipped.envelope_no_keys"]
    unsigned, third = extract(data.split(b"\n", 1)[1], config=envelope_config())
    assert ["no_signature"] == [reason for reason, _ in missed(unsigned)]
    assert 1 == third.stats["skipped.envelope_no_signature"]


def test_corrupt_envelope_is_rejected_by_reason() -> None:
    """Bad base64 in an envelope is counted under rejects.<reason>, never raised."""
    crypto = CallbackCrypto(TOKEN, KEY, WW)
    bad = "not*base64"
    signature = crypto.signature("1", "2", bad)
    data = (
        f"msg_signature={signature}&timestamp=1&nonce=2 <xml><ToUserName>{WW}</ToUserName>"
        f"<Encrypt>{bad}</Encrypt></xml>\n"
    ).encode()
    events, extractor = extract(data, config=envelope_config())
    assert [("bad_base64", 0)] == missed(events)
    assert [] == read(events)
    assert 1 == extractor.stats["rejects.bad_base64"]


@settings(max_examples=150, deadline=None)
@given(
    junk=st.binary(max_size=600),
    cuts=st.lists(st.integers(min_value=1, max_value=97), min_size=1, max_size=8),
)
def test_no_input_raises_and_chunking_never_changes_the_result(
    junk: bytes, cuts: list[int]
) -> None:
    """Arbitrary bytes around a record never raise, and any chunking gives the same events."""
    data = junk + b"\n" + ticket_xml("t-fuzz", 1795856407).encode() + junk
    whole, _ = extract(data)
    extractor = make_extractor("callback", path="r.log")
    events: list[Event] = []
    pos = 0
    index = 0
    while pos < len(data):
        size = cuts[index % len(cuts)]
        events += extractor.feed(data[pos : pos + size], pos)
        pos += size
        index += 1
    events += extractor.finish()
    assert whole == events
    assert "t-fuzz" in [e.suite_ticket for e in whole if isinstance(e, SuiteTicket)]


@settings(max_examples=150, deadline=None)
@given(junk=st.binary(max_size=2000))
def test_pure_junk_never_raises(junk: bytes) -> None:
    """Any bytes at all (NULs, broken UTF-8, trigger words) are handled without raising."""
    data = junk + b"<xml>InfoType Encrypt\x00\xff\xfe<InfoType>" + junk + b"from ip: 1.2.3.4"
    auto = make_extractor("auto", path="r.log", config=envelope_config())
    feed_all(auto, data, 13)
    assert len(data) == auto.stats["bytes"]


def test_trigger_word_in_noise_keeps_the_context_line() -> None:
    """Noise mentioning Encrypt between 收到的id and a payload does not hide the context."""
    data = (
        f"收到的id: {SUITE}\nTLS Encrypt-then-MAC on\n"
        "<xml><InfoType>suite_ticket</InfoType><TimeStamp>1795856400</TimeStamp>"
        "<SuiteTicket>t-ctx</SuiteTicket></xml>\n"
    ).encode()
    events, _ = extract(data)
    assert [(SUITE, "t-ctx")] == [
        (e.suite_id, e.suite_ticket) for e in events if isinstance(e, SuiteTicket)
    ]


def test_a_dump_still_open_waits_and_resumes_at_its_head() -> None:
    """A print_r dump whose ")" has not arrived is held; a restart resumes at its context
    line, and the closing line completes it."""
    head = f"收到的id: {SUITE}\nArray\n(\n    [InfoType] => suite_ticket\n".encode()
    tail = b"    [TimeStamp] => 1795856400\n    [SuiteTicket] => t-open\n)\n"
    extractor = make_extractor("callback", path="r.log")
    assert [] == extractor.feed(b"noise\n" + head, 0)
    assert 6 == extractor.resume_offset
    events = extractor.feed(tail, 6 + len(head))
    array_line = 6 + head.index(b"Array")
    assert [SuiteTicket(SUITE, "t-open", 1795856400, SourcePosition("r.log", array_line))] == (
        events
    )


def test_records_on_consecutive_lines_each_keep_their_offset() -> None:
    """A run of one-line records is read in one go, each at its own line."""
    lines = [
        f'{{"SuiteId":"{SUITE}","InfoType":"suite_ticket","TimeStamp":{1795856400 + n},'
        f'"SuiteTicket":"t-{n}"}}\n'
        for n in range(5)
    ]
    data = "".join(lines).encode()
    offsets = [sum(len(line) for line in lines[:n]) for n in range(5)]
    expected = [
        SuiteTicket(SUITE, f"t-{n}", 1795856400 + n, SourcePosition("r.log", offsets[n]))
        for n in range(5)
    ]
    for chunk in (1, 37, len(data)):
        assert expected == extract(data, chunk)[0]


def test_an_unknown_form_is_reported_once_per_line() -> None:
    """An InfoType we handle in a form no regex reads is reported, one line at a time,
    and not on a line where the callback was read."""
    data = (
        b"dispatch InfoType -> create_auth\n"
        b"dispatch InfoType -> suite_ticket; InfoType -> create_auth\n"
        + ticket_xml("t-ok", 1795856400, sep="").encode()
    )
    events, extractor = extract(data)
    assert [("unknown_form", 0), ("unknown_form", 33)] == missed(events)
    assert ["t-ok"] == [e.suite_ticket for e in events if isinstance(e, SuiteTicket)]
    assert 2 == extractor.stats["unrecognized.unknown_form"]
