"""A WeCom command callback rendered the way callback servers print it, for the form tests.

:class:`Callback` is one record (its InfoType, its fields in print order, optional ones
present or not); each renderer in :data:`FORMS` prints it as one stack does: PHP's
``print_r`` / ``var_dump`` (PHP's own and Xdebug's) / ``var_export`` / ``json_encode`` of
the array and of the ``SimpleXMLElement``, ``serialize``, a Python dict (repr, xmltodict,
pprint) or OrderedDict, a Java ``toString()`` (WxJava, Lombok, an IDE's, a Map), a Go
``%+v`` / ``%#v``, Node's ``util.inspect`` (also of xml2js), ``key=value`` pairs, and the
decrypted XML (plain, HTML-escaped, or inside a JSON log line). String lengths are in
bytes, as PHP counts them. :func:`wrap` then puts the printed
lines into a log the way a logger does: a prefix on the first or on every line, the
dump squeezed onto one line, CRLF line ends, GBK text, the script's ``收到的id:`` line.

Every style decision is a call to a :class:`Choose`, so hypothesis draws (and shrinks)
them, and a seeded :class:`random.Random` replays them.
"""

from __future__ import annotations

import html
import json
import pprint
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from iotwx_watch.events import AuthChange, AuthCode, Event, SuiteTicket

T = TypeVar("T")


class Choose(Protocol):
    """Picks one of the options (hypothesis draws it, a seeded Random replays it)."""

    def __call__(self, options: Sequence[T], /) -> T: ...


def seeded(seed: str) -> Choose:
    """A :class:`Choose` that replays the same choices for the same seed."""
    rng = random.Random(seed)

    def choose(options: Sequence[T], /) -> T:
        return options[rng.randrange(len(options))]

    return choose


INFO_TYPES = ("suite_ticket", "create_auth", "reset_permanent_code", "change_auth", "cancel_auth")
TICKET, CODE, CORP, STATE, TIME = "SuiteTicket", "AuthCode", "AuthCorpId", "State", "TimeStamp"
# Fields WeCom does not send with these InfoTypes (or an SDK adds): they must change nothing.
EXTRAS = ("ServiceCorpId", "AgentID", "ExtraInfo")
NUMERIC = (TIME, "AgentID")  # printed without quotes where a form has types

# Each name as (WeCom/PHP, Go initialisms, Java camelCase, snake_case) print it.
PASCAL, GO, CAMEL, SNAKE = range(4)
SPELLINGS: dict[str, tuple[str, str, str, str]] = {
    "SuiteId": ("SuiteId", "SuiteID", "suiteId", "suite_id"),
    "InfoType": ("InfoType", "InfoType", "infoType", "info_type"),
    TIME: (TIME, TIME, "timeStamp", "timestamp"),
    TICKET: (TICKET, TICKET, "suiteTicket", "suite_ticket"),
    CODE: (CODE, CODE, "authCode", "auth_code"),
    CORP: (CORP, "AuthCorpID", "authCorpId", "auth_corp_id"),
    STATE: (STATE, STATE, "state", "state"),
    "ServiceCorpId": ("ServiceCorpId", "ServiceCorpID", "serviceCorpId", "service_corp_id"),
    "AgentID": ("AgentID", "AgentID", "agentID", "agent_id"),
    "ExtraInfo": ("ExtraInfo", "ExtraInfo", "extraInfo", "extra_info"),
}


