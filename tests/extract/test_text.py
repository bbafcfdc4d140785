"""Log bytes as text: encodings, escapes, entities, and the way back to file offsets."""

from __future__ import annotations

from iotwx_watch.extract.text import LineText, decode, decode_lines, line_text, unescape


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


def test_html_entities_but_never_declared_ones() -> None:
    """&lt; &gt; &amp; and numeric references are undone; an entity the line declares for
    itself is left as it is (nothing is expanded or fetched)."""
    assert "<SuiteId>dk1</SuiteId> &" == line_text(b"&lt;SuiteId&gt;dk1&lt;/SuiteId&gt; &amp;")
    declared = b'<!DOCTYPE x [<!ENTITY t SYSTEM "file:///etc/passwd">]><xml>&t;</xml>'
    assert declared.decode() == line_text(declared)


def test_php_fpm_quotes_around_a_worker_line_are_removed() -> None:
    """php-fpm quotes each line a worker wrote; the quotes go, a line it cut stays as is."""
    prefix = "[28-Nov-2026 17:04:00] WARNING: [pool www] child 12 said into stderr: "
    assert prefix + "Array\n" == line_text(f'{prefix}"Array"\n'.encode())
    assert prefix + ' string(3) "dk1"\r\n' == line_text(f'{prefix}" string(3) "dk1""\r\n'.encode())
    assert prefix + ")" == line_text(f'{prefix}")", pipe is closed'.encode())
    assert prefix + '"cut at log_limit' == line_text(f'{prefix}"cut at log_limit'.encode())


def test_each_line_decoded_on_its_own() -> None:
    """A GBK line next to a UTF-8 one: each is read in its own encoding."""
    data = "收到的id: dk1\n".encode("gbk") + "返回: 成功\n".encode()
    region = LineText.read(data, 0, len(data), 1000)
    assert "收到的id: dk1\n返回: 成功\n" == region.text


def test_positions_map_back_to_raw_lines() -> None:
    """A text position maps to its raw line's offset, even after unescaping changed sizes."""
    data = b'{"a":"x\\u003cy"}\nsecond line\n'
    region = LineText.read(data, 0, len(data), 500)
    second = region.text.index("second")
    assert (500, 500 + 17, 500 + 17, 500 + len(data)) == (
        region.raw_line(0),
        region.raw_line_end(3),
        region.raw_line(second),
        region.raw_line_end(second),
    )
    assert "second line\n" == region.lines_text(second, second + 1)
    assert "nd " == region.lines_text(second + 5, second + 6, reach=1)


def test_lines_decoded_one_by_one() -> None:
    """A GBK line after a line of broken bytes still decodes as GBK."""
    data = b"junk \xfe\xff\x80\n" + "收到的id: dk1\n".encode("gbk")
    assert "收到的id: dk1\n" == decode_lines(data).splitlines(keepends=True)[1]
