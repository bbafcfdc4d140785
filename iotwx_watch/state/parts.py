"""The state document cut into parts that instances sharing it can write one at a time (pure).

A shared store cannot rewrite the whole document on every change: two instances would
undo each other's work. So the document is cut where the codec's plan says it holds
entries, and each part is one JSON blob written by the codec:

- ``entry``: one entry of an object of entries (a corp, an auth code, a blocked address,
  an ignored-record count, and any such object a later model adds);
- ``one``: a nested single entry (a suite's ``suite_ticket``, ``suite_access_token``);
- ``rest``: what is left of the document, and of each suite: scalars, unknown keys and
  any other field a later model adds. ``updated_at`` travels on its own.

A new model field therefore rides along without a line here. What describes this host
and this process is :data:`LOCAL_FIELDS`, kept by each instance beside its state file and
never shared: its read positions and read problems (``sources``, ``source_errors``), the
records it could not read (``missed_records``: to read them again from its own files),
its service problems (``service_errors``), and its notifications' conditions and outbox
(``notifications``: each instance delivers what it queued, so no message is sent by two).

:data:`COUNTED` names the objects whose entries several instances add to at once
(sightings): their counts add up and their first/last times widen instead of the last
writer winning.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import msgspec

from iotwx_watch.state.codec import ShapeError, decode_entry, encode_entry, plan
from iotwx_watch.state.model import SCHEMA_VERSION, State, SuiteState

LOCAL_FIELDS = frozenset(
    {"sources", "source_errors", "missed_records", "service_errors", "notifications"})


class Counted(NamedTuple):
    """How concurrent sightings of one entry combine: the ``counter`` field adds up, the ``low``
    times keep the earliest, the ``high`` the latest, ``union`` fields (name → list)
    gather every member. Everything else: the last writer's."""

    counter: str
    low: tuple[str, ...] = ()
    high: tuple[str, ...] = ()
    union: tuple[str, ...] = ()


COUNTED: dict[str, Counted] = {
    "blocked_ips": Counted("count", low=("first_seen",), high=("last_seen",), union=("seen_by",)),
    "ignored_records": Counted("count", high=("last_at",)),
}


def counted(part: Part) -> Counted | None:
    """How the part merges if it is an entry of a :data:`COUNTED` object, else None."""
    if part.kind != "entry" or part.suite:
        return None
    return COUNTED.get(part.field)


class Part(NamedTuple):
    """Where a blob belongs: ``kind`` (rest, one, entry), the suite ("" for the document),
    the field holding it and the entry's key."""

    kind: str
    suite: str = ""
    field: str = ""
    key: str = ""

    def where(self) -> str:
        """The part's place in the document, for messages (``suites.dk1.corps.ww1``)."""
        names = [*(["suites", self.suite] if self.suite else []), self.field, self.key]
        return ".".join(name for name in names if name) or "top level"


class Cut(NamedTuple):
    """Which fields of a class are cut out of its rest: objects of entries and single entries."""

    entries: dict[str, type[Any]]
    ones: dict[str, type[Any]]
    local: frozenset[str]


def cut(cls: type[Any]) -> Cut:
    """Read from the codec's plan, so a new field of either kind is cut without code here."""
    local = LOCAL_FIELDS if cls is State else frozenset()
    entries: dict[str, type[Any]] = {}
    ones: dict[str, type[Any]] = {}
    for f in plan(cls).fields:
        if f.name in local or (cls is State and f.name == "suites"):
            continue
        if f.entries is not None:
            entries[f.name] = f.entries
        elif f.entry is not None:
            ones[f.name] = f.entry
    return Cut(entries, ones, local)


def _blob(value: Any) -> bytes:
    return msgspec.json.encode(encode_entry(value))


