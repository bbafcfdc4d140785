"""The callback's fields, read by name in whatever way a log printed them.

A WeCom callback is a handful of named fields (SuiteId, InfoType, TimeStamp,
SuiteTicket, AuthCode, AuthCorpId, State; ToUserName and Encrypt for an envelope).
Whatever wraps them, each field is printed as a *pair*: the name (``SuiteId``,
``suiteId``, ``suite_id``, ``SuiteID`` are one name) next to its value. The regexes
below cover the ways stacks print a pair:

* XML, with or without CDATA (also once JSON- or HTML-unescaped, see :mod:`.text`);
* PHP ``print_r`` ``[K] => v``, ``var_dump`` ``["K"]=> string(N) "v"`` (the value
  may sit on the next line, behind a logger prefix), ``var_export`` ``'K' => 'v'``,
  ``serialize`` ``s:N:"K";s:N:"v";``;
* quoted keys: JSON, Python and Node reprs (``"K": "v"``, ``'K': 'v'``, ``'K': ['v']``);
* bare keys: Java ``toString`` (``k=v``), Go ``%+v`` (``K:v``), ``key=value`` lines;
* Python ``OrderedDict`` items ``('K', 'v')``;
* Xdebug's ``var_dump`` of an object: ``public $K =>`` and the typed value.

Every repetition is bounded, so a line of a million trigger words costs one linear
pass per regex. A bare key right after ``?`` or ``&`` is a URL query parameter (an
access log's ``?auth_code=…``), not a field.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from iotwx_watch.extract.validate import MASK_WORDS

# The fields read, by canonical name, with the words of the name.
FIELD_WORDS: dict[str, tuple[str, ...]] = {
    "suite_id": ("suite", "id"),
    "info_type": ("info", "type"),
    "timestamp": ("time", "stamp"),
    "suite_ticket": ("suite", "ticket"),
    "auth_code": ("auth", "code"),
    "corpid": ("auth", "corp", "id"),
    "state": ("state",),
    "to_user": ("to", "user", "name"),
    "encrypt": ("encrypt",),
}
_BY_SQUEEZED = {"".join(words): name for name, words in FIELD_WORDS.items()}
MAX_VALUE = 600  # longer than any value WeCom sends (512), so a cut value is seen as bad


def _caseless(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" for c in word)


def _key_branches() -> str:
    """The names in any case, ``_`` optional between words. Every branch starts with a
    plain letter: only then does the regex engine skip non-candidate text in C."""
    branches = []
    for words in FIELD_WORDS.values():
        rest = _caseless(words[0])[4:] + "".join("_?" + _caseless(w) for w in words[1:])
        branches += [words[0][0].lower() + rest, words[0][0].upper() + rest]
    return "(?P<k>" + "|".join(branches) + ")(?![A-Za-z0-9_])"


_KEY = _key_branches()
_V = MAX_VALUE
_DQ = rf'"(?P<dq>[^"\n]{{0,{_V}}})"'
_SQ = rf"'(?P<sq>[^'\n]{{0,{_V}}})'"
_LIST = rf"\[\s{{0,4}}(?P<lq>[\"'])(?P<lv>[^\"'\n]{{0,{_V}}})(?P=lq)\s{{0,4}}\]"
_NUM = r"(?P<num>-?\d{1,19})(?![\w.])"
_EQ_BARE = rf"(?P<eq>[^\s,;)}}\]\"'<>&]{{1,{_V}}}+)"
_BARE = rf"(?P<bare>[^\s,;:)}}\]\"'<>&]{{1,{_V}}}+)(?!:)"
# var_dump's typed value, on the same line or the next one (behind any logger prefix).
_DUMP = (
    r"[ \t]{0,8}(?:\r?\n(?:[^\n]{0,160}?[ \t])?)?[ \t]{0,8}"
    rf'(?:string\(\d{{1,4}}\)\s?"(?P<ds>[^"\n]{{0,{_V}}})"|int\((?P<di>-?\d{{1,19}})\))'
)

_MASK_WORD = f"(?i:{MASK_WORDS})"
_FORM_SOURCES = [
    # XML element, CDATA or not, whitespace around the value allowed. A value never holds
    # "<" (no WeCom value does), so a failed attempt stops at the next tag.
    (
        rf"<{_KEY}(?:\s[^<>\n]{{0,200}})?>\s{{0,50}}(?:<!\[CDATA\[(?P<cd>[^<\n]{{0,{_V}}}?)\]\]>"
        rf"|(?P<xv>[^<\n]{{0,{_V}}}?))\s{{0,50}}</(?P=k)\s*>"
    ),
    # PHP print_r / var_dump (and xdebug's): [K] => v, ["K"]=> string(N) "v". A nested
    # var_dump (["K"]=> object(SimpleXMLElement)#2 (0) {}) is no print_r value; a masked
    # one ([K] => [REDACTED]) is one, so that the record is known to be masked.
    (
        rf"\[\s{{0,2}}(?P<q>[\"']?){_KEY}(?P=q)\s{{0,2}}\]\s{{0,4}}=>"
        rf"(?:{_DUMP}|[ \t]{{0,4}}(?!(?:object|array)\()"
        rf"(?P<pr>[\[(]{_MASK_WORD}[\])]|[^\s\[\]()]{{0,{_V}}}))"
    ),
    # Quoted keys: var_export, JSON, Python/Node reprs.
    (
        rf"(?P<q>[\"']){_KEY}(?P=q)\s{{0,4}}(?:=>|:|=)"
        rf"(?:{_DUMP}|[ \t]{{0,4}}b?(?:{_DQ}|{_SQ}|{_LIST}|{_NUM}))"
    ),
    # Bare keys: Java toString, Go %+v, key=value. Quoted values may follow a space, a
    # bare one at most one; after ":" a bare value has no ":" (Go prints an empty value
    # as "Key: Next:…"), after "=" it may (timeStamp=2026-11-28T17:30:05). A blank
    # after "=" only when one is before it ("key = value"): logfmt prints an empty value
    # as "state= info_type=…", Monolog's empty context follows as "state= []".
    (
        rf"{_KEY}[ \t]{{0,2}}(?:=(?:(?<=[ \t]=)[ \t])?{_EQ_BARE}"
        rf"|(?:=|:(?![:/]))[ \t]{{0,2}}(?:{_DQ}|{_SQ}|{_LIST})|:(?![:/])[ \t]?{_BARE})"
    ),
    # PHP serialize: s:7:"SuiteId";s:18:"dk…"; or i:123;
    (
        rf"s:\d{{1,3}}:\"{_KEY}\";(?:s:\d{{1,4}}:\"(?P<ss>[^\"]{{0,{_V}}})\"|i:(?P<si>-?\d{{1,19}}));"
    ),
    # Python OrderedDict items: ('K', 'v')
    (rf"\(\s{{0,2}}(?P<q>[\"']){_KEY}(?P=q),\s{{0,2}}(?:{_DQ}|{_SQ}|{_NUM})\s{{0,2}}\)"),
    # Xdebug's var_dump of an object (class SimpleXMLElement#1 (5) {…}): public $K =>
    (rf"(?:public|protected|private) \${_KEY}\s{{0,2}}=>{_DUMP}"),
]
_BARE_FORM = 3  # a bare key must not continue a word or a URL query
# Characters a form cannot match without: a form whose are all absent is not run (one
# C-speed `in` instead of a regex pass over, say, a line made of trigger words).
_NEEDS = [("<",), ("=>",), ("=", ":"), ("=", ":"), ('";s:', '";i:'), ("(",), (" $",)]
_VALUE_GROUPS = (
    "cd", "xv", "ds", "di", "pr", "dq", "sq", "lv", "num", "eq", "bare", "ss", "si"
)
# Values that say "nothing here" (null in any language, or a nested PHP dump).
_NO_VALUE = frozenset(
    {"", "null", "none", "nil", "<nil>", "undefined", "array", "simplexmlelement"}
)
_KEY_BEFORE_BAD = frozenset("?&/.-_$")


@dataclass(frozen=True)
class Pair:
    """One field found in text: its canonical name, its value (None: empty, null or
    a nested dump) and the text span of the whole pair."""

    name: str
    value: str | None
    start: int
    end: int


def field_name(key: str) -> str | None:
    """The canonical name of a printed key (``suiteId``, ``suite_id``, ``SuiteID`` …)."""
    return _BY_SQUEEZED.get(key.replace("_", "").lower())


@functools.cache
def _forms() -> list[re.Pattern[str]]:
    """The form regexes, compiled on first use: ~10 ms that a log without a single
    trigger word (and every other command) never pays."""
    return [re.compile(source) for source in _FORM_SOURCES]


def find_pairs(text: str) -> list[Pair]:
    """Every field pair in ``text``, in text order."""
    pairs: list[Pair] = []
    for index, (form, needs) in enumerate(zip(_forms(), _NEEDS, strict=True)):
        if not any(need[0] in text and need in text for need in needs):
            continue
        for match in form.finditer(text):
            start = match.start()
            if index == _BARE_FORM and start > 0:
                before = text[start - 1]
                if before.isalnum() or before in _KEY_BEFORE_BAD:
                    continue  # part of a longer word, or a URL query parameter
            name = field_name(match.group("k"))
            if name is None:  # pragma: no cover - the key regex only matches known names
                continue
            pairs.append(Pair(name, _value(match), start, match.end()))
    pairs.sort(key=lambda pair: pair.start)
    return pairs


def _value(match: re.Match[str]) -> str | None:
    groups = match.groupdict()
    for group in _VALUE_GROUPS:
        value = groups.get(group)
        if value is not None:
            value = value.strip()
            return None if value.lower() in _NO_VALUE else value
    return None


# A line iotwx-watch itself printed (`parse` output): its "type" names one of our event
# types, a field no WeCom callback has. Read again, it would repeat its event.
_OWN_OUTPUT = re.compile(
    r'"type": "(?:suite_ticket|auth_code|auth_change|blocked_ip|unrecognized)"'
)


def own_output(text: str) -> bool:
    """Whether ``text`` holds a line of iotwx-watch's own JSON output (never a record)."""
    return '"type": "' in text and _OWN_OUTPUT.search(text) is not None


