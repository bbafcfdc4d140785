"""The run loop behind `once` and `run`: follower → extractor → engine → state.

Nothing here decides what to call (that is the engine) or how to read a file (the
follower); this module only moves bytes and events between them, saves the state
after each batch, and answers signals. Cursors are saved in the same atomic write as
the results they led to, so a crash can repeat a read but never lose one.

Saving: a batch that changed a result writes at once; a batch that only moved cursors
(noise) writes at most every ``CURSOR_SAVE_INTERVAL_S`` and at exit, so a busy log does
not cost an fsync per wake-up and a crash re-reads at most a few seconds of noise. A
write that fails (disk full, I/O error) never stops the process: what was learned stays
in memory, the write is retried with backoff, and :attr:`Runner.write_failure` says so.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from iotwx_watch.config import Config, SourceConfig
from iotwx_watch.engine.core import Engine
from iotwx_watch.engine.ledger_port import SharedLedger
from iotwx_watch.engine.outcomes import Outcome
from iotwx_watch.engine.port import WeComApi
from iotwx_watch.errors import StateWriteError
from iotwx_watch.follow.follower import Cursor, Follower
from iotwx_watch.log import SecretRegistry, get_logger
from iotwx_watch.run.missed import note_files, reread_missed
from iotwx_watch.run.reader import SourceReader
from iotwx_watch.state.backend import (
    SharedBackend,
    StateBackend,
    instance_name,
    open_backend,
)
from iotwx_watch.state.model import ReadProblem, State

log = get_logger("runner")
_follow_log = get_logger("follow")

CURSOR_SAVE_INTERVAL_S = 5.0
WRITE_RETRY_BASE_S = 1.0
WRITE_RETRY_CAP_S = 30.0


@dataclass
class WriteFailure:
    """The state could not be written since ``since``; retried at ``next_retry_at``."""

    since: float
    error: str
    attempts: int = 1
    next_retry_at: float = 0.0


class Progress(Protocol):
    """Told after each chunk of a catch-up: bytes read so far, and of how many in all."""

    def update(self, done: int, total: int) -> None: ...

    def close(self) -> None: ...


class BatchHook(Protocol):
    """Told after every batch (metrics, notifications, systemd status); must not raise."""

    def after_batch(self, runner: Runner) -> None: ...


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
        backend = open_backend(config, secrets=self.secrets, clock=clock)
        self.backend: StateBackend = backend
        # With a shared state the backend settles claims and tokens between instances;
        # a state file is this process's alone (the engine's LocalLedger).
        self.ledger: SharedLedger | None = None
        self.instance: str | None = None
        if isinstance(backend, SharedBackend):
            self.ledger, self.instance = backend, instance_name(config)
        self.api = api
        self.clock = clock
        self.on_outcome = on_outcome
        self.observers = list(observers)
        self.state = State()
        self.readers: list[SourceReader] = []
        self.engine: Engine | None = None
        self.batches = 0
        self.bytes_read = 0  # by every batch so far, all sources
        self.last_batch_at: float | None = None
        self.last_event_at: float | None = None
        self.write_failure: WriteFailure | None = None
        self.cursor_save_interval_s = CURSOR_SAVE_INTERVAL_S
        self._saved_cursors: dict[str, dict[str, Any]] = {}
        self._last_write_at = float("-inf")
        self._stack = ExitStack()

    # -- lifecycle -------------------------------------------------------------------
    def open(self) -> None:
        """Take the lock, load the state, recover interrupted work, open the sources."""
        self._stack.enter_context(self.backend.lock())
        try:
            self.state = self.backend.load()
        except BaseException:
            self._stack.close()
            raise
        self._saved_cursors = _copy_cursors(self.state)
        self.engine = self._make_engine()
        self.engine.recover()
        self.readers = [self._make_reader(source) for source in self.config.sources]

    def close(self) -> None:
        """Save what is unsaved (cursors included), then release the files and the lock."""
        try:
            if self.engine is not None:
                self.checkpoint(acted=True)
        finally:
            for reader in self.readers:
                reader.close()
            self.readers = []
            self.backend.close()
            self._stack.close()
        if self.write_failure is not None:
            log.critical("runner.unsaved_at_exit", path=self.backend.where,
                         since=self.write_failure.since, error=self.write_failure.error)

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
            ledger=self.ledger,
            instance=self.instance,
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
        self.engine.retry_now("reload")
        reread_missed(self.state, config, self.engine)
        self.checkpoint(acted=True)
        log.info("runner.reloaded", sources=len(self.readers), suites=len(config.suites))

    # -- work ------------------------------------------------------------------------
    @property
    def active_engine(self) -> Engine:
        if self.engine is None:
            raise RuntimeError("Runner.open() was not called")
        return self.engine

    def batch(self, *, limit_to_snapshot: bool = False, progress: Progress | None = None) -> int:
        """Read what is new in every source, act on it, save; returns the number of events.

        Each source is read one bounded chunk at a time: the chunk's events go to the
        engine, then the source's cursor moves to the extractor's resume point, so memory
        does not grow with the backlog and a crash in a long catch-up resumes from the last
        save (written by the engine around each WeCom call, and every few seconds by
        :meth:`checkpoint`) without skipping a record or redeeming a code twice.
        """
        engine = self.active_engine
        arrived = self._refresh()
        if self.ledger is not None:
            engine.ticket_waits_over()
        count = 0
        done = 0
        for index, reader in enumerate(self.readers):
            before = reader.follower.stats["bytes_read"]
            for events in reader.chunks(limit_to_snapshot=limit_to_snapshot):
                if events:
                    engine.handle(events, recorded=partial(self._keep_cursor, reader))
                    count += len(events)
                self._keep_cursor(reader)
                self.checkpoint(acted=False)  # a long catch-up saves its progress now and then
                if progress is not None:
                    read = done + reader.follower.stats["bytes_read"] - before
                    left = sum(r.follower.backlog() for r in self.readers[index:])
                    progress.update(read, read + left)
            done += reader.follower.stats["bytes_read"] - before
            self._keep_cursor(reader)
            self._note_read_problem(reader)
        self.bytes_read += done
        attempts = engine.tick()
        self.checkpoint(acted=count > 0 or attempts > 0 or arrived)
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

    def _refresh(self) -> bool:
        """Take in what other instances wrote to a shared state (nothing for a file).

        Skipped while a write waits for its retry (the store is down: no point asking);
        a failure counts as a failed write, retried with the same backoff. True when
        something arrived (the mirror and the local file are then written this batch). A
        ticket that arrived frees the codes waiting for one (ticket_waits_over).
        """
        failure = self.write_failure
        if failure is not None and self.clock() < failure.next_retry_at:
            return False
        try:
            return self.backend.refresh(self.state)
        except StateWriteError as exc:
            self._write_failed(str(exc), self.clock())
            return False

    def catch_up(self, *, limit_to_snapshot: bool, progress: Progress | None = None) -> int:
        """The first batch (the backlog since the saved cursors), with one
        ``follow.catch_up`` line saying how much was read and how fast."""
        started, before = time.monotonic(), self.bytes_read
        try:
            count = self.batch(limit_to_snapshot=limit_to_snapshot, progress=progress)
        finally:
            if progress is not None:
                progress.close()
        seconds = time.monotonic() - started
        read = self.bytes_read - before
        _follow_log.info("follow.catch_up", bytes=read, seconds=round(seconds, 3),
                         mb_per_s=round(read / 1e6 / seconds, 1) if seconds > 0 else None,
                         events=count, sources=len(self.readers))
        return count

    def _keep_cursor(self, reader: SourceReader) -> None:
        cursor = reader.cursor()
        if cursor is not None:
            self.state.sources[reader.config.path] = cursor.to_json()
            if self.state.missed_records:
                note_files(self.state, reader.config.path, cursor.dev, cursor.inode)

    def _note_read_problem(self, reader: SourceReader) -> None:
        """Keep in the state why a log cannot be read (e.g. permissions), for `status`,
        which may run as another user and could read the file itself."""
        path = reader.config.path
        problems = self.state.source_errors
        problem = reader.follower.read_problem
        if problem is None:
            problems.pop(path, None)
        elif path not in problems or problems[path].error != problem[0]:
            problems[path] = ReadProblem(error=problem[0], since=self.clock(), errno=problem[1],
                                         uid=os.geteuid())

    def save(self) -> None:
        """Write the state now if it changed since the last write (the backend knows).

        Raises :class:`StateWriteError` when the write fails (the engine's claim before a
        WeCom call needs to know); the failure is also kept in :attr:`write_failure`.
        """
        now = self.clock()
        try:
            wrote = self.backend.save(self.state)
        except StateWriteError as exc:
            self._write_failed(str(exc), now)
            raise
        if wrote:
            self._saved_cursors = _copy_cursors(self.state)
            self._last_write_at = now
        self._write_recovered()

    def checkpoint(self, *, acted: bool) -> None:
        """After a batch: results are saved at once, cursor-only progress now and then.

        Never raises: a failed write is retried at the next checkpoint after its backoff.
        """
        now = self.clock()
        failure = self.write_failure
        if failure is not None and now < failure.next_retry_at and not acted:
            return
        cursors_moved = self.state.sources != self._saved_cursors
        due = now - self._last_write_at >= self.cursor_save_interval_s
        if acted or failure is not None or (cursors_moved and due):
            with contextlib.suppress(StateWriteError):  # kept in write_failure; retried
                self.save()

    @property
    def unsaved(self) -> bool:
        """True while something learned exists only in memory."""
        return self.write_failure is not None

    def _write_failed(self, error: str, now: float) -> None:
        failure = self.write_failure
        if failure is None:
            failure = self.write_failure = WriteFailure(since=now, error=error)
        else:
            failure.attempts += 1
            failure.error = error
        delay = min(WRITE_RETRY_BASE_S * 2.0 ** min(failure.attempts - 1, 16), WRITE_RETRY_CAP_S)
        failure.next_retry_at = now + delay
        log.critical("runner.state_write_failed", path=self.backend.where, error=error,
                     attempts=failure.attempts, retry_in_s=delay)

    def _write_recovered(self) -> None:
        if self.write_failure is not None:
            log.warning("runner.state_write_recovered", path=self.backend.where,
                        attempts=self.write_failure.attempts)
            self.write_failure = None
            if self.engine is not None:  # codes held back by the failure go now
                self.engine.retry_waiting_for("state")

    def seconds_until_due(self, default: float) -> float:
        """How long the loop may sleep: until a code is due, a write retry, or ``default``."""
        times = [self.clock() + default]
        due = self.active_engine.next_due()
        if due is not None:
            times.append(due)
        if self.write_failure is not None:
            times.append(self.write_failure.next_retry_at)
        elif self.state.sources != self._saved_cursors:
            times.append(self._last_write_at + self.cursor_save_interval_s)
        return max(0.0, min(times) - self.clock())


def _copy_cursors(state: State) -> dict[str, dict[str, Any]]:
    return {path: dict(cursor) for path, cursor in state.sources.items()}
