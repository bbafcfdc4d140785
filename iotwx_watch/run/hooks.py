"""What the daemon attaches to the runner: metrics, health-driven and engine-driven notifications.

Two feeds reach the sinks. The engine's :class:`~iotwx_watch.engine.core.Outcome` objects
(a corp obtained, a secret reset, an IP to whitelist, a code failed...) are events:
each is turned into one :class:`~iotwx_watch.report.notify.Notification`. Ticket staleness
and missing logs are conditions: :class:`HealthAlerts` compares the health model
after every batch with the previous one and sends one message when a condition
starts or worsens and one when it clears.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from iotwx_watch.config import Config
from iotwx_watch.engine.outcomes import Outcome
from iotwx_watch.engine.port import CallRecord
from iotwx_watch.errors import ConfigError
from iotwx_watch.log import SecretRegistry, get_logger
from iotwx_watch.report.health import (
    ACTION_NEW_CODE,
    ACTION_TICKET,
    TICKET_WARN_S,
    WHERE,
    WHITELIST_NOTE,
    Problem,
    assess_deployment,
)
from iotwx_watch.report.metrics import MetricsExporter, RunnerView
from iotwx_watch.report.notify import Notification, NotificationFanout, Severity
from iotwx_watch.run.runner import BatchHook

log = get_logger("observers")

# Conditions the health notifier watches; codes, IPs and corps come from engine notices.
WATCHED_PREFIXES = ("ticket_", "source_")


def _corp(notice: Outcome) -> str:
    name = f" ({notice.corp_name})" if notice.corp_name else ""
    return f"{notice.corpid or '?'}{name}"


def outcome_notification(notice: Outcome, now: float) -> Notification:
    """Words for an engine notice: what happened, the ids, and what to do. No secret."""
    suite = notice.suite_id or "?"
    fields: dict[str, str | int | float | None] = {
        "suite_id": notice.suite_id, "corpid": notice.corpid, "corp_name": notice.corp_name,
        "agentid": notice.agentid, "ip": notice.ip, "whitelist": notice.whitelist,
        "errcode": notice.errcode,
    }
    fields = {k: v for k, v in fields.items() if v is not None}
    severity: Severity = "warn"
    lines: list[str] = [f"suite {suite}"]
    kind = notice.kind
    if kind in ("corp_obtained", "secret_reset"):
        severity = "info"
        title = ("New corp credentials: " if kind == "corp_obtained" else "App secret reset: ")
        title += _corp(notice)
        lines += [f"corpid {notice.corpid}", f"name {notice.corp_name or '?'}",
                  f"agentid {notice.agentid}",
                  "the Secret is in the state file: iotwx-watch status --show-secrets"]
        key = f"corp:{suite}:{notice.corpid}"
    elif kind == "corp_cancelled":
        severity = "info"
        title = f"Corp cancelled the authorization: {_corp(notice)}"
        lines += [f"agentid {notice.agentid}", "its Secret was removed from the state file"]
        key = f"corp:{suite}:{notice.corpid}"
    elif kind in ("ip_to_whitelist", "egress_ip_changed"):
        place = notice.whitelist or "provider"
        severity = "critical" if place == "provider" else "warn"
        title = (f"Whitelist {notice.ip} ({place})" if kind == "ip_to_whitelist"
                 else f"Our egress IP changed: WeCom now sees {notice.ip}")
        if notice.corpid:
            lines.append(f"corp {notice.corpid}")
        lines += [f"add it at: {WHERE.get(place, place)}", WHITELIST_NOTE]
        if kind == "egress_ip_changed" and notice.detail:
            lines.append(notice.detail)
        key = f"ip:{place}:{notice.ip}"
    elif kind == "ticket_rejected":
        severity = "critical"
        title = f"WeCom rejected the suite_ticket of {suite} (40085)"
        lines += [notice.detail or "", ACTION_TICKET]
        key = f"ticket:{suite}"
    else:  # auth_code_failed / auth_code_expired / auth_code_interrupted
        severity = "critical"
        what = kind.removeprefix("auth_code_")
        code = f" (errcode {notice.errcode})" if notice.errcode is not None else ""
        title = f"Auth code {what} for suite {suite}{code}"
        lines.append(notice.detail or ACTION_NEW_CODE)  # the engine's detail carries its hint
        key = f"auth_code:{suite}:{kind}:{notice.detail or ''}"
    return Notification(kind, key, severity, title, tuple(x for x in lines if x), fields, now)


def problem_notification(problem: Problem, now: float) -> Notification:
    severity: Severity = "critical" if problem.level == "critical" else "warn"
    lines = (problem.action,) if problem.action else ()
    fields = {"suite_id": problem.suite_id, "level": problem.level}
    return Notification(problem.code, problem.key, severity, problem.message, lines, fields, now)


def recovery_notification(problem: Problem, now: float) -> Notification:
    kind = problem.code.split("_", 1)[0] + "_recovered"
    subject = problem.key.split(":", 1)[1]
    title = {
        "ticket_recovered": f"suite_ticket of {subject} is fresh again",
        "source_recovered": f"log {subject} is back",
    }.get(kind, f"{problem.code} cleared: {subject}")
    return Notification(kind, problem.key, "ok", title, (), {"suite_id": problem.suite_id}, now)


class HealthAlerts:
    """Edge-triggered: one message when a watched condition starts or worsens, one when it ends.

    A suite with no ticket yet is not news for the first 20 minutes after start-up (the
    next push is at most 10 minutes away).
    """

    def __init__(
        self, notifier: NotificationFanout, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.notifier = notifier
        self.clock = clock
        self.started_at = clock()
        self.active: dict[str, Problem] = {}

    def after_batch(self, runner: RunnerView) -> None:
        now = self.clock()
        model = assess_deployment(runner.config, runner.state, now=now)
        self.update(model.problems, now)

    def update(self, problems: tuple[Problem, ...], now: float) -> None:
        current: dict[str, Problem] = {}
        for p in problems:
            if not p.code.startswith(WATCHED_PREFIXES):
                continue
            if p.code == "ticket_missing" and now - self.started_at < TICKET_WARN_S:
                continue
            current[p.key] = p
        for key, p in current.items():
            before = self.active.get(key)
            if before is None or (before.code, before.level) != (p.code, p.level):
                self.notifier.publish(problem_notification(p, now))
        for key, p in self.active.items():
            if key not in current:
                self.notifier.publish(recovery_notification(p, now))
        self.active = current


@dataclass
class BatchHooks:
    """Everything the daemon hooks into the runner, the engine and the WeCom client."""

    batch: list[BatchHook]
    on_outcome: Callable[[Outcome], None] | None
    on_call: Callable[[CallRecord], None] | None = None
    _closers: list[Callable[[], None]] = field(default_factory=list)

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
) -> BatchHooks:
    """Build what the config asks for; the metrics listener is started here.

    ``sink_options`` tunes every sink (timeouts, retry base, spacing): for tests.
    """
    observers = BatchHooks(batch=[], on_outcome=None)
    notifier: NotificationFanout | None = None
    if config.notify:
        options = {"secrets": secrets, **(sink_options or {})}
        notifier = NotificationFanout.from_config(config.notify, clock=clock, **options)
        observers._closers.append(notifier.close)
        observers.batch.append(HealthAlerts(notifier, clock=clock))
    if config.metrics.textfile or config.metrics.listen:
        exporter = MetricsExporter(
            config.metrics, clock=clock, notification_stats=notifier.stats if notifier else None
        )
        try:
            exporter.start()
        except ConfigError:
            observers.close()
            raise
        observers.batch.append(exporter)
        observers.on_call = exporter.record_call
        observers._closers.append(exporter.close)
    if notifier is not None:
        publish = notifier.publish

        def on_outcome(notice: Outcome) -> None:
            publish(outcome_notification(notice, clock()))

        observers.on_outcome = on_outcome
    return observers