def _emptied(obj: Any, c: Cut, **also: Any) -> Any:
    """``obj`` without what is cut out of its rest (fields back to their defaults)."""
    defaults = {f.name: f.default for f in plan(type(obj)).fields}
    names = [*c.entries, *c.ones, *c.local]
    return dataclasses.replace(obj, **{name: _fresh(defaults[name]) for name in names}, **also)


def _fresh(default: Any) -> Any:
    return copy.deepcopy(default)


def split(state: State, memo: BlobMemo | None = None) -> dict[Part, bytes]:
    """Every shared part of ``state`` as the blob the codec writes for it (with ``memo``,
    an entry unchanged since the memo's last split costs no Python encode)."""
    blob = _blob if memo is None else memo.blob
    parts: dict[Part, bytes] = {}
    top, per_suite = cut(State), cut(SuiteState)
    parts[Part("rest")] = _blob(_emptied(state, top, suites={}, updated_at=None))
    for part, value in _pieces(state, "", top):
        parts[part] = blob(value)
    for suite_id, suite in state.suites.items():
        parts[Part("rest", suite_id)] = _blob(_emptied(suite, per_suite))
        for part, value in _pieces(suite, suite_id, per_suite):
            parts[part] = blob(value)
    if memo is not None:
        memo.done()
    return parts


class BlobMemo:
    """The blobs of the entries the last :func:`split` wrote, keyed by their content.

    The shared store splits the whole state before every write to find what changed:
    with 10,000 corps that was ~60 ms of building each entry's blob in Python, though
    one or two had changed. msgspec's MessagePack of an entry (in C: every field and
    ``extra``, floats exactly) is the key, so an entry changed in place never finds its
    old blob, as with the file store's :class:`~iotwx_watch.state.codec.EncodeMemo`.
    Owned by one writer; each split keeps only the blobs it used.
    """

    def __init__(self) -> None:
        self._last: dict[tuple[type[Any], bytes], bytes] = {}
        self._next: dict[tuple[type[Any], bytes], bytes] = {}

    def __len__(self) -> int:
        return len(self._last)

    def blob(self, value: Any) -> bytes:
        """:func:`_blob` of ``value``, reused where an equal entry was split last time."""
        key = (type(value), msgspec.msgpack.encode(value))
        found = self._next.get(key)  # an equal entry elsewhere in this split
        if found is None:
            found = self._last.get(key)
        if found is None:
            found = _blob(value)
        self._next[key] = found
        return found

    def done(self) -> None:
        """A split is complete: keep what it used, drop the rest."""
        self._last, self._next = self._next, {}


def _pieces(owner: Any, suite_id: str, c: Cut) -> Iterator[tuple[Part, Any]]:
    for name in c.ones:
        value = getattr(owner, name)
        if value is not None:
            yield Part("one", suite_id, name), value
    for name in c.entries:
        for key, value in getattr(owner, name).items():
            yield Part("entry", suite_id, name, key), value


def keeps_mine(part: Part, mine: Any, theirs: Any) -> bool:
    """Whether a write Redis refused (another instance wrote the entry since) must be made
    again over it: a corp whose Secret this instance obtained after the one Redis holds.
    A Secret WeCom handed out is never dropped for a concurrent change of the same corp."""
    if part.kind != "entry" or part.field != "corps" or theirs is None:
        return False
    return bool((mine.obtained_at or 0.0) > (theirs.obtained_at or 0.0))


def local_part(state: State) -> State:
    """This instance's own fields as a document of their own (everything else empty)."""
    return State(**{name: getattr(state, name) for name in LOCAL_FIELDS})


def take_local(state: State, local: State) -> None:
    """Put this instance's own fields, read from its file, into ``state``."""
    for name in LOCAL_FIELDS:
        setattr(state, name, getattr(local, name))


def entry_class(part: Part) -> type[Any]:
    """The dataclass a part's blob decodes to."""
    if part.kind == "rest":
        return SuiteState if part.suite else State
    c = cut(SuiteState if part.suite else State)
    return (c.ones if part.kind == "one" else c.entries)[part.field]


