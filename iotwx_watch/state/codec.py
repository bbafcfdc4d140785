"""How the state's typed entries map to the file's JSON, derived from their annotations.

msgspec checks every entry's known keys in C: JSON types, enumerations, ``None`` only
where the type allows it, and a bool never passing for an int. This module adds the
rules of the file that msgspec cannot express, each read from a field's annotation:

* :data:`Time`: an epoch float in memory, an ISO-8601 UTC string in the file;
* :data:`OMIT`: the key is left out of the file while the field has its default;
* :class:`Range`: an integer's bounds (a JSON number can be any size);
* keys an entry does not know are kept in its ``extra`` and written back after the
  known ones, so what a newer version added survives a round trip through this one.

Entries are read one at a time, so an error names its place with the object keys
(``suites.dk1.corps.ww1.agentid``), which msgspec's own paths leave out. msgspec is
imported on first use only: ``iotwx-watch --help`` imports the model but never reads it.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime
from types import UnionType
from typing import (
    Annotated,
    Any,
    Literal,
    NamedTuple,
    Protocol,
    TypeVar,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

MAX_TIME = 253402300799  # 9999-12-31T23:59:59Z, the last time the file's format can write
MAX_DEPTH = 32  # nesting allowed in free-form values (extra keys, cursors, last_error)
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class ShapeError(Exception):
    """A value in the file does not have the schema's shape; ``str`` names where."""


class Range(NamedTuple):
    """Annotation: the inclusive bounds of an integer field."""

    low: int
    high: int


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


TIME = _Marker("TIME")
OMIT = _Marker("OMIT")
_T = TypeVar("_T")
Time = Annotated[float, TIME]  # epoch seconds in memory, "2026-11-28T14:00:00Z" in the file
Omitted = Annotated[_T, OMIT]  # left out of the file while it has its default


def format_time(ts: float) -> str:
    """Epoch seconds → ``2026-11-28T14:00:00Z`` (whole seconds, UTC)."""
    return time.strftime(TIME_FORMAT, time.gmtime(int(ts)))


