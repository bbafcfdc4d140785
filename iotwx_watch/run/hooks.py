"""What the daemon attaches to the runner: notifications, the metrics exporter, and the
record of what the daemon cannot do for itself.

Order matters after each batch: first the service problems (a metrics listener that
cannot bind) are written into the state, then :class:`~iotwx_watch.run.notices.Notices`
judges the health model (which sees them) and settles the outbox, and last the metrics
are exported from that same state.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import TYPE_CHECKING, Any

from iotwx_watch.config import Config
from iotwx_watch.engine.outcomes import Outcome
from iotwx_watch.engine.port import CallRecord
from iotwx_watch.log import SecretRegistry, get_logger
from iotwx_watch.run.runner import BatchHook, Runner
from iotwx_watch.state.model import ServiceProblem

if TYPE_CHECKING:  # imported by hooks_for when the config asks for them (httpx, prometheus)
    from iotwx_watch.report.metrics import MetricsExporter
    from iotwx_watch.run.notices import Notices, OutboxPolicy

log = get_logger("observers")

METRICS_FACILITY = "metrics_listen"
STATE_FACILITY = "state_write"


@dataclass
class ListenerWatch:
    """Retries a metrics listener that could not bind and keeps its failure in the state,
    where `status` (another process) and the notifications see it."""

    exporter: MetricsExporter | None
    clock: Callable[[], float] = time.time

    def after_batch(self, runner: Runner) -> None:
        now = self.clock()
        error = None
        if self.exporter is not None:
            self.exporter.retry_listen(now)
            error = self.exporter.listen_error
        errors = runner.state.service_errors
        current = errors.get(METRICS_FACILITY)
        if error is None and current is not None:
            del errors[METRICS_FACILITY]
        elif error is not None and (current is None or current.error != error):
            errors[METRICS_FACILITY] = ServiceProblem(
                error, since=current.since if current is not None else now)
        else:
            return
        runner.checkpoint(acted=True)


@dataclass
class StateWatch:
    """A state that cannot be written (full disk, Redis down) is known to the runner only:
    it is put into this instance's service problems in memory, where the health model,
    the notifications and the metrics see it, and taken out once a write works again."""

    def after_batch(self, runner: Runner) -> None:
        failure = runner.write_failure
        errors = runner.state.service_errors
        current = errors.get(STATE_FACILITY)
        if failure is not None:
            if current is None or current.error != failure.error:
                errors[STATE_FACILITY] = ServiceProblem(failure.error, since=failure.since)
        elif current is not None:
            del errors[STATE_FACILITY]
            runner.checkpoint(acted=True)


@dataclass
class BatchHooks:
    """Everything the daemon hooks into the runner, the engine and the WeCom client."""

    batch: list[BatchHook]
    on_outcome: Callable[[Outcome], None] | None
    on_call: Callable[[CallRecord], None] | None = None
    notices: Notices | None = None
    exporter: MetricsExporter | None = None
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def attach(self, runner: Runner) -> None:
        """Tell the hooks which runner's state to write (outcomes arrive inside batches)."""
        if self.notices is not None:
            self.notices.attach(runner)

    def flush(self, runner: Runner, timeout_s: float) -> None:
        """Before exiting: deliver what is due, waiting at most ``timeout_s``; the rest
        stays in the state's outbox."""
        if self.notices is not None:
            try:
                self.notices.flush(runner, timeout_s)
            except Exception:  # the exit must go on: the outbox is retried next time
                log.exception("observers.flush_failed")

    def close(self) -> None:
        """Stop the HTTP listener and the sink threads (bounded: never hangs the shutdown)."""
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception:
                log.exception("observers.close_failed")
        self._closers.clear()


def hooks_for(
    config: Config,
    *,
    clock: Callable[[], float] = time.time,
    sink_options: Mapping[str, Any] | None = None,
    secrets: SecretRegistry | None = None,
    deployment: str = "iotwx-watch",
    tz: tzinfo = UTC,
    policy: OutboxPolicy | None = None,
    build_info: Mapping[str, str] | None = None,
) -> BatchHooks:
    """Build what the config asks for; the metrics listener is started (or retried) here.

    ``deployment`` is the name messages carry when the config has no ``name`` (the CLI
    passes the host name); ``tz`` is the readers' time zone. ``sink_options`` and
    ``policy`` tune the sinks and the outbox: for tests.
    """
    hooks = BatchHooks(batch=[], on_outcome=None)
    if config.metrics.enabled:
        from iotwx_watch.report.metrics import MetricsExporter

        exporter = MetricsExporter(config.metrics, clock=clock, build_info=build_info)
        exporter.start()
        hooks.exporter = exporter
        hooks.on_call = exporter.record_call
        hooks._closers.append(exporter.close)
    hooks.batch.append(ListenerWatch(hooks.exporter, clock))
    hooks.batch.append(StateWatch())
    if config.notify:
        from iotwx_watch.report.messages import MessageContext
        from iotwx_watch.report.notify import NotificationFanout
        from iotwx_watch.run.notices import Notices, OutboxPolicy

        options = {"secrets": secrets, **(sink_options or {})}
        fanout = NotificationFanout.from_config(config.notify, **options)
        hooks._closers.append(fanout.close)
        context = MessageContext(config.name or deployment, config.language, tz)
        notices = Notices(config, fanout, context, clock=clock, policy=policy or OutboxPolicy())
        hooks.notices = notices
        hooks.on_outcome = notices.on_outcome
        hooks.batch.append(notices)
    if hooks.exporter is not None:
        hooks.batch.append(hooks.exporter)
    return hooks
