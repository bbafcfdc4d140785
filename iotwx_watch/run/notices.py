"""Durable notifications: the conditions told and the messages owed live in the state.

Two feeds make messages. The engine's outcomes (a corp obtained, an IP to whitelist, a
code failed, …) are events: one message each, queued in the same state write as the
result they report, so a `once` that records an address also records that it must be
announced. Health problems (a stale ticket, a log gone, an address still refused, a code
waiting for an operator) are *conditions* (``state.notifications.conditions``): one
message when one starts, one when it changes, a reminder every ``remind_*_s`` while it
lasts, one when it clears. Because the conditions are in the state, `once` every minute
and a `run` that restarts behave alike: nothing is repeated per pass, nothing forgotten.

Every message waits in the outbox (``state.notifications.outbox``), one entry per sink,
until the sink took it (or probably did: see :mod:`iotwx_watch.report.notify`) or it
expired. Failed posts are retried with backoff across passes and restarts. This module
runs in the loop's thread and never waits for a sink, except in :meth:`Notices.flush`,
which `once` and a stopping `run` call with a bound.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from iotwx_watch.config import Config
from iotwx_watch.engine.outcomes import Outcome
from iotwx_watch.log import get_logger
from iotwx_watch.report.findings import TICKET_WARN_S, HealthReport, Problem
from iotwx_watch.report.health import assess_deployment
from iotwx_watch.report.messages import (
    Event,
    MessageContext,
    Notification,
    condition_message,
    outcome_message,
)
from iotwx_watch.report.notify import Delivery, NotificationFanout
from iotwx_watch.run.runner import Runner
from iotwx_watch.state.model import ConditionEntry, NotifyState, OutboxEntry, SinkRecord, State

log = get_logger("notify")

# Health problems that are conditions worth a message; the rest only show in `status`.
WATCHED = ("ticket_", "source_", "ip_to_whitelist", "auth_code_", "records_", "metrics_unbound",
           "record_unrecognized", "cancel_unconfirmed", "no_sources", "state_unwritable")
# Their end is said by another message (the corp obtained) or is no news (a code aged out).
QUIET_CLEAR = ("auth_code_",)
# Outcomes that also open the condition `status` will show for the same item.
OUTCOME_CONDITIONS = {
    "ip_to_whitelist": "ip_to_whitelist", "ticket_rejected": "ticket_rejected",
    "auth_code_failed": "auth_code_failed", "auth_code_expired": "auth_code_expired",
    "auth_code_interrupted": "auth_code_failed",
}
# A code waiting for one of these needs an operator now: its ten minutes are running.
OPERATOR_WAITS = frozenset({"config", "ip", "ticket", "state"})
TRANSIENT_HOLD_S = 60.0  # a code retried by itself, or a log between rename and create


@dataclass(frozen=True)
class OutboxPolicy:
    """How the outbox retries: backoff between a sink's failures, and its bounds."""

    retry_base_s: float = 10.0
    retry_max_s: float = 600.0
    max_in_flight: int = 5  # messages handed to one sink at once
    max_waiting: int = 500  # per sink; beyond it the oldest expire


@dataclass
class _Pending:
    """An outcome seen before the runner was attached (kept until the next batch)."""

    outcome: Outcome
    at: float


