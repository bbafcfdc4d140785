"""Shared test data for the state model: the schema-1 fixture and a way to break it at a place."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

# Written by the hand-written codec this model replaced (commit b438b51), every optional
# key set somewhere, unknown keys at every level. Never regenerate it with the new code.
PREVIOUS = Path(__file__).with_name("schema1_written_by_0_1_0.json")
SUITE = "dk7f3a9c2b41e05d68"
CORP = "wwa1c7e3b0d2f94e61"
PENDING = "fedcba9876543210"
SOURCE = "/var/log/wecom/receive.log"


def previous_bytes() -> bytes:
    return PREVIOUS.read_bytes()


def previous_doc() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(previous_bytes())
    return data


def with_value(path: tuple[str, ...], value: Any) -> bytes:
    """The fixture with the value at ``path`` replaced (or the key removed for ``...``)."""
    doc = copy.deepcopy(previous_doc())
    parent: Any = doc
    for key in path[:-1]:
        parent = parent[key]
    if value is Ellipsis:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return json.dumps(doc, ensure_ascii=False).encode()
