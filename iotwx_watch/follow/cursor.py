"""File identity and the persisted read position (cursor) of a followed log file.

A cursor is trusted only when identity *and* content agree: the same (dev, inode),
a size at least the offset, the same first bytes and the same bytes just before the
offset. Inode alone is not enough (inodes are reused after delete, and a file can be
truncated and regrown in place), so the two hashes catch what the inode cannot.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from iotwx_watch.errors import StateError

HEAD_BYTES = 1024
MARKER_BYTES = 64
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class FileId:
    """A file's identity while it exists: device and inode numbers."""

    dev: int
    inode: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileId:
        return cls(st.st_dev, st.st_ino)


@dataclass(frozen=True)
class Cursor:
    """Where to resume a file, and what the file looked like when the cursor was taken."""

    dev: int
    inode: int
    offset: int
    head_len: int
    head_sha256: str
    marker_sha256: str
    mtime_ns: int = 0  # the file's mtime then: files rotated after it are newer

    @property
    def file(self) -> FileId:
        return FileId(self.dev, self.inode)

    def to_json(self) -> dict[str, Any]:
        """The state file's ``sources`` entry (docs/following.md, "The cursor")."""
        return {
            "dev": self.dev,
            "inode": self.inode,
            "offset": self.offset,
            "head_len": self.head_len,
            "head_sha256": self.head_sha256,
            "marker_sha256": self.marker_sha256,
            "mtime_ns": self.mtime_ns,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Cursor:
        """Parse a ``sources`` entry; anything malformed raises StateError (never guessed)."""
        if not isinstance(data, Mapping):
            raise StateError("source cursor is not an object")
        ints: dict[str, int] = {}
        for key in ("dev", "inode", "offset", "head_len"):
            value = data.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise StateError(f"source cursor field {key!r} is missing or not a whole number")
            ints[key] = value
        mtime_ns = data.get("mtime_ns", 0)
        if not isinstance(mtime_ns, int) or isinstance(mtime_ns, bool) or mtime_ns < 0:
            raise StateError("source cursor field 'mtime_ns' is not a whole number")
        if ints["head_len"] > HEAD_BYTES:
            raise StateError("source cursor field 'head_len' is too large")
        hashes: dict[str, str] = {}
        for key in ("head_sha256", "marker_sha256"):
            value = data.get(key)
            if not isinstance(value, str) or not _SHA256_HEX.fullmatch(value):
                raise StateError(f"source cursor field {key!r} is missing or not a sha256 hex")
            hashes[key] = value
        return cls(
            dev=ints["dev"],
            inode=ints["inode"],
            offset=ints["offset"],
            head_len=ints["head_len"],
            head_sha256=hashes["head_sha256"],
            marker_sha256=hashes["marker_sha256"],
            mtime_ns=mtime_ns,
        )


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pread_exact(fd: int, size: int, offset: int) -> bytes:
    """Read ``size`` bytes at ``offset`` (fewer only at end of file)."""
    parts: list[bytes] = []
    while size > 0:
        part = os.pread(fd, size, offset)
        if not part:
            break
        parts.append(part)
        size -= len(part)
        offset += len(part)
    return b"".join(parts)


def cursor_for(fd: int, offset: int) -> Cursor:
    """A cursor for the open file ``fd`` at ``offset``, hashes read from the file itself."""
    st = os.fstat(fd)
    head = pread_exact(fd, min(st.st_size, HEAD_BYTES), 0)
    marker_len = min(MARKER_BYTES, offset)
    marker = pread_exact(fd, marker_len, offset - marker_len)
    return Cursor(
        dev=st.st_dev,
        inode=st.st_ino,
        offset=offset,
        head_len=len(head),
        head_sha256=sha256_hex(head),
        marker_sha256=sha256_hex(marker),
        mtime_ns=st.st_mtime_ns,
    )


def mismatch(fd: int, cursor: Cursor, *, identity: bool = True) -> str | None:
    """Why ``cursor`` does not describe the open file ``fd`` (None when it does).

    With ``identity=False`` only the content is compared: a copy of the file (logrotate
    copytruncate) matches too.
    """
    st = os.fstat(fd)
    if identity and FileId.of(st) != cursor.file:
        return "identity_changed"
    if st.st_size < cursor.offset:
        return "offset_beyond_size"
    if st.st_size < cursor.head_len:
        return "head_changed"
    if sha256_hex(pread_exact(fd, cursor.head_len, 0)) != cursor.head_sha256:
        return "head_changed"
    marker_len = min(MARKER_BYTES, cursor.offset)
    marker = pread_exact(fd, marker_len, cursor.offset - marker_len)
    if sha256_hex(marker) != cursor.marker_sha256:
        return "marker_changed"
    return None
