"""Where the state lives: the state file (the default) or Redis, behind one interface.

The runner, `redeem`, `status` and `state export`/`migrate` use a :class:`StateBackend`;
which one is ``state`` in the config. The file backend is the :class:`StateStore` as it
always was: same file, same lock, same bytes. The shared backend keeps the document in
Redis (:class:`~iotwx_watch.state.redis_store.RedisStore`) and three things on this host:

- the lock ``<state_file>.lock``, so one host never runs two processes for one instance;
- this instance's own part of the state (:data:`~iotwx_watch.state.parts.LOCAL_FIELDS`:
  its read positions, read problems, unread records, service problems and notifications)
  in ``<state_file stem>.local.json``. It is written after the results it led to are in
  Redis, so a crash or an outage can make an instance read lines again, never skip one;
- with ``state_mirror = true``, a read-only copy of the whole document at ``state_file``,
  for scripts that read the state file.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from iotwx_watch.config import Config
from iotwx_watch.errors import StateError, StateWriteError
from iotwx_watch.log import SecretRegistry, get_logger
from iotwx_watch.state.model import AuthCodeEntry, State, TokenEntry, snapshot
from iotwx_watch.state.parts import local_part, take_local
from iotwx_watch.state.store import StateStore

if TYPE_CHECKING:
    from iotwx_watch.state.redis_store import RedisStore

log = get_logger("state")


class StateBackend(Protocol):
    """What the runner needs of the place the state lives."""

    @property
    def where(self) -> str:
        """The file's path or the Redis URL (never a password), for messages."""
        ...

    def lock(self) -> AbstractContextManager[None]: ...

    def load(self) -> State: ...

    def save(self, state: State) -> bool:
        """Write what changed since the last load or save; False when nothing did (but
        ``updated_at``). :class:`StateWriteError` when it cannot (retryable)."""
        ...

    def refresh(self, state: State) -> bool:
        """Adopt what other instances wrote; True if anything arrived (a file: never)."""
        ...

    def close(self) -> None: ...


class FileBackend:
    """The state file: this process's alone while it holds the lock."""

    def __init__(self, path: str, *, clock: Callable[[], float] = time.time) -> None:
        self.store = StateStore(path, clock=clock)
        self._loaded: bytes | None = None  # the snapshot of the state as loaded, until a write

    @property
    def where(self) -> str:
        return str(self.store.path)

    def lock(self) -> AbstractContextManager[None]:
        return self.store.lock()

    def load(self) -> State:
        state = self.store.load()
        self._loaded = snapshot(state)
        return state

    def save(self, state: State) -> bool:
        """Until the first write, the state is compared with the one loaded (a snapshot: a
        `once` with nothing new encodes nothing); after it, the store compares what it
        would write with what it wrote, on the way to writing it."""
        if self._loaded is not None and snapshot(state) == self._loaded:
            return False
        wrote = self.store.save(state, if_changed=self._loaded is None)
        self._loaded = None
        return wrote

    def refresh(self, state: State) -> bool:
        return False

    def close(self) -> None:
        return None


def local_path(state_file: str) -> Path:
    """Where a Redis-backed instance keeps its own part of the state: next to ``state_file``."""
    path = Path(state_file)
    return path.with_name(f"{path.stem}.local.json")


class SharedBackend:
    """Redis for the document; the lock, this instance's own part and the mirror on the host."""

    def __init__(self, config: Config, redis: RedisStore, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self._files = StateStore(config.state_file, clock=clock)
        self.local = StateStore(local_path(config.state_file), clock=clock)
        self.mirror = self._files if config.state_mirror else None
        self._mirrored: bytes | None = None
        self._saved: bytes | None = None  # the snapshot last loaded or saved

    @property
    def where(self) -> str:
        return self.redis.where

    def lock(self) -> AbstractContextManager[None]:
        return self._files.lock()

    def load(self) -> State:
        state = self.redis.load()
        take_local(state, self.local.load())
        self._saved = snapshot(state)
        return state

    def save(self, state: State) -> bool:
        """Redis first, then this instance's part: a read position never runs ahead of the
        results it led to. Nothing when the snapshot has not changed since the last load or
        save (finding what changed in Redis costs more)."""
        current = snapshot(state)
        if current == self._saved:
            return False
        self.redis.save(state)
        self.local.save(local_part(state))
        self._write_mirror(state, current)
        self._saved = current
        return True

    def refresh(self, state: State) -> bool:
        return self.redis.refresh(state)

    def _write_mirror(self, state: State, current: bytes) -> None:
        """The read-only copy (``current``: the state's snapshot); a failure is logged, not
        fatal: Redis holds the real state."""
        if self.mirror is None:
            return
        if current == self._mirrored:
            return
        try:
            self.mirror.save(state)
        except StateWriteError as exc:
            log.error("state.mirror_failed", path=str(self.mirror.path), error=str(exc))
            return
        self._mirrored = current

    def close(self) -> None:
        self.redis.close()

    # the engine's SharedLedger, which RedisStore implements
    def claim(self, suite_id: str, key: str, entry: AuthCodeEntry, *,
              lease_until: float) -> bool:
        return self.redis.claim(suite_id, key, entry, lease_until=lease_until)

    def held_elsewhere(self, suite_id: str, key: str, now: float) -> bool:
        return self.redis.held_elsewhere(suite_id, key, now)

    def refreshing_token(self, suite_id: str, fetch: Callable[[], str], *,
                         usable: Callable[[TokenEntry], bool]) -> str:
        return self.redis.refreshing_token(suite_id, fetch, usable=usable)


def instance_name(config: Config) -> str:
    """This server's name in the fleet: ``[redis] instance``, else the host name."""
    return config.redis.instance or socket.gethostname()


def redis_store(config: Config, *, url: str | None = None,
                secrets: SecretRegistry | None = None,
                clock: Callable[[], float] = time.time) -> RedisStore:
    """A store for the config's Redis (or ``url``, with the config's prefix and password)."""
    from iotwx_watch.state.redis_store import RedisStore

    return RedisStore(url or config.state, prefix=config.redis.prefix,
                      instance=instance_name(config), password=config.redis.password,
                      secrets=secrets, clock=clock,
                      lock_ttl_s=config.wecom.timeout_s + 5.0)


def open_backend(config: Config, *, secrets: SecretRegistry | None = None,
                 clock: Callable[[], float] = time.time) -> FileBackend | SharedBackend:
    """The backend the config names (Redis is not imported for a file deployment)."""
    if not config.uses_redis:
        return FileBackend(config.state_file, clock=clock)
    return SharedBackend(config, redis_store(config, secrets=secrets, clock=clock), clock=clock)


def read_state(config: Config, *, secrets: SecretRegistry | None = None) -> State:
    """The deployment's document as `status` and `state export` show it: with Redis, plus
    this instance's own part. Anything that stops the read is a StateError (exit 2)."""
    backend = open_backend(config, secrets=secrets)
    try:
        return backend.load()
    except StateWriteError as exc:  # Redis down: for a reader, an error like any other
        raise StateError(str(exc)) from exc
    finally:
        backend.close()