@dataclass
class Notices:
    """A BatchHook: conditions and outbox in the runner's state, sinks fed from the outbox."""

    config: Config
    fanout: NotificationFanout
    context: MessageContext
    clock: Callable[[], float] = time.time
    policy: OutboxPolicy = field(default_factory=OutboxPolicy)
    runner: Runner | None = None
    _adopt: set[str] = field(default_factory=set)
    _in_flight: dict[str, str] = field(default_factory=dict)  # outbox id → sink name
    _early: list[_Pending] = field(default_factory=list)

    # -- events ---------------------------------------------------------------------
    def attach(self, runner: Runner) -> None:
        """The runner whose state holds the outbox (outcomes arrive inside its batches)."""
        self.runner = runner

    def on_outcome(self, outcome: Outcome) -> None:
        """Queue the outcome's message in the state now, so it is saved with the result."""
        now = self.clock()
        if self.runner is None:
            self._early.append(_Pending(outcome, now))
            return
        self._record(self.runner.state, outcome, now)

    def _record(self, state: State, outcome: Outcome, now: float) -> None:
        message = outcome_message(outcome, state, self.context, now)
        self._enqueue(state.notifications, message, now)
        code = OUTCOME_CONDITIONS.get(outcome.kind)
        if code is not None:
            level = "critical" if message.severity == "critical" else "warn"
            state.notifications.conditions[message.key] = ConditionEntry(
                code, level, since=now, announced_at=now)
            self._adopt.add(message.key)

    def _enqueue(self, notes: NotifyState, message: Notification, now: float) -> None:
        for sink in self.fanout.sinks:
            notes.seq += 1
            notes.outbox[f"n{notes.seq}"] = OutboxEntry(
                sink=sink.name, kind=message.kind, key=message.key, severity=message.severity,
                title=message.title, created_at=now,
                expires_at=now + sink.config.expire_after_s, lines=list(message.lines),
                fields=dict(message.fields), next_attempt_at=now)
            self._bound(notes, sink.name, now)

    def _bound(self, notes: NotifyState, sink: str, now: float) -> None:
        waiting = sorted((e.created_at, i) for i, e in notes.outbox.items()
                         if e.sink == sink and i not in self._in_flight)
        for _, entry_id in waiting[: max(0, len(waiting) - self.policy.max_waiting)]:
            self._expire(notes, entry_id, now, "too many messages waiting")

    # -- conditions -----------------------------------------------------------------
    def after_batch(self, runner: Runner) -> None:
        """Update conditions from the health model, settle and send the outbox, save."""
        self.runner = runner
        now = self.clock()
        state = runner.state
        before = _fingerprint(state.notifications)
        for pending in self._early:
            self._record(state, pending.outcome, pending.at)
        self._early.clear()
        report = assess_deployment(runner.config, state, now=now)
        self.update(state, report)
        settled = self.pump(state, now)
        if settled or _fingerprint(state.notifications) != before:
            runner.checkpoint(acted=True)

    def update(self, state: State, report: HealthReport) -> None:
        """Open, change, remind and close conditions; queue one message for each of those."""
        now = report.now
        conditions = state.notifications.conditions
        watched = {p.key: p for p in report.problems if p.code.startswith(WATCHED)}
        for key, problem in watched.items():
            cond = conditions.get(key)
            if key in self._adopt and cond is not None:  # opened by an outcome just now
                cond.code, cond.level = problem.code, problem.level
                continue
            if cond is None:
                cond = conditions[key] = ConditionEntry(problem.code, problem.level, since=now)
            event = self._event(cond, problem, state, now)
            if event is not None:
                self._say(state, problem, event, report, cond.since)
                cond.code, cond.level, cond.announced_at = problem.code, problem.level, now
                cond.reminders += event == "reminder"
        for key in [k for k in conditions if k not in watched]:
            cond = conditions.pop(key)
            if (cond.announced_at is not None and key not in self._adopt
                    and not cond.code.startswith(QUIET_CLEAR)):
                gone = Problem(cond.code, "warn" if cond.level == "warn" else "critical", key,
                               cond.code)
                self._say(state, gone, "clear", report, cond.since)
        self._adopt.clear()

    def _event(self, cond: ConditionEntry, problem: Problem, state: State,
               now: float) -> Event | None:
        if cond.announced_at is None:
            return "start" if now - cond.since >= _hold(problem, state) else None
        if (cond.code, cond.level) != (problem.code, problem.level):
            return "update"
        every = (self.config.remind_critical_s if problem.level == "critical"
                 else self.config.remind_warn_s)
        if every > 0 and now - cond.announced_at >= every:
            return "reminder"
        return None

    def _say(self, state: State, problem: Problem, event: Event, report: HealthReport,
             since: float) -> None:
        message = condition_message(problem, event, report, state, self.context, since=since,
                                    listen=self.config.metrics.listen or "")
        log.info("notify.condition", key=problem.key, code=problem.code, change=event)
        self._enqueue(state.notifications, message, report.now)

    # -- the outbox -----------------------------------------------------------------
    def pump(self, state: State, now: float) -> bool:
        """Record what the sinks did, expire what is too old, hand on what is due.

        Returns whether the state changed.
        """
        notes = state.notifications
        changed = self.collect(state, now)
        for entry_id, entry in sorted(notes.outbox.items(), key=lambda kv: kv[1].created_at):
            if entry_id in self._in_flight:
                continue
            target = self.fanout.by_name.get(entry.sink)
            if target is None or now >= entry.expires_at:
                why = "its sink is no longer configured" if target is None else "expired"
                self._expire(notes, entry_id, now, why)
                changed = True
                continue
            busy = sum(1 for name in self._in_flight.values() if name == entry.sink)
            if (entry.next_attempt_at or 0.0) <= now and busy < self.policy.max_in_flight:
                self._in_flight[entry_id] = entry.sink
                target.submit(entry_id, self._notification(entry_id, entry))
        return changed

    def collect(self, state: State, now: float) -> bool:
        """Record what the sinks did with the posts handed to them; whether any finished."""
        changed = False
        for sink in self.fanout.sinks:
            for result in sink.take_results():
                changed = True
                self._settle(state.notifications, sink.name, result, now)
        return changed

    def _notification(self, entry_id: str, entry: OutboxEntry) -> Notification:
        severity = entry.severity if entry.severity in ("info", "ok", "warn") else "critical"
        return Notification(entry.kind, entry.key, severity,  # type: ignore[arg-type]
                            entry.title, tuple(entry.lines), dict(entry.fields),
                            entry.created_at, self.context.deployment, entry_id,
                            self.context.language)

    def _settle(self, notes: NotifyState, sink: str, result: Delivery, now: float) -> None:
        self._in_flight.pop(result.id, None)
        entry = notes.outbox.get(result.id)
        record = notes.sinks.setdefault(sink, SinkRecord())
        if entry is None:
            return
        if result.outcome == "failed":
            entry.attempts += 1
            entry.last_error = result.reason
            delay = self.policy.retry_max_s
            if result.retry_soon:
                delay = min(delay, self.policy.retry_base_s * 2 ** min(entry.attempts - 1, 16))
            entry.next_attempt_at = now + delay
            record.failed_attempts += 1
            record.last_error, record.last_error_at = result.reason, now
            return
        del notes.outbox[result.id]
        if result.outcome == "delivered":
            record.delivered += 1
        else:
            record.probably_delivered += 1
        record.last_delivered_at = now

    def _expire(self, notes: NotifyState, entry_id: str, now: float, why: str) -> None:
        entry = notes.outbox.pop(entry_id)
        record = notes.sinks.setdefault(entry.sink, SinkRecord())
        record.expired += 1
        record.last_expired_at, record.last_expired_title = now, entry.title
        log.error("notify.expired", sink=entry.sink, id=entry_id, kind=entry.kind,
                  key=entry.key, attempts=entry.attempts, reason=why,
                  last_error=entry.last_error)

    def flush(self, runner: Runner, timeout_s: float, *,
              sleep: Callable[[float], None] = time.sleep,
              monotonic: Callable[[], float] = time.monotonic) -> None:
        """Before exiting: send what is due and wait for it, at most ``timeout_s``.

        A post still unanswered whose request went out counts as probably delivered;
        anything else stays in the outbox for the next pass or start.
        """
        self.after_batch(runner)
        deadline = monotonic() + timeout_s
        state = runner.state
        while self._in_flight and monotonic() < deadline:
            sleep(min(0.05, max(0.0, deadline - monotonic())))
            self.pump(state, self.clock())
        # A sink queues its result before it forgets the post in flight: look at the posts
        # in flight first, then collect, so no post is missed by both.
        unanswered = {sink.name: sink.sent_in_flight() for sink in self.fanout.sinks}
        self.collect(state, self.clock())
        for name, sent in unanswered.items():
            if sent is not None and sent in self._in_flight:
                self._settle(state.notifications, name,
                             Delivery(sent, "probably_delivered", "still unanswered at exit"),
                             self.clock())
        self._in_flight.clear()
        runner.checkpoint(acted=True)


def _fingerprint(notes: NotifyState) -> tuple[int, int, int]:
    """Cheap evidence that the outbox or the conditions changed (ids only grow)."""
    conditions = sum(hash((k, c.code, c.level, c.announced_at))
                     for k, c in notes.conditions.items())
    return notes.seq, len(notes.outbox), conditions


def _hold(problem: Problem, state: State) -> float:
    """How long a condition lasts before it is news: a new suite gets its first ticket
    within 20 minutes; a code retried by itself or a log being rotated need a minute."""
    if problem.code == "ticket_missing":
        return float(TICKET_WARN_S)
    if problem.code == "source_missing":
        return TRANSIENT_HOLD_S
    if problem.code in ("auth_code_pending", "auth_code_redeeming"):
        suite_id, _, key = problem.key.removeprefix("auth_code:").partition(":")
        suite = state.suites.get(suite_id)
        entry = suite.auth_codes.get(key) if suite is not None else None
        if problem.code == "auth_code_pending" and entry is not None and (
                entry.waiting_for in OPERATOR_WAITS):
            return 0.0
        return TRANSIENT_HOLD_S
    return 0.0