@dataclass(frozen=True)
class Callback:
    """One callback: its fields by WeCom name in print order (``""`` is an empty element,
    such as ``<State/>``), and whether a typed form prints the TimeStamp as a number."""

    info_type: str
    suite_id: str  # in the fields, or only on the script's "收到的id:" line
    fields: tuple[tuple[str, str], ...]
    numeric: bool = False

    def get(self, name: str) -> str | None:
        return dict(self.fields).get(name)

    def typed(self, name: str, value: str) -> bool:
        """Whether a typed form prints this value as a number."""
        return self.numeric and name in NUMERIC and value.isdigit()

    def event(self) -> Event:
        """The event the record must give (without its source)."""
        suite_id = self.suite_id
        timestamp = int(self.get(TIME) or 0)
        if self.info_type == "suite_ticket":
            return SuiteTicket(suite_id, self.get(TICKET) or "", timestamp)
        if self.info_type in ("create_auth", "reset_permanent_code"):
            return AuthCode(
                self.info_type,  # type: ignore[arg-type]  # one of the two here
                suite_id,
                self.get(CODE) or "",
                timestamp,
                state=self.get(STATE) or None,
            )
        return AuthChange(
            self.info_type,  # type: ignore[arg-type]  # change_auth or cancel_auth here
            suite_id,
            self.get(CORP) or "",
            timestamp,
        )

    def masked(self, mask: str) -> Callback:
        """The same record with its ticket or auth code replaced by ``mask``."""
        return Callback(
            self.info_type,
            self.suite_id,
            tuple((n, mask if n in (TICKET, CODE) else v) for n, v in self.fields),
            self.numeric,
        )


Render = Callable[[Callback, Choose], list[str]]


def _spelled(cb: Callback, case: int) -> list[tuple[str, str]]:
    return [(SPELLINGS[name][case], value) for name, value in cb.fields]


# --- the decrypted XML -----------------------------------------------------------------


def _xml_lines(cb: Callback, choose: Choose) -> list[str]:
    cdata = choose([True, False])
    elements = []
    for name, value in cb.fields:
        if value == "":
            element = choose([f"<{name}></{name}>", f"<{name}/>", f"<{name}><![CDATA[]]></{name}>"])
        elif cdata and name not in NUMERIC:
            space = choose(["", " "])  # WeCom's own sample has a space before one CDATA
            element = f"<{name}>{space}<![CDATA[{value}]]></{name}>"
        else:
            element = f"<{name}>{value}</{name}>"
        elements.append(element)
    header = choose(["", '<?xml version="1.0"?>'])  # SimpleXMLElement::asXML() adds one
    layout = choose(["line", "lines"])
    if layout == "line":
        return [header + "<xml>" + "".join(elements) + "</xml>"]
    indent = choose(["", "\t", "  "])
    head = [header] if header else []
    return [*head, "<xml>", *(indent + element for element in elements), "</xml>"]


def xml(cb: Callback, choose: Choose) -> list[str]:
    """The decrypted callback XML, CDATA or not, on one line or several."""
    return _xml_lines(cb, choose)


def xml_html(cb: Callback, choose: Choose) -> list[str]:
    """The XML HTML-escaped (a web log viewer's copy, htmlspecialchars)."""
    quote = choose([True, False])
    return [html.escape(line, quote=quote) for line in _xml_lines(cb, choose)]


def xml_json(cb: Callback, choose: Choose) -> list[str]:
    """The XML as a string in a JSON log line, escaped as PHP, Go or Python escape it,
    once or twice (a JSON document carried as a string in another)."""
    text = "\n".join(_xml_lines(cb, choose))
    style = choose(["php", "go", "python"])
    twice = choose([False, True])
    line = {"time": "2026-11-28T17:00:00+08:00", "level": "info", "body": text}
    if twice:
        line = {"time": line["time"], "event": json.dumps({"id": "cb", "xml": text})}
    encoded = json.dumps(line, ensure_ascii=style != "go", separators=(",", ":"))
    if style == "php":
        encoded = encoded.replace("/", "\\/")
    elif style == "go":
        encoded = encoded.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return [encoded]


# --- PHP -------------------------------------------------------------------------------


def _print_r(cb: Callback, choose: Choose, sxe: bool) -> list[str]:
    head = "SimpleXMLElement Object" if sxe else "Array"
    lines = [head, "("]
    for name, value in cb.fields:
        # An empty element is an empty object; an array made by json_decode(json_encode())
        # holds an empty array there, one built by hand an empty string.
        if value == "" and (sxe or choose([True, False])):
            lines += [f"    [{name}] => {head}", "        (", "        )", ""]
        else:
            lines.append(f"    [{name}] => {value}")
    lines.append(")")
    if choose([True, False]):  # print_r ends in "\n", error_log adds another
        lines.append("")
    return lines


