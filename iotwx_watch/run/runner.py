"""The run loop behind `once` and `run`: follower → extractor → engine → state.

Nothing here decides what to call (that is the engine) or how to read a file (the
follower); this module only moves bytes and events between them, saves the state
after each batch, and answers signals. Cursors are saved in the same atomic write as
the results they led to, so a crash can repeat a read but never lose one.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, Protocol

from iotwx_watch.config import Config, SourceConfig
from iotwx_watch.engine.core import Engine
from iotwx_watch.engine.outcomes import Outcome
from iotwx_watch.engine.port import WeComApi
from iotwx_watch.events import Event
from iotwx_watch.extract import Extractor, make_extractor
from iotwx_watch.follow.follower import Cursor, Follower
from iotwx_watch.log import SecretRegistry, get_logger
from iotwx_watch.state.store import State, StateStore

log = get_logger("runner")


class BatchHook(Protocol):
    """Told after every batch (metrics, notifications, systemd status); must not raise."""

    def after_batch(self, runner: Runner) -> None: ...


@dataclass
class SourceReader:
    """One configured log: its follower and the extractor for the file being read."""

    config: SourceConfig
    follower: Follower
    app_config: Config
    extractor: Extractor | None = None
    stats: Counter[str] = field(default_factory=Counter)

    def read(self, *, limit_to_snapshot: bool) -> list[Event]:
        """Hand every new complete line to the extractor; return the events, in log order."""
        events: list[Event] = []
        for chunk in self.follower.read(limit_to_snapshot=limit_to_snapshot):
            if chunk.new_file or self.extractor is None:
                self._retire_extractor()
                self.extractor = make_extractor(
                    self.config.kind,
                    path=self.config.path,
                    config=self.app_config,
                    max_line_bytes=self.app_config.max_line_bytes,
                )
            events.extend(self.extractor.feed(chunk.data, chunk.offset))
            if chunk.final:
                events.extend(self.extractor.finish())
                self._retire_extractor()
        return events

    def _retire_extractor(self) -> None:
        if self.extractor is not None:
            self.stats.update(self.extractor.stats)
            self.extractor = None

    def extractor_stats(self) -> Counter[str]:
        """Counters so far, including those of the extractor still in use."""
        total = Counter(self.stats)
        if self.extractor is not None:
            total.update(self.extractor.stats)
        return total

    def cursor(self) -> Cursor | None:
        """Where a restart must resume: the extractor's resume point in the current file,
        or the follower's position when no bytes of it were handed on yet."""
        if self.extractor is not None:
            return self.follower.cursor_at(self.extractor.resume_offset)
        return self.follower.cursor_at(self.follower.position)

    def close(self) -> None:
        self.follower.close()


class Runner:
    """Owns the state for one `once` or `run`: the lock, the readers, the engine."""

    def __init__(
        self,
        config: Config,
        *,
        api: WeComApi | None,
        clock: Callable[[], float] = time.time,
        on_outcome: Callable[[Outcome], None] | None = None,
        observers: Sequence[BatchHook] = (),
        secrets: SecretRegistry | None = None,
    ) -> None:
        self.secrets = secrets or SecretRegistry()
        self.config = config
        self.store = StateStore(config.state_file)
        self.api = api
        self.clock = clock
        self.on_outcome = on_outcome
        self.observers = list(observers)
        self.state = State()
        self.readers: list[SourceReader] = []
        self.engine: Engine | None = None
        self.batches = 0
        self.last_batch_at: float | None = None
        self.last_event_at: float | None = None
        self._saved_snapshot: dict[str, Any] | None = None
        self._stack = ExitStack()

    # -- lifecycle -------------------------------------------------------------------
    def open(self) -> None:
        """Take the lock, load the state, recover interrupted work, open the sources."""
        self._stack.enter_context(self.store.lock())
        self.state = self.store.load()
        self._saved_snapshot = self._snapshot()
        self.engine = self._make_engine()
        self.engine.recover()
        self.readers = [self._make_reader(source) for source in self.config.sources]

    def close(self) -> None:
        for reader in self.readers:
            reader.close()
        self.readers = []
        self._stack.close()

    def __enter__(self) -> Runner:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _make_engine(self) -> Engine:
        return Engine(
            config=self.config,
            state=self.state,
            api=self.api,
            persist=self.save,
            clock=self.clock,
            on_outcome=self.on_outcome,
            secrets=self.secrets,
        )

    def _make_reader(self, source: SourceConfig) -> SourceReader:
        saved = self.state.sources.get(source.path)
        cursor = Cursor.from_json(saved) if saved else None
        follower = Follower(
            source.path,
            cursor=cursor,
            start=self.config.start,
            rotated_glob=source.rotated_glob,
            rotate_wait_s=self.config.rotate_wait_s,
        )
        return SourceReader(config=source, follower=follower, app_config=self.config)

    def reload(self, config: Config) -> None:
        """Apply a new config (SIGHUP).

        Every reader is rebuilt from the cursor it has reached, exactly as after a
        restart, so new patterns, suites and limits apply at once and nothing is read
        twice or skipped; sources no longer configured are dropped from the state.
        """
        for reader in self.readers:
            cursor = reader.cursor()
            if cursor is not None:
                self.state.sources[reader.config.path] = cursor.to_json()
            reader.close()
        wanted = {source.path for source in config.sources}
        for path in list(self.state.sources):
            if path not in wanted:
                del self.state.sources[path]
        self.config = config
        self.readers = [self._make_reader(source) for source in config.sources]
        self.engine = self._make_engine()
        self.save()
        log.info("runner.reloaded", sources=len(self.readers), suites=len(config.suites))

    # -- work ------------------------------------------------------------------------
    @property
    def active_engine(self) -> Engine:
        if self.engine is None:
            raise RuntimeError("Runner.open() was not called")
        return self.engine

    def batch(self, *, limit_to_snapshot: bool = False) -> int:
        """Read what is new in every source, act on it, save; returns the number of events."""
        engine = self.active_engine
        count = 0
        for reader in self.readers:
            events = reader.read(limit_to_snapshot=limit_to_snapshot)
            if events:
                engine.handle(events)
                count += len(events)
            cursor = reader.cursor()
            if cursor is not None:
                self.state.sources[reader.config.path] = cursor.to_json()
        engine.tick()
        self.save()
        self.batches += 1
        self.last_batch_at = self.clock()
        if count:
            self.last_event_at = self.last_batch_at
        for observer in self.observers:
            try:
                observer.after_batch(self)
            except Exception:  # an observer must never stop the pipeline
                log.exception("runner.observer_failed", observer=type(observer).__name__)
        return count

    def _snapshot(self) -> dict[str, Any]:
        snapshot = self.state.to_json()
        snapshot.pop("updated_at", None)
        return snapshot

    def save(self) -> None:
        """Write the state if it changed since the last write."""
        snapshot = self._snapshot()
        if snapshot == self._saved_snapshot:
            return
        self.store.save(self.state)
        self._saved_snapshot = snapshot

    def seconds_until_due(self, default: float) -> float:
        due = self.active_engine.next_due()
        if due is None:
            return default
        return max(0.0, min(default, due - self.clock()))
