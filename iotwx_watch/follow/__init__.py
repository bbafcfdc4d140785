"""Files: reads what is new in each log from a saved position, across rotation.

``follower`` is the :class:`Follower`; ``opener`` finds the file a cursor belongs to;
``cursor`` is the saved position; ``frame`` cuts whole lines; ``openfile`` holds one
open file and its read budget; ``siblings`` finds rotated copies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from iotwx_watch import lazy_face

if TYPE_CHECKING:
    from iotwx_watch.follow.cursor import Cursor, FileId
    from iotwx_watch.follow.follower import Follower
    from iotwx_watch.follow.frame import Chunk

_HOMES = {"Chunk": "frame", "Cursor": "cursor", "FileId": "cursor", "Follower": "follower"}
__all__ = [
    "Chunk",
    "Cursor",
    "FileId",
    "Follower",
]
__getattr__ = lazy_face(__name__, _HOMES)
