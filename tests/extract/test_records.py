"""Line arithmetic and the lines a record still to come may need."""

from __future__ import annotations

import pytest

from iotwx_watch.extract.records import (
    head_line,
    line_at_or_after,
    lines_back,
    marker_line,
)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"noise\nnoise (pid 1)\n", -1),
        (b"noise\n<xml>\n", 6),
        (b'noise\n{"b":"\\u003cxml\\u003e"}\n', 6),
        (b"noise\nArray\n", 6),
        (b"noise\nSimpleXMLElement Object\n(\n", 6),
        (b"noise\narray(5) {\r\n", 6),
        (b"noise\n[2026] INFO {  \n", 6),
        (b"noise\n{'AuthCode': 'x',\n", 6),
        (b"noise\n[2026] INFO cb: {'AuthCode': 'x',\n", 6),
        (b"noise\n[2026] INFO cb: {'AuthCode': 'x'}\n", -1),
        (b'noise\n[pool www] child 1 said into stderr: "{"\n', 6),  # php-fpm's quotes
        (b'noise\n"GET / HTTP/1.1" 200 "{"\n', -1),
        (b"noise xml\n", -1),
    ],
)
def test_lines_that_may_open_a_dump(data: bytes, expected: int) -> None:
    """XML (also escaped), print_r's head, a line ending in a bracket, pprint's first line."""
    assert expected == head_line(data, 0, len(data))


def test_context_lines_are_markers_too() -> None:
    """The 收到的id line (UTF-8 or GBK) and a callback URL are kept for the record after."""
    for line in ["收到的id: dk1\n".encode(), "收到的id: dk1\n".encode("gbk"),
                 b"POST /cb?msg_signature=abc\n"]:
        assert 6 == marker_line(b"noise\n" + line, 0, 6 + len(line))
    assert -1 == marker_line(b"noise\nmore noise\n", 0, 17)


def test_line_steps() -> None:
    """Lines back stop at the floor; a position is moved to the next line start."""
    data = b"a\nbb\nccc\n"
    assert (2, 0, 5) == (lines_back(data, 5, 1, 0), lines_back(data, 5, 9, 0),
                         line_at_or_after(data, 3, 0))