def decode_part(part: Part, blob: bytes) -> Any:
    """A blob back to its entry; :class:`ShapeError` naming the part when it is not one."""
    try:
        raw = msgspec.json.decode(blob)
    except msgspec.DecodeError as exc:
        raise ShapeError(f"{part.where()} is not valid JSON ({exc})") from exc
    if part == Part("rest"):
        version = raw.get("schema_version") if isinstance(raw, dict) else None
        if version != SCHEMA_VERSION:
            raise ShapeError(f"unknown schema_version {version!r} "
                             f"(this version reads {SCHEMA_VERSION})")
    where = "" if part == Part("rest") else part.where()
    return decode_entry(entry_class(part), raw, where)


def place(state: State, part: Part, value: Any) -> None:
    """Put a decoded part into ``state`` in place (``None``: remove it), so references the
    engine holds (the state, a suite, an entry in an attempt) see the change."""
    if part.kind == "rest":
        target: Any = state.suite(part.suite) if part.suite else state
        c = cut(type(target))
        skip = {*c.entries, *c.ones, *c.local, "suites", "updated_at"}
        _copy_into(target, value, skip)
        return
    owner: Any = state.suite(part.suite) if part.suite else state
    if part.kind == "one":
        setattr(owner, part.field, value)
        return
    book: dict[str, Any] = getattr(owner, part.field)
    current = book.get(part.key)
    if value is None:
        book.pop(part.key, None)
    elif current is not None and type(current) is type(value):
        _copy_into(current, value, set())
    else:
        book[part.key] = value


def _copy_into(target: Any, source: Any, skip: set[str]) -> None:
    for f in dataclasses.fields(target):
        if f.name not in skip:
            setattr(target, f.name, getattr(source, f.name))


def assemble(blobs: Mapping[Part, bytes]) -> State:
    """The document from its parts (the ``rest`` part first); :class:`ShapeError` on a bad one."""
    rest = blobs.get(Part("rest"))
    state = decode_part(Part("rest"), rest) if rest is not None else State()
    for part in sorted(blobs, key=lambda p: (p.kind != "rest", p)):
        if part != Part("rest"):
            place(state, part, decode_part(part, blobs[part]))
    return state


# -- counted entries: what a merge needs out of a blob, and back ---------------------------


class Tally(NamedTuple):
    """A counted entry's mergeable values as the store keeps them apart from its blob."""

    total: int
    low: dict[str, str]
    high: dict[str, str]
    members: frozenset[str]  # JSON [name, value] (or [name] for an empty list)


def tally(spec: Counted, blob: bytes) -> Tally:
    """The mergeable values of an encoded entry (times stay ISO strings: they sort)."""
    doc = msgspec.json.decode(blob)
    members: set[str] = set()
    for name in spec.union:
        for key, values in (doc.get(name) or {}).items():
            pairs = [[key, value] for value in values] or [[key]]
            members.update(f"{name}\0" + msgspec.json.encode(p).decode() for p in pairs)
    return Tally(
        total=int(doc.get(spec.counter, 0)),
        low={name: doc[name] for name in spec.low if doc.get(name) is not None},
        high={name: doc[name] for name in spec.high if doc.get(name) is not None},
        members=frozenset(members),
    )


def with_tally(spec: Counted, blob: bytes, merged: Tally) -> bytes:
    """``blob`` with the fleet's merged values in place of this writer's."""
    doc = msgspec.json.decode(blob)
    doc[spec.counter] = merged.total
    doc.update(merged.low)
    doc.update(merged.high)
    for name in spec.union:
        union: dict[str, list[str]] = {}
        for member in sorted(merged.members):
            field_name, _, pair = member.partition("\0")
            if field_name == name:
                key, *value = msgspec.json.decode(pair)
                union.setdefault(key, []).extend(value)
        if union:
            doc[name] = union
    return msgspec.json.encode(doc)