def print_r_array(cb: Callback, choose: Choose) -> list[str]:
    """``print_r($array)``."""
    return _print_r(cb, choose, sxe=False)


def print_r_sxe(cb: Callback, choose: Choose) -> list[str]:
    """``print_r(simplexml_load_string($xml, 'SimpleXMLElement', LIBXML_NOCDATA))``."""
    return _print_r(cb, choose, sxe=True)


def _php_string(value: str) -> str:
    return f'string({len(value.encode("utf-8"))}) "{value}"'


def _var_dump(cb: Callback, choose: Choose, sxe: bool) -> list[str]:
    # Xdebug (3: xdebug.mode=develop) overloads var_dump: 'Key' => in an array, and
    # "class SimpleXMLElement#1 (5) {" with "public $Key =>" for an object.
    xdebug = choose([False, True])
    object_id = choose([1, 2, 3, 7])
    count = len(cb.fields)

    def head(object_id: int, count: int) -> str:
        if xdebug:
            return f"class SimpleXMLElement#{object_id} ({count}) {{"
        return f"object(SimpleXMLElement)#{object_id} ({count}) {{"

    lines = ["/var/www/wxcallback/receive.php:42:"] if xdebug else []
    lines.append(head(object_id, count) if sxe else f"array({count}) {{")
    for name, value in cb.fields:
        if xdebug:
            lines.append(f"  public ${name} =>" if sxe else f"  '{name}' =>")
        else:
            lines.append(f'  ["{name}"]=>')
        if value == "" and sxe:
            object_id += 1
            lines += ["  " + head(object_id, 0), "  }"]
        elif value == "" and choose([True, False]):
            lines += ["  array(0) {", "  }"]
        elif not sxe and cb.typed(name, value):  # an element's value is always a string
            lines.append(f"  int({value})")
        else:
            lines.append("  " + _php_string(value))
    lines.append("}")
    return lines


def var_dump_array(cb: Callback, choose: Choose) -> list[str]:
    """``var_dump($array)`` (PHP's own, or Xdebug's)."""
    return _var_dump(cb, choose, sxe=False)


def var_dump_sxe(cb: Callback, choose: Choose) -> list[str]:
    """``var_dump()`` of the SimpleXMLElement."""
    return _var_dump(cb, choose, sxe=True)


def var_export_array(cb: Callback, choose: Choose) -> list[str]:
    """``var_export($array)``."""
    lines = ["array ("]
    for name, value in cb.fields:
        if value == "" and choose([True, False]):
            lines += [f"  '{name}' => ", "  array (", "  ),"]
        elif cb.typed(name, value):
            lines.append(f"  '{name}' => {value},")
        else:
            lines.append(f"  '{name}' => '{value}',")
    lines.append(")")
    return lines


def var_export_sxe(cb: Callback, choose: Choose) -> list[str]:
    """``var_export()`` of the SimpleXMLElement (PHP 7.3+ prints the leading backslash)."""
    cls = choose(["\\SimpleXMLElement", "SimpleXMLElement"])
    lines = [f"{cls}::__set_state(array("]
    for name, value in cb.fields:
        if value == "":
            lines += [f"   '{name}' => ", f"  {cls}::__set_state(array(", "  )),"]
        else:
            lines.append(f"   '{name}' => '{value}',")
    lines.append("))")
    return lines


def _json_encode(cb: Callback, choose: Choose, sxe: bool) -> list[str]:
    obj: dict[str, object] = {}
    for name, value in cb.fields:
        if value == "":
            obj[name] = {} if sxe else choose(["", []])
        elif not sxe and cb.typed(name, value):
            obj[name] = int(value)
        else:
            obj[name] = value
    style = choose(["php", "pretty", "spaced"])
    if style == "pretty":  # JSON_PRETTY_PRINT
        return json.dumps(obj, indent=4, separators=(",", ": ")).split("\n")
    if style == "spaced":  # the same object re-encoded by Python's json.dumps
        return [json.dumps(obj)]
    return [json.dumps(obj, separators=(",", ":"))]


