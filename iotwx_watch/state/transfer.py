"""`state export` and `state migrate`: the document out of either backend, and a deployment
moved between a state file and Redis (either way) without loss.

A place is a Redis URL (redis://, rediss://, unix://; the prefix and password are the
config's) or a file path. A migration reads the whole document from the source, refuses a
target that already holds one (unless asked to replace it), writes it, reads it back and
compares: what the source held, the target holds. Read positions (and the rest of an
instance's own part, :data:`~iotwx_watch.state.parts.LOCAL_FIELDS`) are this host's: a file
keeps them in the document; with Redis they live in this host's local file
(:func:`~iotwx_watch.state.backend.local_path`), so an instance resumes where it was.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from iotwx_watch.config import STATE_SCHEMES, Config
from iotwx_watch.errors import StateError, StateWriteError
from iotwx_watch.log import SecretRegistry
from iotwx_watch.state.backend import local_path, read_state, redis_store
from iotwx_watch.state.model import State
from iotwx_watch.state.parts import local_part, take_local
from iotwx_watch.state.store import StateStore


class Moved(NamedTuple):
    """What a migration carried, for the one line the command prints."""

    suites: int
    corps: int
    codes: int
    blocked_ips: int
    sources: int


def is_redis(place: str) -> bool:
    return urlsplit(place).scheme in STATE_SCHEMES


def export(config: Config, *, secrets: SecretRegistry | None = None) -> State:
    """The deployment's document as the file backend would hold it (Secrets included)."""
    return read_state(config, secrets=secrets)


def migrate(config: Config, source: str, target: str, *, replace: bool = False,
            secrets: SecretRegistry | None = None) -> Moved:
    """Copy the document from ``source`` to ``target``, then check the copy reads back equal."""
    if is_redis(source) == is_redis(target) and source == target:
        raise StateError(f"state migrate: {source} is both the source and the target")
    with _held(config, source, target):
        state = _read(config, source, secrets)
        _write(config, target, state, replace=replace, secrets=secrets)
        copy = _read(config, target, secrets)
    if _comparable(copy) != _comparable(state):
        raise StateError(f"state migrate: {target} does not read back what {source} holds; "
                         "the source is unchanged")
    return Moved(
        suites=len(state.suites),
        corps=sum(len(s.corps) for s in state.suites.values()),
        codes=sum(len(s.auth_codes) for s in state.suites.values()),
        blocked_ips=len(state.blocked_ips),
        sources=len(state.sources),
    )


@contextlib.contextmanager
def _held(config: Config, *places: str) -> Iterator[None]:
    """A state file's lock (no `once` or `run` may write it meanwhile); for Redis, this
    host's instance lock. Instances on other hosts must be stopped by the operator."""
    paths = sorted({str(Path(config.state_file if is_redis(p) else p).resolve())
                    for p in places})
    with contextlib.ExitStack() as stack:
        for path in paths:
            stack.enter_context(StateStore(path).lock())
        yield


def _read(config: Config, place: str, secrets: SecretRegistry | None) -> State:
    if not is_redis(place):
        if not Path(place).exists():
            raise StateError(f"state migrate: {place} does not exist")
        return StateStore(place).load()
    store = redis_store(config, url=place, secrets=secrets)
    try:
        state = store.load()
    except StateWriteError as exc:
        raise StateError(str(exc)) from exc
    finally:
        store.close()
    take_local(state, StateStore(local_path(config.state_file)).load())
    return state


def _write(config: Config, place: str, state: State, *, replace: bool,
           secrets: SecretRegistry | None) -> None:
    if not is_redis(place):
        if Path(place).exists() and not replace:
            raise StateError(f"state migrate: {place} exists; move it away or give --replace "
                             "(its previous content is kept as .bak)")
        StateStore(place).save(dataclasses.replace(state))
        return
    store = redis_store(config, url=place, secrets=secrets)
    try:
        if store.holds_anything() and not replace:
            raise StateError(f"state migrate: {store.where} already holds a deployment; "
                             "choose another [redis] prefix or give --replace")
        store.wipe()
        store.load()
        store.save(state)
    except StateWriteError as exc:
        raise StateError(str(exc)) from exc
    finally:
        store.close()
    StateStore(local_path(config.state_file)).save(local_part(state))


def _comparable(state: State) -> dict[str, Any]:
    """The document as JSON values, without the time of the last save."""
    return dataclasses.replace(state, updated_at=None).to_json()
