"""JSON Schema (draft 2020-12) generated from annotated types: the state file, and any
TypedDict document such as ``status --json``.

Generated from the annotations :mod:`iotwx_watch.state.codec` reads, so the published
schema cannot drift from what is written: a key the writer always writes is ``required``;
a key it leaves out while unset is optional and, when present, never ``null``; a time is
an ISO-8601 UTC string; a key written only in some states says so (``if``/``else``).
Objects allow keys the schema does not list: documents are extended, never renamed, and a
script must ignore what it does not know.
"""

from __future__ import annotations

import inspect
from typing import Any, Literal, get_args, get_origin, get_type_hints, is_typeddict

from iotwx_watch.state.codec import TIME, Range, is_entry, plan, strip

DIALECT = "https://json-schema.org/draft/2020-12/schema"
TIME_SCHEMA: dict[str, Any] = {
    "type": "string",
    "format": "date-time",
    "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$",
    "description": "UTC, whole seconds",
}
_SCALARS: dict[Any, str] = {str: "string", bool: "boolean", int: "integer", float: "number"}


def _summary(cls: type[Any]) -> str:
    """A class docstring's first paragraph, on one line."""
    doc = inspect.getdoc(cls) or ""
    return " ".join(doc.split("\n\n", 1)[0].split())


class _Builder:
    """Turns types into schemas; each class becomes one entry of ``$defs``."""

    def __init__(self) -> None:
        self.defs: dict[str, dict[str, Any]] = {}

    def of(self, hint: Any, *, null: bool = True) -> dict[str, Any]:
        """The schema of ``hint``; ``None`` is allowed only where the type and ``null`` say."""
        base, meta, nullable = strip(hint)
        schema = self._base(base, meta)
        if nullable and null:
            return {"anyOf": [schema, {"type": "null"}]}
        return schema

    def _base(self, base: Any, meta: list[Any]) -> dict[str, Any]:
        if TIME in meta:
            return dict(TIME_SCHEMA)
        if base is Any:
            return {}
        if base in _SCALARS:
            schema: dict[str, Any] = {"type": _SCALARS[base]}
            bounds = next((m for m in meta if isinstance(m, Range)), None)
            if bounds is not None:
                schema |= {"minimum": bounds.low, "maximum": bounds.high}
            return schema
        origin = get_origin(base)
        if origin is Literal:
            return {"enum": list(get_args(base))}
        if origin is list:
            return {"type": "array", "items": self.of(get_args(base)[0])}
        if origin is dict:
            values = self.of(get_args(base)[1])
            return {"type": "object", **({"additionalProperties": values} if values else {})}
        if is_entry(base) or is_typeddict(base):
            self._define(base)
            return {"$ref": f"#/$defs/{base.__name__}"}
        raise TypeError(f"no JSON Schema for {base!r}")

    def _define(self, cls: type[Any]) -> None:
        if cls.__name__ in self.defs:
            return
        body: dict[str, Any] = {"title": cls.__name__, "description": _summary(cls)}
        self.defs[cls.__name__] = body  # before the fields: a class may refer to itself
        body["type"] = "object"
        if is_entry(cls):
            p = plan(cls)
            body["properties"] = {f.name: self.of(f.hint, null=not f.omit) for f in p.fields}
            body["required"] = [f.name for f in p.fields if not f.omit]
            if p.written_while is not None:
                key, value, keys = p.written_while
                body["if"] = {"properties": {key: {"const": value}}}
                body["else"] = {"properties": dict.fromkeys(keys, False)}
        else:
            hints = get_type_hints(cls, include_extras=True)
            body["properties"] = {name: self.of(hint) for name, hint in hints.items()}
            body["required"] = [name for name in hints if name in cls.__required_keys__]


def schema_of(root: type[Any], *, title: str, description: str) -> dict[str, Any]:
    """A standalone draft 2020-12 schema whose root is ``root`` (a dataclass or TypedDict)."""
    builder = _Builder()
    ref = builder.of(root)
    return {"$schema": DIALECT, "title": title, "description": description, **ref,
            "$defs": builder.defs}


def state_schema() -> dict[str, Any]:
    """The state file's schema, as ``iotwx-watch schema state`` prints it."""
    from iotwx_watch.state.model import SCHEMA_VERSION, State

    schema = schema_of(
        State,
        title=f"iotwx-watch state file, schema {SCHEMA_VERSION}",
        description=(
            "What iotwx-watch writes to its state file. Keys may be added in later "
            "versions of the same schema_version; none is renamed or removed without "
            "a new schema_version."
        ),
    )
    schema["$defs"]["State"]["properties"]["schema_version"] = {"const": SCHEMA_VERSION}
    return schema