def json_array(cb: Callback, choose: Choose) -> list[str]:
    """``json_encode($array)``, compact or JSON_PRETTY_PRINT."""
    return _json_encode(cb, choose, sxe=False)


def json_sxe(cb: Callback, choose: Choose) -> list[str]:
    """``json_encode()`` of the SimpleXMLElement (an empty element is ``{}``)."""
    return _json_encode(cb, choose, sxe=True)


def serialize(cb: Callback, choose: Choose) -> list[str]:
    """``serialize($array)``, lengths in bytes (a SimpleXMLElement cannot be serialized)."""
    parts = []
    for name, value in cb.fields:
        parts.append(f's:{len(name)}:"{name}";')
        if value == "":
            parts.append(choose(['s:0:"";', "a:0:{}"]))
        elif cb.typed(name, value):
            parts.append(f"i:{value};")
        else:
            parts.append(f's:{len(value.encode("utf-8"))}:"{value}";')
    return [f"a:{len(cb.fields)}:{{{''.join(parts)}}}"]


# --- other stacks ----------------------------------------------------------------------


def _python_value(cb: Callback, name: str, value: str) -> object:
    if value == "":
        return None  # xmltodict's empty element
    return int(value) if cb.typed(name, value) else value


def python_dict(cb: Callback, choose: Choose) -> list[str]:
    """A Python dict: repr, xmltodict's nesting under 'xml', or pprint (sorted, wrapped)."""
    case = choose([PASCAL, SNAKE])
    obj = {
        SPELLINGS[name][case]: _python_value(cb, name, value) for name, value in cb.fields
    }
    style = choose(["repr", "xmltodict", "pprint"])
    if style == "repr":
        return [repr(obj)]
    if style == "xmltodict":
        return [repr({"xml": obj})]
    return pprint.pformat(obj, width=choose([80, 60])).split("\n")


def python_ordereddict(cb: Callback, choose: Choose) -> list[str]:
    """A Python OrderedDict (xmltodict before 3.7), as Python < 3.12 and 3.12+ print it."""
    pairs = [(name, _python_value(cb, name, value)) for name, value in cb.fields]
    if choose([True, False]):
        inner = ", ".join(f"({name!r}, {value!r})" for name, value in pairs)
        text = f"OrderedDict([{inner}])"
        if choose([False, True]):
            text = f"OrderedDict([('xml', {text})])"
        return [text]
    inner = ", ".join(f"{name!r}: {value!r}" for name, value in pairs)
    return [f"OrderedDict({{{inner}}})"]


# WxJava's WxCpTpXmlMessage, its fields in declaration order (Lombok prints them all).
WXJAVA_FIELDS = (
    "suiteId", "infoType", "timeStamp", "suiteTicket", "authCode", "authCorpId", "changeType",
    "userID", "openUserID", "department", "mainDepartment", "isLeaderInDept", "mobile",
    "position", "gender", "email", "status", "avatar", "alias", "telephone", "id", "name",
    "parentId", "order", "tagId", "addUserItems", "delUserItems", "addPartyItems",
    "delPartyItems", "serviceCorpId", "registerCode", "contactSync", "authUserInfo",
    "templateId", "createTime", "toUserName", "fromUserName", "msgType", "event", "batchJob",
    "externalUserID", "state", "welcomeCode", "fromUser", "content", "msgId", "agentID",
    "picUrl", "mediaId", "format", "thumbMediaId", "locationX", "locationY", "scale", "label",
    "title", "description", "url", "eventKey", "latitude", "longitude", "precision", "appType",
    "failReason", "scanCodeInfo", "sendPicsInfo", "sendLocationInfo", "approvalInfo", "taskId",
)
WXJAVA_APPROVAL = (
    "WxCpTpXmlMessage.ApprovalInfo(thirdNo=null, openSpName=null, openTemplateId=null, "
    "openSpStatus=null, applyTime=null, applyUserName=null, applyUserId=null, "
    "applyUserParty=null, applyUserImage=null, approvalNodes=null, notifyNodes=null, "
    "approverstep=null)"
)