def parse_time(text: str) -> float:
    """ISO-8601 (``Z`` or an offset; naive means UTC) → epoch seconds."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    names = {dict: "an object", list: "an array", str: "a string", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def place(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


class Field(NamedTuple):
    """What the codec needs to know about one field, read once from its annotation."""

    name: str
    hint: Any
    time: bool = False
    omit: bool = False
    default: Any = None
    entry: type[Any] | None = None  # a nested entry (or None)
    entries: type[Any] | None = None  # an object of entries, keyed by id
    values: Any = None  # an object of free-form values (their type), keyed by name
    range: Range | None = None
    free: bool = False  # holds Any: its nesting is bounded
    choices: tuple[str, ...] = ()


class Plan(NamedTuple):
    """What the codec needs to know about one class (NamedTuples: cheap to import)."""

    fields: tuple[Field, ...]
    names: frozenset[str]
    times: tuple[str, ...]
    ranges: tuple[Field, ...]
    nested: tuple[Field, ...]
    free: tuple[str, ...]
    # (field, value, keys): the keys are written only while the field has that value
    written_while: tuple[str, Any, tuple[str, ...]] | None


def strip(hint: Any) -> tuple[Any, list[Any], bool]:
    """The type under ``Annotated`` and ``| None``, the metadata met, and whether None fits."""
    meta: list[Any] = []
    nullable = False
    while True:
        if get_origin(hint) is Annotated:
            meta.extend(hint.__metadata__)
            hint = hint.__origin__
            continue
        args = get_args(hint)
        if get_origin(hint) in (Union, UnionType) and type(None) in args:
            rest = [a for a in args if a is not type(None)]
            if len(rest) == 1:
                hint, nullable = rest[0], True
                continue
        return hint, meta, nullable


def is_entry(hint: Any) -> bool:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def _has_any(hint: Any) -> bool:
    return hint is Any or any(_has_any(arg) for arg in get_args(hint))


_PLANS: dict[type[Any], Plan] = {}


def plan(cls: type[Any]) -> Plan:
    """What encoding and decoding need to know of a dataclass, read once from its annotations."""
    found = _PLANS.get(cls)
    if found is None:
        found = _PLANS[cls] = _read_plan(cls)
    return found


def _read_plan(cls: type[Any]) -> Plan:
    hints = get_type_hints(cls, include_extras=True)
    fields = []
    for f in dataclasses.fields(cls):
        if f.name == "extra":
            continue
        base, meta, _ = strip(hints[f.name])
        default: Any = f.default
        if f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        spec: dict[str, Any] = {
            "time": TIME in meta,
            "omit": OMIT in meta,
            "default": default,
            "range": next((m for m in meta if isinstance(m, Range)), None),
            "free": _has_any(base),
            "choices": get_args(base) if get_origin(base) is Literal else (),
        }
        if is_entry(base):
            spec["entry"] = base
        elif get_origin(base) is dict and is_entry(get_args(base)[1]):
            spec["entries"] = get_args(base)[1]
        elif get_origin(base) is dict and get_origin(get_args(base)[1]) is dict:
            spec["values"] = get_args(base)[1]
        fields.append(Field(f.name, hints[f.name], **spec))
    order: tuple[str, ...] = getattr(cls, "FILE_KEY_ORDER", ())
    if order:
        fields.sort(key=lambda f: order.index(f.name))
    return Plan(
        fields=tuple(fields),
        names=frozenset(f.name for f in fields),
        times=tuple(f.name for f in fields if f.time),
        ranges=tuple(f for f in fields if f.range is not None),
        nested=tuple(f for f in fields if f.entry or f.entries or f.values),
        free=tuple(f.name for f in fields if f.free and not f.values),
        written_while=getattr(cls, "WRITTEN_WHILE", None),
    )


# -- reading -----------------------------------------------------------------------------


def check_depth(value: Any, where: str, key: str) -> None:
    """Bound the nesting of a free-form value, so writing it back never hits a limit."""
    level = [value]
    for _ in range(MAX_DEPTH):
        below: list[Any] = []
        for item in level:
            if type(item) is dict:
                below.extend(item.values())
            elif type(item) is list:
                below.extend(item)
        if not below:
            return
        level = below
    raise ShapeError(f"{place(where, key)} is nested more than {MAX_DEPTH} levels deep")


def _time(value: Any, where: str, key: str) -> float:
    if type(value) is not str:
        where = place(where, key)
        raise ShapeError(f"{where} must be an ISO-8601 time string, not {json_type(value)}")
    try:
        ts = parse_time(value)
    except (ValueError, OverflowError) as exc:
        raise ShapeError(f"{place(where, key)} is not an ISO-8601 time: {value!r}") from exc
    if not 0 <= ts <= MAX_TIME:
        raise ShapeError(f"{place(where, key)} is out of range (1970 to 9999): {value!r}")
    return ts


def _explain(message: str, where: str, fields: tuple[Field, ...]) -> str:
    """msgspec's ``Expected `int`, got `bool` - at `$.agentid``` → the file's place."""
    text, found, path = message.partition(" - at `$")
    path = path.rstrip("`") if found else ""
    key = path.lstrip(".").split("[", 1)[0]
    choices = next((f.choices for f in fields if f.name == key and f.choices), ())
    here = place(where, path.lstrip(".")) if path else (where or "top level")
    if choices and text.startswith("Invalid enum value"):
        return f"{here} must be one of {', '.join(choices)}"
    return f"{here}: {text[:1].lower()}{text[1:]}"


def _convert(value: Any, kind: Any, where: str, fields: tuple[Field, ...] = ()) -> Any:
    import msgspec

    try:
        return msgspec.convert(value, kind, strict=True)
    except msgspec.ValidationError as exc:
        raise ShapeError(_explain(str(exc), where, fields)) from exc


def _object(value: Any, where: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise ShapeError(f"{where or 'top level'} must be an object, not {json_type(value)}")
    return value


class HasExtra(Protocol):
    extra: dict[str, Any]


_E = TypeVar("_E", bound=HasExtra)


def decode_entry(cls: type[_E], raw: Any, where: str) -> _E:
    """Build one entry from decoded JSON (consumed: it may be changed in place)."""
    p = plan(cls)
    data, extra = _prepare(p, _object(raw, where), where)
    entry: _E = _convert(data, cls, where, p.fields)
    if extra:
        entry.extra = extra
    return entry


def _decode_entries(cls: type[_E], items: dict[str, Any], where: str) -> dict[str, _E]:
    """Build an object of entries with one msgspec call; per entry only to name an error.

    One call for ten thousand corps costs a third less than ten thousand calls.
    """
    import msgspec

    p = plan(cls)
    ready: dict[str, Any] = {}
    extras: dict[str, dict[str, Any]] = {}
    for key, raw in items.items():
        at = place(where, key)
        ready[key], extra = _prepare(p, _object(raw, at), at)
        if extra:
            extras[key] = extra
    try:
        built: dict[str, _E] = msgspec.convert(ready, dict[str, cls], strict=True)  # type: ignore[valid-type]
    except msgspec.ValidationError as exc:
        for key, data in ready.items():
            _convert(data, cls, place(where, key), p.fields)
        raise ShapeError(_explain(str(exc), where, ())) from exc
    for key, extra in extras.items():
        built[key].extra = extra
    return built


def _prepare(p: Plan, data: dict[str, Any], where: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """What msgspec cannot check: splits off unknown keys, reads times, checks integer
    bounds and nesting, builds nested entries. Returns the known keys and the unknown."""
    extra: dict[str, Any] = {}
    if not p.names.issuperset(data):
        unknown = data.keys() - p.names
        keys = [k for k in data if k in unknown] if len(unknown) > 1 else unknown
        extra = {key: data.pop(key) for key in keys}
        for key, value in extra.items():
            if type(value) in (dict, list):
                check_depth(value, where, key)
    for name in p.times:
        value = data.get(name)
        if value is not None:
            data[name] = _time(value, where, name)
    for f in p.ranges:
        value = data.get(f.name)
        if type(value) is int and f.range and not f.range.low <= value <= f.range.high:
            raise ShapeError(
                f"{place(where, f.name)} is out of range ({f.range.low} to {f.range.high})"
            )
    for f in p.nested:
        value = data.get(f.name)
        if value is not None:
            data[f.name] = _nested(f, value, place(where, f.name))
    for name in p.free:
        value = data.get(name)
        if value:
            check_depth(value, where, name)
    return data, extra


def _nested(f: Field, value: Any, where: str) -> Any:
    if f.entry is not None:
        return decode_entry(f.entry, value, where)
    items = _object(value, where)
    if f.entries is not None:
        return _decode_entries(f.entries, items, where)
    for k, v in items.items():
        _convert(v, f.values, place(where, k))
        check_depth(v, where, k)
    return items


# -- writing -----------------------------------------------------------------------------


def encode_entry(entry: Any, memo: EncodeMemo | None = None) -> dict[str, Any]:
    """One entry as the file holds it (shares free-form values with the entry).

    With a ``memo``, objects of entries come back as ``msgspec.Raw`` JSON (reused where
    unchanged since the memo's last encode), for ``msgspec.json.encode`` only.
    """
    p = plan(type(entry))
    out: dict[str, Any] = {}
    for f in p.fields:
        value = getattr(entry, f.name)
        if f.omit and value == f.default:
            continue
        if value is not None:
            if f.time:
                value = format_time(value)
            elif f.entry is not None:
                value = encode_entry(value, memo)
            elif f.entries is not None:
                value = (memo.entries(value) if memo is not None
                         else {k: encode_entry(v) for k, v in value.items()})
        out[f.name] = value
    if p.written_while is not None:
        key, wanted, keys = p.written_while
        if getattr(entry, key) != wanted:
            for name in keys:
                out.pop(name, None)
    for key, value in entry.extra.items():
        if key not in p.names:
            out[key] = value
    return out


class EncodeMemo:
    """The JSON of the entries one writer wrote last, keyed by their content.

    A save of 10,000 corps spent most of its time building each entry's file form in
    Python, though one or two entries had changed. msgspec serializes the entries as they
    are (dataclasses: every field and ``extra``) several times faster, in C; those bytes,
    per class, are the key, so an entry changed in place never finds its old JSON. They
    are MessagePack, not JSON: it keeps every float (JSON writes NaN as ``null``, as None).
    Entries are looked up in runs of :attr:`RUN` in the object's order (an appended entry
    changes the last run only): one Python step per run, not per entry, is what pays.

    Explicit and owned by the writer (a :class:`~iotwx_watch.state.store.StateStore`),
    never module state. Each encode keeps only the runs it wrote: about one file's bytes.
    """

    RUN = 64

    def __init__(self) -> None:
        self._last: dict[type[Any], dict[bytes, bytes]] = {}
        self._next: dict[type[Any], dict[bytes, bytes]] = {}

    def __len__(self) -> int:
        """The runs held: those of the last encode only."""
        return sum(map(len, self._last.values()))

    def encode(self, entry: Any) -> bytes:
        """``msgspec.json.encode(encode_entry(entry))``, byte for byte, reusing what it can."""
        import msgspec

        return msgspec.json.encode(self.tree(entry))

    def tree(self, entry: Any) -> dict[str, Any]:
        """``encode_entry(entry, self)``, after which the memo holds what it returned."""
        self._next = {}
        try:
            tree = encode_entry(entry, self)
        except BaseException:
            self._next = {}
            raise
        self._last, self._next = self._next, {}
        return tree

    def entries(self, items: dict[str, Any]) -> Any:
        """An object of entries as JSON (``msgspec.Raw``), or as dicts where runs do not pay:
        entries holding objects of entries (suites: theirs are memoized), mixed classes."""
        import msgspec

        kinds = set(map(type, items.values()))
        kind = kinds.pop() if len(kinds) == 1 else None
        if kind is None or any(f.entries is not None for f in plan(kind).fields):
            return {k: encode_entry(v, self) for k, v in items.items()}
        last = self._last.get(kind, {})
        kept = self._next.setdefault(kind, {})
        pairs = list(items.items())
        pieces = []
        for start in range(0, len(pairs), self.RUN):
            run = pairs[start:start + self.RUN]
            key = msgspec.msgpack.encode(run)
            piece = last.get(key)
            if piece is None:
                piece = msgspec.json.encode({k: encode_entry(v) for k, v in run})[1:-1]
            kept[key] = piece
            pieces.append(piece)
        return msgspec.Raw(b"{" + b",".join(pieces) + b"}")
