"""The shared byte plumbing: offsets, jumps, over-long lines, `auto`, the Extractor API."""

from __future__ import annotations

from iotwx_watch.events import AuthCode, BlockedIP, Event, SuiteTicket
from iotwx_watch.extract import Extractor, make_extractor

TICKET = (
    b"<xml><SuiteId>dk7f3a9c2b41e05d68</SuiteId><InfoType>suite_ticket</InfoType>"
    b"<TimeStamp>1795856400</TimeStamp><SuiteTicket>t-1</SuiteTicket></xml>\n"
)
BLOCK = (
    b'{"errcode":60020,"errmsg":"not allow to access from your ip, hint: [1], '
    b'from ip: 1.2.3.4, more info at https://open.work.weixin.qq.com/devtool/query?e=60020"}\n'
)


def run(extractor: Extractor, data: bytes, chunk: int) -> list[Event]:
    events: list[Event] = []
    for start in range(0, len(data), chunk):
        events += extractor.feed(data[start : start + chunk], start)
    return events + extractor.finish()


def test_stats_count_bytes_records_and_events() -> None:
    """bytes, records and events.<type> follow the contract's keys."""
    extractor = make_extractor("callback", path="r")
    run(extractor, b"noise\n" + TICKET, 5)
    assert {"bytes": 6 + len(TICKET), "records": 1, "events.suite_ticket": 1} == dict(
        extractor.stats
    )


def test_feed_starting_at_a_saved_offset() -> None:
    """The first feed may start anywhere (a resumed cursor): offsets are file offsets."""
    extractor = make_extractor("callback", path="r")
    events = extractor.feed(TICKET, 1000)
    assert [1000] == [e.source.offset for e in events if e.source]
    assert 1000 + len(TICKET) == extractor.resume_offset


def test_a_jump_in_offsets_starts_over() -> None:
    """Bytes that do not continue the last feed (a new file) drop the old partial line."""
    extractor = make_extractor("callback", path="r")
    assert [] == extractor.feed(TICKET[:40], 0)
    events = extractor.feed(TICKET, 0)
    assert [0] == [e.source.offset for e in events if e.source]


def test_long_lines_are_counted_once_however_they_arrive() -> None:
    """Over-long lines, split or whole, are counted exactly once each."""
    limit = 4096
    data = b"a" * 10_000 + b"\nshort\n" + b"b" * 5000 + b"\n" + TICKET + b"c" * 9000
    for chunk in (1000, 4097, 9999, len(data)):
        extractor = make_extractor("callback", path="r", max_line_bytes=limit)
        events = run(extractor, data, chunk)
        assert 3 == extractor.stats["skipped.long_line"], f"chunk {chunk}"
        assert ["t-1"] == [e.suite_ticket for e in events if isinstance(e, SuiteTicket)]


def test_auto_settles_on_the_kind_of_the_first_events() -> None:
    """`auto` runs both kinds until events show which log it is, then only that kind."""
    noise = b"noise\n" * 20_000
    callback_first = noise + TICKET + noise + BLOCK
    extractor = make_extractor("auto", path="r")
    events = run(extractor, callback_first, 65_536)
    assert [SuiteTicket] == [type(e) for e in events]
    assert 1 == extractor.stats["guessed.callback"]
    mixed = TICKET + BLOCK + noise + BLOCK
    extractor = make_extractor("auto", path="r")
    events = run(extractor, mixed, len(mixed))
    assert [SuiteTicket, BlockedIP, BlockedIP] == [type(e) for e in events]


def test_auto_merges_in_offset_order() -> None:
    """Events of both kinds from one read come out in file order."""
    data = BLOCK + TICKET + BLOCK
    events = run(make_extractor("auto", path="r"), data, len(data))
    offsets = [e.source.offset for e in events if e.source]
    assert [0, len(BLOCK), len(BLOCK + TICKET)] == offsets


def test_an_over_long_line_ends_an_open_dump_however_it_arrives() -> None:
    """Records in a dump left open before an over-long line are read, whether that line
    comes whole or in pieces: nothing is read across it."""
    record = TICKET.replace(b"t-1", b"t-%d")
    dump = b"Array\n(\n" + b"".join(record % n for n in range(3))
    data = dump + b"x" * 5000 + b"\n" + record % 9
    tickets = {}
    for chunk in (1, 100, len(data)):
        extractor = make_extractor("callback", path="r", max_line_bytes=4096)
        found = run(extractor, data, chunk)
        tickets[chunk] = [e.suite_ticket for e in found if isinstance(e, SuiteTicket)]
    assert {chunk: ["t-0", "t-1", "t-2", "t-9"] for chunk in tickets} == tickets


def test_a_dump_head_kept_from_the_last_read_is_kept_past_long_first_lines() -> None:
    """The first lines of a read are finished together with the bytes kept from the last
    one. When those lines are long (32 KB before 36 lines), the kept dump head is still
    needed by a record further on and must be kept, not dropped with the joined lines."""
    filler = b"".join(b"    [Note%d] => " % i + b"x" * 1500 + b"\n" for i in range(25))
    record = (b"Array\n(\n" + filler + b"    [InfoType] => create_auth\n"
              b"    [SuiteId] => dk7f3a9c2b41e05d68\n    [AuthCode] => code-long-1\n"
              b"    [TimeStamp] => 1795856400\n)\n")
    noise = b"".join(b"127.0.0.1 - - GET /x%d HTTP/1.1 200\n" % i for i in range(4000))
    data = noise + record + noise
    split = len(noise) + len(b"Array\n(\n")  # the read ends right after the dump's head
    extractor = make_extractor("callback", path="r")
    events = extractor.feed(data[:split], 0) + extractor.feed(data[split:], split)
    events += extractor.finish()
    assert ["code-long-1"] == [e.auth_code for e in events if isinstance(e, AuthCode)]
    assert 0 == sum(n for key, n in extractor.stats.items() if key.startswith("unrecognized"))