def java(cb: Callback, choose: Choose) -> list[str]:
    """Java: WxJava's WxCpTpXmlMessage (Lombok @Data, with or without allFieldsMap), a
    Lombok DTO, an IDE-generated ``Name{field='value'}`` toString, or a Map."""
    style = choose(["wxjava", "lombok", "ide", "map"])
    camel = _spelled(cb, CAMEL)
    if style == "map":  # a Map<String, String> of the XML elements, as SLF4J's {} prints it
        return ["{" + ", ".join(f"{n}={v}" for n, v in cb.fields) + "}"]
    if style == "wxjava":
        values = dict(camel)
        parts = []
        if choose([True, False]):  # WxJava 3.8+: dom4j's map of every element
            parts.append("allFieldsMap={" + ", ".join(f"{n}={v}" for n, v in cb.fields) + "}")
        for name in WXJAVA_FIELDS:
            value = values.get(name)
            if name == "approvalInfo":
                value = WXJAVA_APPROVAL
            parts.append(f"{name}={'null' if value is None else value}")
        return ["WxCpTpXmlMessage(" + ", ".join(parts) + ")"]
    if style == "lombok":
        return ["SuiteCallbackEvent(" + ", ".join(f"{n}={v}" for n, v in camel) + ")"]
    parts = [
        f"{n}={v}" if cb.typed(name, v) else f"{n}='{v}'"
        for (n, v), (name, _) in zip(camel, cb.fields, strict=True)
    ]
    return ["SuiteCallbackEvent{" + ", ".join(parts) + "}"]


GO_STANDARD = ("SuiteId", "InfoType", TIME, TICKET, CODE, CORP, STATE)


def go(cb: Callback, choose: Choose) -> list[str]:
    """Go: ``%+v`` or ``%#v`` of the struct (every field printed, empty ones too)."""
    case = choose([GO, PASCAL])
    fields = list(cb.fields) + [(name, "") for name in GO_STANDARD if cb.get(name) is None]
    if choose(["+v", "#v"]) == "+v":
        xml_name = choose(["", "XMLName:{Space: Local:xml} "])
        body = " ".join(f"{SPELLINGS[n][case]}:{v}" for n, v in fields)
        return [choose(["&", ""]) + "{" + xml_name + body + "}"]
    parts = [
        f"{SPELLINGS[n][case]}:{v}" if cb.typed(n, v) else f'{SPELLINGS[n][case]}:"{v}"'
        for n, v in fields
    ]
    xml_name = choose(["", 'XMLName:xml.Name{Space:"", Local:"xml"}, '])
    return [choose(["&", ""]) + "main.SuiteCallback{" + xml_name + ", ".join(parts) + "}"]


def node(cb: Callback, choose: Choose) -> list[str]:
    """Node: ``util.inspect`` (console.log) of the object, plain or xml2js (values in
    arrays, under ``xml``), on one line or over several."""
    xml2js = choose([False, True])
    case = PASCAL if xml2js else choose([PASCAL, CAMEL])
    entries = []
    for name, value in cb.fields:
        shown = value if cb.typed(name, value) and not xml2js else f"'{value}'"
        entries.append(f"{SPELLINGS[name][case]}: {f'[ {shown} ]' if xml2js else shown}")
    if choose(["line", "lines"]) == "line":
        body = "{ " + ", ".join(entries) + " }"
        return ["{ xml: " + body + " }" if xml2js else body]
    indent = "    " if xml2js else "  "
    lines = [indent + entry + "," for entry in entries]
    lines[-1] = lines[-1][:-1]  # no comma after the last
    if xml2js:
        return ["{", "  xml: {", *lines, "  }", "}"]
    return ["{", *lines, "}"]


def key_value(cb: Callback, choose: Choose) -> list[str]:
    """``key=value`` pairs (logfmt and the like), snake_case, PascalCase or camelCase."""
    case = choose([SNAKE, PASCAL, CAMEL])
    sep = choose([" ", ", "])
    parts = []
    empty = choose(['""', ""])  # logfmt writes an empty value as key= or key=""
    quoted = choose([False, True])  # some loggers quote every string value
    for name, value in _spelled(cb, case):
        shown = f'"{value}"' if quoted and value else value or empty
        parts.append(f"{name}={shown}")
    return [sep.join(parts)]