# The callback script's note: "收到的id: <suite id>" (a separator, so prose is no note).
_CONTEXT_ID = re.compile(r"收到的\s*id\s*[:：=]\s*([A-Za-z0-9_\-]+)", re.IGNORECASE)
_PARAMS = {
    "msg_signature": re.compile(r"msg_signature[\"']?\s*[=:]\s*[\"']?([0-9a-fA-F]{40})\b"),
    "timestamp": re.compile(
        r"(?<![A-Za-z_])timestamp[\"']?\s*[=:]\s*[\"']?([0-9]{1,12})(?![0-9\-:])"
    ),
    "nonce": re.compile(r"(?<![A-Za-z_])nonce[\"']?\s*[=:]\s*[\"']?([A-Za-z0-9]{1,64})\b"),
}


def context_suite_id(text: str) -> str | None:
    """The id of the last ``收到的id: …`` line in ``text`` (the callback script's own note)."""
    found = _CONTEXT_ID.findall(text)
    return found[-1] if found else None


def signature_params(text: str) -> dict[str, str]:
    """``msg_signature``, ``timestamp`` and ``nonce`` of a callback URL or log line (last wins)."""
    params: dict[str, str] = {}
    for name, regex in _PARAMS.items():
        found = regex.findall(text)
        if found:
            params[name] = found[-1]
    return params
