"""Log bytes as text a record parser can read, with a way back to file offsets.

Each line is turned into text on its own, because one log mixes encodings and
escapings line by line: UTF-8, else GB18030 (a superset of GBK), else UTF-8 with
replacement characters; then php-fpm's quotes around a worker's line undone; then
JSON/PHP string escapes undone (``<\\/SuiteId>``,
``\\u003c``, ``\\n``, up to three levels for JSON inside JSON) and HTML entities
(``&lt;SuiteId&gt;``). Only the five XML entities and numeric references are
expanded, by :func:`html.unescape`; an entity a log line declares for itself is
never expanded and nothing is ever fetched. A JSON escape never spans lines, so
doing this per line loses nothing.
"""

from __future__ import annotations

import bisect
import re

_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|([\"\\/bfnrt']))")
_SIMPLE_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_MAX_UNESCAPE_ROUNDS = 3
# php-fpm's catch_workers_output (decorate_workers_output = yes) quotes each line a
# worker wrote: `… [pool www] child 12 said into stderr: "<line>"` (", pipe is closed"
# after the last). Unquoted, a dump's lines end in their own brackets again.
_FPM_OPEN = re.compile(r' said into std(?:err|out): "')
_FPM_CLOSE = re.compile(r'"(?:, pipe is closed)?(\r?\n?)\Z')
_HTML = re.compile(r"&(?:lt|gt|amp|quot|apos|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});")


def decode(data: bytes) -> str:
    """Bytes from a log as text: UTF-8, else GB18030 (a superset of GBK), else UTF-8 lossy."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace")


def decode_lines(data: bytes) -> str:
    """Several log lines as text, each decoded on its own (a GBK line beside a broken one
    stays readable)."""
    return "".join(decode(line) for line in data.splitlines(keepends=True))


def _unescape_once(text: str) -> str:
    def repl(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return chr(int(match.group(1), 16))
        char = match.group(2)
        return _SIMPLE_ESCAPES.get(char, char)

    return _ESCAPE.sub(repl, text)


def unescape(text: str) -> str:
    """Undo JSON/PHP string escapes, up to three levels deep (escaped JSON inside JSON)."""
    for _ in range(_MAX_UNESCAPE_ROUNDS):
        if "\\" not in text:
            break
        unescaped = _unescape_once(text)
        if unescaped == text:
            break
        text = unescaped
    return text


def unquote_fpm(text: str) -> str:
    """A line php-fpm logged for a worker, without the quotes it put around it."""
    opened = _FPM_OPEN.search(text)
    if opened is None:
        return text
    closed = _FPM_CLOSE.search(text, opened.end())
    if closed is None:  # cut at php-fpm's log_limit: the line goes on elsewhere
        return text
    return text[: opened.end() - 1] + text[opened.end() : closed.start()] + closed.group(1)


def line_text(data: bytes) -> str:
    """One raw log line as readable text: decoded, php-fpm's quotes removed,
    JSON-unescaped, HTML-unescaped."""
    text = decode(data)
    if "said into std" in text:
        text = unquote_fpm(text)
    if "\\" in text:
        text = unescape(text)
    if "&" in text and _HTML.search(text):
        import html  # here: its entity table costs startup that most logs never need

        text = html.unescape(text)
    return text


class LineText:
    """The text of consecutive raw lines, and where each came from.

    ``lines`` are (file offset of the raw line, its text) in order; ``end_offset`` is
    the offset just past the last one. :meth:`raw_line` maps a position in ``text``
    back to the file offset of the raw line it came from.
    """

    def __init__(self, lines: list[tuple[int, str]], end_offset: int) -> None:
        self.raw_starts = [offset for offset, _ in lines]
        self.text_starts: list[int] = []
        size = 0
        for _, part in lines:
            self.text_starts.append(size)
            size += len(part)
        self.text = "".join(part for _, part in lines)
        self.end_offset = end_offset

    @classmethod
    def read(cls, buf: bytes, start: int, stop: int, base: int) -> LineText:
        """The text of the complete lines ``buf[start:stop]`` (``buf[0]`` is at ``base``)."""
        lines: list[tuple[int, str]] = []
        pos = start
        while pos < stop:
            newline = buf.find(b"\n", pos, stop)
            end = stop if newline < 0 else newline + 1
            lines.append((base + pos, line_text(buf[pos:end])))
            pos = end
        return cls(lines, base + stop)

    def line_index(self, pos: int) -> int:
        """Index of the raw line holding text position ``pos``."""
        return max(0, bisect.bisect_right(self.text_starts, pos) - 1)

    def raw_line(self, pos: int) -> int:
        """File offset of the start of the raw line holding text position ``pos``."""
        if not self.raw_starts:
            return self.end_offset
        return self.raw_starts[self.line_index(pos)]

    def raw_line_end(self, pos: int) -> int:
        """File offset just past the raw line holding text position ``pos``."""
        index = self.line_index(pos) + 1
        return self.raw_starts[index] if index < len(self.raw_starts) else self.end_offset

    def lines_text(self, lo: int, hi: int, reach: int | None = None) -> str:
        """The text of the whole raw lines holding text positions ``lo`` … ``hi - 1``;
        with ``reach``, no more than that many characters before ``lo`` and after ``hi``
        (one of many records on a long line must not cost the whole line)."""
        first = self.line_index(lo)
        last = self.line_index(max(lo, hi - 1)) + 1
        start = self.text_starts[first] if self.text_starts else 0
        end = self.text_starts[last] if last < len(self.text_starts) else len(self.text)
        if reach is not None:
            start, end = max(start, lo - reach), min(end, hi + reach)
        return self.text[start:end]
