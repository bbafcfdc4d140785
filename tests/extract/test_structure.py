"""Grouping pairs into records by the container that printed them."""

from __future__ import annotations

import pytest

from iotwx_watch.extract.fields import find_pairs
from iotwx_watch.extract.structure import MAX_LINE_TOKENS, Stack, Sweep, group, tokens


def records(text: str) -> list[dict[str, str | None]]:
    def line_of(pos: int) -> int:
        return text.count("\n", 0, pos)

    return [record.fields for record in group(text, find_pairs(text), line_of)]


def test_print_r_of_a_simplexmlelement_with_an_empty_element() -> None:
    """The nested empty object is not a record, and does not end the outer one."""
    text = (
        "SimpleXMLElement Object\n(\n    [SuiteId] => dk1\n"
        "    [State] => SimpleXMLElement Object\n        (\n        )\n\n"
        "    [InfoType] => create_auth\n)\n"
    )
    assert [{"suite_id": "dk1", "state": None, "info_type": "create_auth"}] == records(text)


def test_records_on_consecutive_lines_stay_apart() -> None:
    """A field one record lacks is not taken from the next line's record."""
    text = (
        '{"InfoType":"suite_ticket","SuiteTicket":"t1"}\n'
        '{"SuiteId":"dk2","InfoType":"create_auth"}\n'
        "info_type=suite_ticket suite_ticket=t3\nsuite_id=dk4\n"
    )
    assert [
        {"info_type": "suite_ticket", "suite_ticket": "t1"},
        {"suite_id": "dk2", "info_type": "create_auth"},
        {"info_type": "suite_ticket", "suite_ticket": "t3"},
        {"suite_id": "dk4"},
    ] == records(text)


def test_a_repeated_name_starts_the_next_record() -> None:
    """Two records in one container (a flat dump of two callbacks) are told apart."""
    text = "{SuiteId:dk1 InfoType:a SuiteId:dk2 InfoType:b}"
    assert [{"suite_id": "dk1", "info_type": "a"}, {"suite_id": "dk2", "info_type": "b"}] == (
        records(text)
    )


def test_nested_and_repeated_containers() -> None:
    """xmltodict's nesting gives one record; WxJava's allFieldsMap gives the same twice."""
    assert [{"suite_id": "dk1", "info_type": "x"}] == records(
        "{'xml': {'SuiteId': 'dk1', 'InfoType': 'x'}}"
    )
    lombok = "Msg(allFieldsMap={SuiteId=dk1, InfoType=x}, suiteId=dk1, infoType=x)"
    assert [{"suite_id": "dk1", "info_type": "x"}] * 2 == records(lombok)


def test_a_record_starts_at_its_head() -> None:
    """print_r's record starts at "Array", var_dump's at "array(2) {", XML's at <xml>."""
    for text, head in [
        ("x\nArray\n(\n  [SuiteId] => dk1\n)\n", "Array"),
        ('x\narray(1) {\n  ["SuiteId"]=>\n  string(3) "dk1"\n}\n', "array(1)"),
        ("x <xml><SuiteId>dk1</SuiteId></xml>", "<xml>"),
    ]:
        record = group(text, find_pairs(text), lambda pos: 0)[0]
        assert text.index(head) == record.start


@pytest.mark.parametrize(
    ("line", "strong"),
    [
        ("Array\n(", [True]),
        ("object(SimpleXMLElement)#1 (5) {", [True]),
        ("a:2:{", [True]),
        ("\\SimpleXMLElement::__set_state(array(", [True, True]),
        ("callback {", [True]),
        ("<xml>", [True]),
        ("{'AuthCode': 'x',", [True]),
        ("2026-11-28 17:10:00,120 INFO cb: {'AuthCode': 'x',", [True]),
        ("INFO cb: {'xml': {'AuthCode': 'x',", [True, True]),
        ("INFO cb: {'AuthCode': 'x'}", []),
        ("started (pid 1234", [False]),
        ('{"time": 1,', [False]),
    ],
)
def test_which_openers_may_span_lines(line: str, strong: list[bool]) -> None:
    """Dump heads and brackets ending their line are strong; a bracket in prose is not."""
    stack = Stack()
    for match in tokens(line):
        stack.apply(line, match)
    assert strong == [container.strong for container in stack.open]


def test_sweep_tracks_a_dump_across_lines() -> None:
    """The sweep knows a dump is open until its closing line."""
    sweep = Sweep()
    seen = []
    for offset, line in enumerate(["Array\n", "(\n", "  [SuiteId] => dk1\n", ")\n"]):
        sweep.add(offset, line)
        seen.append(bool(sweep.stack.strong()))
    assert [False, True, True, False] == seen


def test_a_flood_of_brackets_is_no_structure() -> None:
    """A line with more tokens than a dump ever has is skipped whole, in bounded work."""
    flood = "[" * (MAX_LINE_TOKENS + 1) + "\n(x)"
    assert ["(", ")"] == [match.group() for match in tokens(flood)]
