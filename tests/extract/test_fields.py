"""Field pairs in every form a stack prints them, and the callback script's context."""

from __future__ import annotations

import pytest

from iotwx_watch.extract.fields import (
    context_suite_id,
    field_name,
    find_pairs,
    own_output,
    signature_params,
)


def pairs(text: str) -> list[tuple[str, str | None]]:
    return [(pair.name, pair.value) for pair in find_pairs(text)]


@pytest.mark.parametrize(
    "text",
    [
        "<SuiteTicket><![CDATA[abc-123]]></SuiteTicket>",
        "<SuiteTicket> <![CDATA[ abc-123 ]]> </SuiteTicket>",
        "<SuiteTicket>\n  abc-123\n</SuiteTicket>",
        "    [SuiteTicket] => abc-123\n",
        '  ["SuiteTicket"]=>\n  string(7) "abc-123"\n',
        "  'SuiteTicket' =>\n  string(7) \"abc-123\"\n",
        "  public $SuiteTicket =>\n  string(7) \"abc-123\"\n",
        "  'SuiteTicket' => 'abc-123',",
        '{"SuiteTicket":"abc-123"}',
        "{'SuiteTicket': 'abc-123'}",
        "{ SuiteTicket: 'abc-123' }",
        "{ SuiteTicket: [ 'abc-123' ] }",
        "Msg(suiteTicket=abc-123, infoType=null)",
        "&{SuiteTicket:abc-123 State:}",
        "suite_ticket=abc-123 level=info",
        's:11:"SuiteTicket";s:7:"abc-123";',
        "OrderedDict([('SuiteTicket', 'abc-123')])",
    ],
)
def test_a_field_in_every_form(text: str) -> None:
    """XML, print_r, var_dump (also Xdebug's, of an array and of an object), var_export,
    JSON, Python, Node, Java, Go, key=value, serialize and OrderedDict forms all give the
    same value."""
    assert [("suite_ticket", "abc-123")] == [p for p in pairs(text) if p[0] == "suite_ticket"]


@pytest.mark.parametrize(
    "key", ["SuiteId", "suiteId", "suite_id", "SuiteID", "SUITE_ID", "suiteid"]
)
def test_every_spelling_of_a_name_is_one_field(key: str) -> None:
    """PascalCase, camelCase, snake_case and Go's initialisms name the same field."""
    assert "suite_id" == field_name(key)
    assert [("suite_id", "dk1")] == pairs(f"{key}=dk1")


def test_var_dump_value_behind_a_logger_prefix() -> None:
    """var_dump puts the value on the next line; a logger prefix there does not hide it."""
    text = (
        '[2026-12-01 10:00:00] INFO   ["AuthCode"]=>\n'
        '[2026-12-01 10:00:00] INFO   string(8) "code-123"\n'
    )
    assert [("auth_code", "code-123")] == pairs(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("authCorpId=null, state=None", [("corpid", None), ("state", None)]),
        ("{AuthCorpID: State: SuiteID:dk1}", [("suite_id", "dk1")]),
        ("[State] => SimpleXMLElement Object ( )", [("state", None)]),
        ('["State"]=> object(SimpleXMLElement)#2 (0) { }', [("state", None)]),
        ('["State"]=> array(0) { }', [("state", None)]),
        ("  'State' => \n2026-12-01 10:00:04 INFO   array (", []),  # not the next line's
        ("state= info_type=create_auth", [("info_type", "create_auth")]),  # logfmt's empty
        ("state= []", []),  # Monolog's empty context after an empty value
        ("[SuiteTicket] => [REDACTED]", [("suite_ticket", "[REDACTED]")]),  # masked: a value
        ("SuiteId = dk1", [("suite_id", "dk1")]),
        ('"State":{}', []),
        ("timeStamp=2026-11-28T17:30:05", [("timestamp", "2026-11-28T17:30:05")]),
        ("'TimeStamp' => 1795856400,", [("timestamp", "1795856400")]),
        ('["TimeStamp"]=> int(1795856400)', [("timestamp", "1795856400")]),
    ],
)
def test_empty_null_nested_and_numeric_values(
    text: str, expected: list[tuple[str, str | None]]
) -> None:
    """null/None/nil, Go's empty values and nested dumps have no value; numbers do."""
    assert expected == pairs(text)


@pytest.mark.parametrize(
    "text",
    [
        "PHP Notice:  Undefined index: AuthCode in /var/www/cb.php on line 12",
        "GET /oauth/back?auth_code=abcdefghijklmnop1234&state=x HTTP/1.1",
        "POST /cb?x=1&timestamp=1795856400",
        "AuthCodeExpired=1 pre_auth_code=abc x.state=1 $state=1",
        "InfoType handler registry reloaded",
    ],
)
def test_a_name_in_passing_is_no_field(text: str) -> None:
    """A PHP notice, a URL query parameter or a longer word holds no field."""
    assert [] == pairs(text)


def test_own_output_is_recognised() -> None:
    """A line of iotwx-watch's JSON output is known as such; a callback is not."""
    assert own_output('{"type": "auth_code", "info_type": "create_auth"}')
    assert not own_output('{"InfoType": "create_auth", "type": "x"}')


def test_context_id_and_signature_params() -> None:
    """The last 收到的id wins, a separator is required; both query forms are read."""
    assert "dk2" == context_suite_id("收到的id: dk1\n收到的id：dk2\n")
    assert context_suite_id("no 收到的id line here") is None
    sig = "a" * 40
    assert {"msg_signature": sig, "timestamp": "1409659813", "nonce": "1372623149"} == (
        signature_params(f"/cb?msg_signature={sig}&timestamp=1409659813&nonce=1372623149")
    )
    assert {"msg_signature": sig, "timestamp": "17", "nonce": "n1"} == signature_params(
        f'{{"time":"2026-11-28T17:00","msg_signature":"{sig}","timestamp":"17","nonce":"n1"}}'
    )
