"""Finding a log file's rotated siblings (``receive.log.1``, ``receive.log-20240105``).

Used when the file at the path is no longer the one a cursor (or the file being read)
points to: the old file is looked up by identity, and files rotated in between are
found by age. Compressed siblings are never opened: their bytes are not the log's.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass

from iotwx_watch.follow.cursor import FileId

_NUMBERED = re.compile(r"\.(\d{1,6})$")
_COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".lz4", ".zip", ".Z")


def default_glob(path: str) -> str:
    """``receive.log.1``, ``receive.log-20240105`` and the like, next to ``path``."""
    return glob.escape(path) + "[.-]*"


@dataclass(frozen=True)
class Sibling:
    """A rotated file next to the followed path, with what its stat said."""

    path: str
    file: FileId
    size: int
    mtime_ns: int
    ctime_ns: int


def list_siblings(path: str, pattern: str | None) -> list[Sibling]:
    """Regular, uncompressed files matching ``pattern``, excluding ``path`` itself."""
    found: list[Sibling] = []
    target = os.path.abspath(path)
    for name in glob.glob(pattern or default_glob(path)):
        if name.endswith(_COMPRESSED) or os.path.abspath(name) == target:
            continue
        try:
            st = os.stat(name)
        except OSError:
            continue
        if not os.path.isfile(name):
            continue
        found.append(Sibling(name, FileId.of(st), st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return found


def find_by_id(siblings: list[Sibling], file: FileId) -> Sibling | None:
    """The sibling that is ``file`` (same device and inode), if any."""
    for sibling in siblings:
        if sibling.file == file:
            return sibling
    return None


def newer_than(
    siblings: list[Sibling], mtime_ns: int, exclude: set[FileId]
) -> list[Sibling]:
    """Siblings written no earlier than ``mtime_ns``, oldest first: files rotated in between.

    Ties are kept (coarse timestamps): reading a file twice is recoverable, skipping
    one is not; among equal mtimes the rotation names give the order.
    """
    candidates = [s for s in siblings if s.mtime_ns >= mtime_ns and s.file not in exclude]
    return sorted(candidates, key=lambda s: (s.mtime_ns, _age_rank(s.path)))


def _age_rank(path: str) -> tuple[int, int, str]:
    """Order for equal mtimes: ``.3`` before ``.2`` before ``.1``; dated names ascending."""
    match = _NUMBERED.search(path)
    if match:
        return (0, -int(match.group(1)), "")
    return (1, 0, path)
