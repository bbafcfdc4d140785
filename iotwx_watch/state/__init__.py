"""The state: ``model`` is the schema-1 document as typed objects (pure); ``store``
locks, loads and atomically saves it as a JSON file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from iotwx_watch import lazy_face

if TYPE_CHECKING:
    from iotwx_watch.state.model import (
        AuthCodeEntry,
        BlockedIpEntry,
        CorpEntry,
        ShapeError,
        State,
        SuiteState,
        TicketEntry,
        TokenEntry,
        decode,
        encode,
        format_time,
        parse_time,
        snapshot,
    )
    from iotwx_watch.state.store import StateStore

_MODEL = (
    "AuthCodeEntry", "BlockedIpEntry", "CorpEntry", "ShapeError", "State", "SuiteState",
    "TicketEntry", "TokenEntry", "decode", "encode", "format_time", "parse_time", "snapshot",
)
_HOMES = {name: "model" for name in _MODEL} | {"StateStore": "store"}
__all__ = [
    "AuthCodeEntry",
    "BlockedIpEntry",
    "CorpEntry",
    "ShapeError",
    "State",
    "StateStore",
    "SuiteState",
    "TicketEntry",
    "TokenEntry",
    "decode",
    "encode",
    "format_time",
    "parse_time",
    "snapshot",
]
__getattr__ = lazy_face(__name__, _HOMES)
