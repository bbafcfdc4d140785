"""Which fields belong to one record: the containers that printed them.

Every dump of a callback wraps its fields in a container: an ``<xml>`` document, a
PHP ``Array (…)`` / ``SimpleXMLElement Object (…)`` / ``array(5) {…}`` / ``a:5:{…}``,
a JSON, Python, Node or Go ``{…}``, a Java ``Name(…)``. So the fields of one record
are the pairs whose innermost container is the same; pairs outside any container
(``key=value`` lines) group by line. Nested containers are separate records (the
empty ``[State] => SimpleXMLElement Object ( )`` holds no pair; WxJava's
``allFieldsMap={…}`` inside ``WxCpTpXmlMessage(…)`` repeats the record, and the two
give the same event). A repeated name in one container starts the next record.

A *strong* opener is one that starts a multi-line dump: an ``<xml>`` tag, a PHP head
(``Array (``, ``array(5) {``, ``object(…)#1 (5) {``, ``a:5:{``) or a bracket that ends
its line. Only strong openers keep a record open across lines; an unclosed ``(`` in
a noise line closes nothing and opens nothing.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from iotwx_watch.extract.fields import Pair
from iotwx_watch.extract.validate import MASK_WORDS

# A CDATA section is one (ignored) token: its brackets are the value's, not structure;
# so is a masked value in brackets ("SuiteTicket=(hidden)", "[REDACTED]"), which a
# logger's mask puts where the value was.
_TOKEN = re.compile(
    r"<!\[CDATA\[[^<\n]{0,600}?\]\]>|<xml(?:\s[^<>\n]{0,200})?>|</xml\s*>"
    rf"|[(\[](?i:{MASK_WORDS})[)\]]|[(){{}}\[\]]"
)
_TOKEN_CHARS = "<(){}[]"
_CLOSES = {")": "(", "}": "{", "]": "["}
# print_r, var_export (of an object: \SimpleXMLElement::__set_state(array(…))), pprint
_HEAD_WORDS = ("Array", "Object", "array", "OrderedDict", "__set_state")
# var_dump's "array(5) {" / "object(SimpleXMLElement)#1 (5) {", serialize's "a:5:{".
_PAREN_HEAD = re.compile(r"array\(\d{1,6}\)|object\([^()\n]{1,100}\)#\d{1,9} \(\d{1,6}\)")
_SERIAL_HEAD = re.compile(r"a:\d{1,6}:")
_HEAD_REACH = 140  # the longest head: object(<class name>)#N (M)
_ENDS_LINE = re.compile(r"[ \t\r]{0,16}(?:\n|\Z)")
_STARTS_LINE = re.compile(r"(?:\A|\n)[ \t]{0,15}\Z")
# pprint's first line behind a logger prefix ("… INFO cb: {'AuthCode': '…',"): the
# bracket's first item, then the comma that continues the dump on the next line.
_PPRINT_FIRST = re.compile(r"'[^\n]{0,1000}?,[ \t\r]{0,16}(?:\n|\Z)")
MAX_DEPTH = 64  # containers kept open; a record nests a few levels, noise may not close
MAX_LINE_TOKENS = 1024  # more on one line is a flood of brackets, not a dump
_HEAD_LAST = frozenset("yte):( \t\r\n")  # what precedes a bracket that has a head
# Names a record has once: seeing one again means the next record began.
DISTINCT = frozenset({"suite_id", "info_type", "suite_ticket", "auth_code", "corpid", "encrypt",
                      "to_user"})


@dataclass(slots=True)
class Container:
    """An opened container: its kind (``x`` for ``<xml>``, else the bracket), where its
    head starts in the text, and whether it may span lines."""

    kind: str
    start: int
    strong: bool
    serial: int = -1  # set when pushed: tells containers apart for grouping


def tokens(text: str, lo: int = 0, hi: int | None = None) -> list[re.Match[str]]:
    """The container tokens (``<xml>``, ``</xml>``, brackets) in ``text[lo:hi]``.

    A line with more than MAX_LINE_TOKENS of them is no dump (a flood of brackets):
    its tokens are all left out, and the search skips to the next line.
    """
    hi = len(text) if hi is None else hi
    part = text[lo:hi]
    if not any(char in part for char in _TOKEN_CHARS):
        return []
    found: list[re.Match[str]] = []
    pos, line_end, count = lo, -1, 0
    while (match := _TOKEN.search(text, pos, hi)) is not None:
        at = match.start()
        if at > line_end:  # a new line
            newline = text.find("\n", at, hi)
            line_end, count = (hi if newline < 0 else newline), 0
        count += 1
        if count > MAX_LINE_TOKENS:
            del found[-MAX_LINE_TOKENS:]
            pos = line_end + 1
            continue
        found.append(match)
        pos = match.end()
    return found


def opener(text: str, match: re.Match[str], shift: int = 0) -> Container | None:
    """The container a token opens (its start moved by ``shift``), or None for a closer."""
    token = match.group()
    at = match.start()
    if token.startswith("<x"):
        return Container("x", shift + at, strong=True)
    if len(token) > 1 or token not in "({[":
        return None
    head = _head_start(text, at) if text[at - 1 : at] in _HEAD_LAST else None
    if head is not None:
        return Container(token, shift + head, strong=True)
    after = match.end()
    if _ENDS_LINE.match(text, after):
        return Container(token, shift + at, strong=True)  # a bracket that ends its line
    pprint = text.startswith("'", after) and (
        _STARTS_LINE.search(text, max(0, at - 16), at) or _PPRINT_FIRST.match(text, after)
    )
    return Container(token, shift + at, strong=bool(pprint))


def _head_start(text: str, at: int) -> int | None:
    """Where the PHP/pprint head of the bracket at ``at`` starts, if it has one.

    Looks back at most _HEAD_REACH characters with ``rfind`` and ``endswith``, so a
    line of a million brackets costs a bounded amount per bracket.
    """
    end = at
    while end > 0 and at - end < 8 and text[end - 1] in " \t\r\n":
        end -= 1
    lo = max(0, end - _HEAD_REACH)
    for word in _HEAD_WORDS:
        start = end - len(word)
        if text.endswith(word, lo, end) and not text[start - 1 : start].isalnum():
            return start
    if text.endswith(")", lo, end):
        for word in ("array(", "object("):
            start = text.rfind(word, lo, end)
            if start >= 0 and _PAREN_HEAD.fullmatch(text, start, end):
                return start
    if text.endswith(":", lo, end):
        start = text.rfind("a:", lo, end)
        if start >= 0 and _SERIAL_HEAD.fullmatch(text, start, end):
            return start
    return None


@dataclass
class Stack:
    """The containers open at a point of a text, innermost last."""

    open: list[Container] = field(default_factory=list)
    pushed: int = 0

    def apply(self, text: str, match: re.Match[str], shift: int = 0) -> None:
        """Account for one token (positions in ``text`` are ``shift`` into the whole)."""
        token = match.group()
        container = opener(text, match, shift)
        if container is not None:
            if container.kind == "x":  # XML documents do not nest: a new one ends the last
                self._pop_to("x")
            container.serial = self.pushed
            self.pushed += 1
            if len(self.open) >= MAX_DEPTH:  # forget the outermost weak one (or the outermost)
                del self.open[next((i for i, c in enumerate(self.open) if not c.strong), 0)]
            self.open.append(container)
        elif token.startswith("</"):
            self._pop_to("x")
        elif token in _CLOSES:
            self._pop_to(_CLOSES[token])

    def _pop_to(self, kind: str) -> None:
        for index in range(len(self.open) - 1, -1, -1):
            if self.open[index].kind == kind:
                del self.open[index:]
                return

    def strong(self) -> list[Container]:
        """The open containers that may span lines, outermost first."""
        return [container for container in self.open if container.strong]

    def new_line(self) -> None:
        """A line ended: a weak container still open there was no container at all."""
        if any(not container.strong for container in self.open):
            self.open = self.strong()


@dataclass
class Record:
    """The fields of one record (first value of each name) and its text span."""

    fields: dict[str, str | None]
    start: int
    end: int
    pairs: list[Pair] = field(default_factory=list)


def group(text: str, pairs: Sequence[Pair], line_of: Callable[[int], int]) -> list[Record]:
    """The records of ``text``: its pairs grouped by innermost container (see module doc).

    ``line_of`` maps a text position to its line number, for pairs in no container.
    Tokens inside a pair (``[K]``, ``string(18)``, a value's own brackets) are skipped.
    """
    grouper = _Grouper(line_of)
    line = 0
    index = 0
    for match in tokens(text):
        while index < len(pairs) and pairs[index].start <= match.start():
            line = grouper.new_line(pairs[index].start, line)
            grouper.add(pairs[index])
            index += 1
        if index > 0 and match.start() < pairs[index - 1].end:
            continue
        line = grouper.new_line(match.start(), line)
        grouper.stack.apply(text, match)
    for pair in pairs[index:]:
        line = grouper.new_line(pair.start, line)
        grouper.add(pair)
    return grouper.records()


class _Grouper:
    def __init__(self, line_of: Callable[[int], int]) -> None:
        self.stack = Stack()
        self._line_of = line_of
        self._open: dict[object, Record] = {}
        self._done: list[Record] = []

    def new_line(self, pos: int, line: int) -> int:
        """Close the weak containers of earlier lines once ``pos`` is on a later one."""
        now = self._line_of(pos)
        if now != line:
            self.stack.new_line()
        return now

    def add(self, pair: Pair) -> None:
        top = self.stack.open[-1] if self.stack.open else None
        key: object = top.serial if top is not None else ("line", self._line_of(pair.start))
        record = self._open.get(key)
        if record is not None and pair.name in DISTINCT and pair.name in record.fields:
            self._done.append(record)  # the same name again: the next record began
            record = None
        if record is None:  # a container's first record starts at its head
            first = top is not None and key not in self._open
            start = top.start if top is not None and first else pair.start
            record = self._open[key] = Record({}, start, pair.end)
        record.pairs.append(pair)
        record.end = max(record.end, pair.end)
        old = record.fields.get(pair.name)
        if old is None or (pair.name == "timestamp" and not old.isdigit()
                           and pair.value is not None and pair.value.isdigit()):
            record.fields[pair.name] = pair.value

    def records(self) -> list[Record]:
        records = self._done + list(self._open.values())
        records.sort(key=lambda record: record.start)
        return records


class Sweep:
    """Lines read one at a time, with the containers open after each.

    Each line's tokens are read with the line before it in view, so a PHP head on its
    own line (``Array`` then ``(``) is still seen as the head of the ``(``.
    """

    def __init__(self) -> None:
        self.stack = Stack()
        self.lines: list[tuple[int, str]] = []  # (file offset, text)
        self.text_starts: list[int] = []
        self.size = 0

    def add(self, offset: int, text: str) -> None:
        """Append the raw line at file ``offset`` whose text is ``text``."""
        previous = self.lines[-1][1] if self.lines else ""
        window = previous + text
        self.stack.new_line()
        for match in tokens(window, len(previous)):
            self.stack.apply(window, match, self.size - len(previous))
        self.lines.append((offset, text))
        self.text_starts.append(self.size)
        self.size += len(text)

    def line_at(self, pos: int) -> int:
        """Index of the line holding text position ``pos``."""
        return max(0, bisect.bisect_right(self.text_starts, pos) - 1)