PHP_FORMS = frozenset(
    {
        "xml", "xml_html", "xml_json", "print_r_array", "print_r_sxe", "var_dump_array",
        "var_dump_sxe", "var_export_array", "var_export_sxe", "json_array", "json_sxe",
        "serialize",
    }
)
FORMS: dict[str, Render] = {
    "xml": xml,
    "xml_html": xml_html,
    "xml_json": xml_json,
    "print_r_array": print_r_array,
    "print_r_sxe": print_r_sxe,
    "var_dump_array": var_dump_array,
    "var_dump_sxe": var_dump_sxe,
    "var_export_array": var_export_array,
    "var_export_sxe": var_export_sxe,
    "json_array": json_array,
    "json_sxe": json_sxe,
    "serialize": serialize,
    "python_dict": python_dict,
    "python_ordereddict": python_ordereddict,
    "java": java,
    "go": go,
    "node": node,
    "key_value": key_value,
}


# --- a log around the record -----------------------------------------------------------


@dataclass(frozen=True)
class Wrapping:
    """How a logger wrote the printed lines: see :func:`wrap`."""

    prefix: str = ""  # before the first line (``first``) or every line (``every``)
    suffix: str = ""  # after the last line (``first``) or every line (``every``)
    prefix_lines: str = "first"
    squeeze: str | None = None  # what a newline became, when the dump was put on one line
    crlf: bool = False
    encoding: str = "utf-8"  # of the whole record (its values are ASCII either way)
    context: bool = False  # the script's "收到的id: <suite id>" line before the record


# (prefix, suffix, which lines of a multi-line dump get them: "first", "every" or "any";
# "php": every line, and only for what a PHP script prints)
PREFIXES = (
    ("[2026-11-28 17:04:00] ", "", "any"),
    ("[2026-12-01 10:00:01] INFO ", "", "any"),
    ("2026-11-28 17:10:00,120 INFO cb: ", "", "any"),
    ("[28-Nov-2026 09:04:00 UTC] callback: ", "", "first"),  # PHP's error_log()
    ("Nov 28 17:04:00 cb-1 php-fpm[2117]: ", "", "every"),  # syslog, journald
    ("2026-11-28T09:04:00.123456789Z stdout F ", "", "every"),  # Kubernetes (CRI) logs
    ("[2026-11-28 17:04:00] 回调 ", "", "any"),
    ("2026/11/28 17:04:00 callback: ", "", "any"),
    ("[2026-11-28 17:04:00] production.INFO: callback ", " []", "first"),  # Monolog, Laravel
    # php-fpm's catch_workers_output quotes each line a PHP script wrote to stderr
    ('[28-Nov-2026 17:04:00] WARNING: [pool www] child 2117 said into stderr: "', '"', "php"),
)
SQUEEZES = (" ", "", "  ")  # a newline became a space, nothing, or was squeezed with \s+


def wrap(lines: list[str], suite_id: str, wrapping: Wrapping) -> tuple[bytes, bytes]:
    """The context line (or nothing) and the record's lines, as a logger wrote them."""
    if wrapping.squeeze is not None and len(lines) > 1:
        if wrapping.squeeze == "  ":
            lines = [re.sub(r"\s+", " ", " ".join(lines)).strip()]
        else:
            lines = [wrapping.squeeze.join(lines)]
    out = []
    every = wrapping.prefix_lines == "every"
    for index, line in enumerate(lines):
        prefix = wrapping.prefix if index == 0 or every else ""
        suffix = wrapping.suffix if index == len(lines) - 1 or every else ""
        out.append(prefix + line + suffix)
    eol = "\r\n" if wrapping.crlf else "\n"
    record = "".join(line + eol for line in out).encode(wrapping.encoding)
    context = b""
    if wrapping.context:
        context = f"[2026-11-28 17:04:00] 收到的id: {suite_id}{eol}".encode(wrapping.encoding)
    return context, record
