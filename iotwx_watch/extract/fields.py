"""Turning a candidate record's bytes into text and named fields, whatever the log format.

One callback can be logged as XML (CDATA or not, whitespace inside as in WeCom's own
sample), as XML JSON-encoded inside a line (``<\\/SuiteId>``, ``\\n``, ``\\u003c``,
even escaped twice), as a PHP ``print_r`` / ``var_export`` dump of the parsed array,
or as a JSON object. Each field regex below accepts all of those forms, so the
extractor never depends on one line layout.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# The callback fields we read, by their WeCom XML name.
CALLBACK_FIELDS: dict[str, str] = {
    "suite_id": "SuiteId",
    "info_type": "InfoType",
    "timestamp": "TimeStamp",
    "suite_ticket": "SuiteTicket",
    "auth_code": "AuthCode",
    "corpid": "AuthCorpId",
    "state": "State",
    "to_user": "ToUserName",
    "encrypt": "Encrypt",
}

_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|([\"\\/bfnrt']))")
_SIMPLE_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_MAX_UNESCAPE_ROUNDS = 3


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


def _field_regex(tag: str) -> re.Pattern[str]:
    """One regex for ``tag`` in every supported form; exactly one group matches the value."""
    t = re.escape(tag)
    forms = [
        # XML, with or without CDATA, whitespace allowed around the value.
        rf"<{t}>\s*(?:<!\[CDATA\[(?P<cdata>.*?)\]\]>|(?P<xml>[^<]*?))\s*</{t}>",
        # PHP print_r: [Tag] => value
        rf"\[{t}\]\s*=>\s*(?P<printr>[^\s\[\]()]*)",
        # PHP var_export: 'Tag' => 'value' or 'Tag' => 123
        rf"'{t}'\s*=>\s*(?:'(?P<varexp>[^']*)'|(?P<varnum>\d+))",
        # JSON object: "Tag": "value" or "Tag": 123
        rf"\"{t}\"\s*:\s*(?:\"(?P<json>[^\"]*)\"|(?P<jsonnum>\d+))",
    ]
    return re.compile("|".join(forms), re.DOTALL)


_FIELD_RES: dict[str, re.Pattern[str]] = {}


def find_field(text: str, name: str) -> str | None:
    """The first value of field ``name`` (a key of CALLBACK_FIELDS) in ``text``, stripped."""
    regex = _FIELD_RES.get(name)
    if regex is None:  # compiled on first use: most runs of `parse` never need them
        regex = _FIELD_RES[name] = _field_regex(CALLBACK_FIELDS[name])
    match = regex.search(text)
    if match is None:
        return None
    for value in match.groupdict().values():
        if value is not None:
            return value.strip()
    return ""


def find_fields(text: str, names: Iterable[str] = CALLBACK_FIELDS) -> dict[str, str]:
    """Every field of ``names`` present in ``text``."""
    found: dict[str, str] = {}
    for name in names:
        value = find_field(text, name)
        if value is not None:
            found[name] = value
    return found


_CONTEXT_ID = re.compile(r"收到的\s*id\s*[:：]?\s*([A-Za-z0-9_\-]+)", re.IGNORECASE)
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
