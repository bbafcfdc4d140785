"""What one instance knows of the shared state: the parts as it last read or wrote them.

Pure bookkeeping (no IO): the Redis store asks it which parts changed here since they
were last in step with Redis (only those are written), and what a part read from Redis
means for the local state (adopt it unless this instance changed it meanwhile: its own
write then settles the matter, by the rule of that part).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import msgspec

from iotwx_watch.state.codec import encode_entry
from iotwx_watch.state.model import State, SuiteState
from iotwx_watch.state.parts import (
    BlobMemo,
    Part,
    Tally,
    counted,
    decode_part,
    place,
    split,
    tally,
)

TICKET = "suite_ticket"
TOKEN = "suite_access_token"


class Remote(NamedTuple):
    """A part as Redis holds it: the decoded value and its blob in this version's form."""

    value: Any  # None: not there
    blob: bytes | None
    version: int = 0  # entries: the fencing version
    claim: tuple[str, float] | None = None  # auth codes: (instance, lease_until)
    tally: Tally | None = None  # counted entries: the fleet's merged sightings


def value_hash(value: str) -> str:
    """Compares tickets and tokens in Redis without a second copy of the secret."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]


def canonical(value: Any) -> bytes:
    """The blob this version writes for a value (so blobs compare equal when values do)."""
    return msgspec.json.encode(encode_entry(value))


def remote_of(part: Part, blob: bytes | None, **meta: Any) -> Remote:
    """Decode a blob read from Redis (``ShapeError`` names the part if it is not one)."""
    if blob is None:
        return Remote(None, None, **meta)
    value = decode_part(part, blob)
    return Remote(value, canonical(value), **meta)


def secrets_of(value: Any) -> list[str]:
    """The secret values of an entry (its ``repr=False`` fields), to mask them in logs."""
    if not dataclasses.is_dataclass(value):
        return []
    return [v for f in dataclasses.fields(value) if not f.repr
            for v in [getattr(value, f.name)] if isinstance(v, str)]


class SyncBook:
    """Per part: the blob last in step with Redis, its version, claim and tally.

    A suite this instance has just met counts as an empty suite in step: its (empty) rest
    must neither be written over what Redis holds nor keep Redis' from being adopted.
    """

    def __init__(self, on_secret: Callable[[str], None]) -> None:
        self.base: dict[Part, bytes] = {}
        self.versions: dict[Part, int] = {}
        self.claims: dict[tuple[str, str], tuple[str, float]] = {}
        self.tallies: dict[Part, Tally] = {}
        self.suites: set[str] = set()  # suite ids known to be in Redis' set of suites
        self._on_secret = on_secret
        self._blobs = BlobMemo()  # each write splits the whole state to find what changed

    def changes(self, state: State, only: Iterable[Part] | None = None
                ) -> list[tuple[Part, bytes | None]]:
        """Parts changed here since last in step (None: removed here), rests first."""
        current = split(state, self._blobs)
        wanted = set(only) if only is not None else None
        found: list[tuple[Part, bytes | None]] = [
            (part, blob) for part, blob in current.items()
            if self.in_step(part) != blob and (wanted is None or part in wanted)]
        found += [(part, None) for part in self.base
                  if part not in current and (wanted is None or part in wanted)]
        return sorted(found, key=lambda item: (item[0].kind != "rest", item[0]))

    def in_step(self, part: Part) -> bytes | None:
        """The blob last in step with Redis (an empty suite's rest for a suite not met)."""
        found = self.base.get(part)
        if found is None and part.kind == "rest" and part.suite:
            return EMPTY_SUITE_REST
        return found

    def record(self, part: Part, remote: Remote) -> None:
        """``remote`` is what Redis holds and what this instance holds now."""
        if part.suite:
            self.suites.add(part.suite)
        if remote.blob is None:
            self.base.pop(part, None)
            self.tallies.pop(part, None)
        else:
            self.base[part] = remote.blob
        if part.kind == "entry" and not counted(part):
            self.versions[part] = remote.version
        if part.field == "auth_codes":
            if remote.claim is None:
                self.claims.pop((part.suite, part.key), None)
            else:
                self.claims[(part.suite, part.key)] = remote.claim
        if remote.tally is not None:
            self.tallies[part] = remote.tally

    def adopt(self, state: State, part: Part, remote: Remote) -> None:
        """Make the local state hold ``remote`` (in place) and remember it as in step. The
        value is copied: the store keeps decoded values to skip unchanged blobs."""
        place(state, part, copy.deepcopy(remote.value))
        for secret in secrets_of(remote.value):
            self._on_secret(secret)
        self.record(part, remote)

    def pull(self, state: State, remotes: dict[Part, Remote],
             only: Iterable[Part] | None = None) -> bool:
        """Adopt every part another instance changed that this one has not changed since
        (``only``: just these parts; ``remotes`` lacks a part Redis does not hold).
        True if anything was adopted."""
        current = split(state, self._blobs)
        changed = False
        parts = set(only) if only is not None else set(remotes) | set(self.base)
        for part in sorted(parts, key=lambda p: (p.kind != "rest", p)):
            remote = remotes.get(part) or Remote(None, None)
            base = self.in_step(part)
            if part.kind == "rest" and part.suite and part.suite not in state.suites:
                self.adopt(state, part, remote)  # a suite another instance met first
                changed = True
                continue
            if current.get(part) != base:
                continue  # changed here, not yet written: this instance's write settles it
            if remote.blob == base or (part.kind == "rest" and remote.blob is None):
                self.record(part, remote)  # claims and versions may still move
                continue
            self.adopt(state, part, remote)
            changed = True
        return changed

    def tally_args(self, part: Part, blob: bytes) -> list[str | int]:
        """MERGE_COUNTED's arguments after the key and blob: what this instance adds."""
        spec = counted(part)
        assert spec is not None
        mine = tally(spec, blob)
        before = self.tallies.get(part)
        delta = max(0, mine.total - (before.total if before is not None else 0))
        args: list[str | int] = [delta, len(mine.low), len(mine.high)]
        for times in (mine.low, mine.high):
            for name, value in times.items():
                args += [name, value]
        return args + sorted(mine.members)


EMPTY_SUITE_REST = canonical(SuiteState())

