"""`once` and `run`: the runner driven to completion, or kept alive under systemd.

`once` reads each source up to the size it had at start, acts, saves and returns.
`run` does the same in a loop woken by file events (or a timer), answers SIGTERM /
SIGINT by finishing the batch in hand and saving, SIGHUP by reloading the config,
and keeps systemd informed (READY, STATUS, WATCHDOG, STOPPING). Both serve codes handed
over by `redeem` (:mod:`iotwx_watch.run.handoff`) and, before they exit, give the
notification sinks a bounded time to deliver what is due (the rest stays in the outbox).

``STATUS=`` is the health verdict (the worst problem first, as `status` prints it) and
what is followed; a reload that failed, or that changed settings only a restart applies,
says so there until the next reload.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from iotwx_watch.config import Config
from iotwx_watch.engine.outcomes import Outcome
from iotwx_watch.engine.port import CallRecord
from iotwx_watch.errors import EXIT_ACTION_FAILED, EXIT_OK, IotwxError
from iotwx_watch.log import SecretRegistry, get_logger
from iotwx_watch.run import handoff
from iotwx_watch.run.hooks import BatchHooks
from iotwx_watch.run.runner import Progress, Runner
from iotwx_watch.run.sdnotify import SystemdNotifier
from iotwx_watch.run.signals import SignalFlags
from iotwx_watch.wecom import WeComClient

if TYPE_CHECKING:
    from iotwx_watch.run.wakeup import Wakeup

log = get_logger("daemon")


# `once` stays up to this long for retries that fall due (a -1, a refreshed token, a
# state write that failed), rather than leaving them to the next timer run.
ONCE_RETRY_HORIZON_S = 20.0
# At SIGTERM with the state unsaved (disk full), keep retrying the write this long.
STOP_SAVE_S = 10.0
# Before exiting, sinks get this long to deliver what is due; the rest stays in the outbox.
ONCE_FLUSH_S = 10.0
STOP_FLUSH_S = 5.0
STATUS_INTERVAL_S = 1.0
# Codes handed over by `redeem` are looked for at most this often (a busy log wakes the
# loop a hundred times a second; `redeem` waits for its answer anyway).
HANDOFF_INTERVAL_S = 0.25
# Settings a reload cannot apply: the client, the exporter and the sinks are built at start.
RESTART_ONLY = ("wecom", "metrics", "notify", "name", "language", "remind_critical_s",
                "remind_warn_s")


def make_client(
    config: Config,
    *,
    on_call: Callable[[CallRecord], None] | None = None,
    secrets: SecretRegistry | None = None,
) -> WeComClient:
    """The HTTP client for the configured WeCom endpoint."""
    return WeComClient(
        secrets=secrets,
        base_url=config.wecom.base_url,
        timeout_s=config.wecom.timeout_s,
        permanent_code_api=config.wecom.permanent_code_api,
        on_call=on_call,
    )


def make_runner(
    config: Config,
    client: WeComClient,
    observers: BatchHooks,
    *,
    clock: Callable[[], float] = time.time,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> Runner:
    runner = Runner(
        config,
        api=client,
        secrets=client.secrets,
        clock=clock,
        on_outcome=on_outcome or observers.on_outcome,
        observers=observers.batch,
    )
    observers.attach(runner)
    return runner


@dataclass
class OnceSummary:
    """What one `once` pass did: the CLI's closing words and the `daemon.once_done` line."""

    events: int = 0
    redeemed: int = 0
    new_ips: int = 0
    failures: int = 0
    failed: bool = False
    awaiting_retry: bool = False
    unsaved: bool = False

    @property
    def exit_code(self) -> int:
        """1 while anything failed, waits for a retry or is unsaved, so a timer unit shows it."""
        return EXIT_ACTION_FAILED if self.failed or self.awaiting_retry or self.unsaved else EXIT_OK

    def count(self, outcome: Outcome) -> None:
        if outcome.kind in ("corp_obtained", "secret_reset"):
            self.redeemed += 1
        elif outcome.kind in ("ip_to_whitelist", "egress_ip_changed"):
            self.new_ips += 1
        elif outcome.kind in (
            "auth_code_failed", "auth_code_expired", "auth_code_interrupted", "ticket_rejected"
        ):
            self.failures += 1


def run_once(
    config: Config,
    observers: BatchHooks,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    secrets: SecretRegistry | None = None,
    progress: Progress | None = None,
) -> int:
    """:func:`catch_up`, for callers that only need the exit code."""
    return catch_up(config, observers, clock=clock, sleep=sleep, secrets=secrets,
                    progress=progress).exit_code


def catch_up(
    config: Config,
    observers: BatchHooks,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    secrets: SecretRegistry | None = None,
    flush_s: float = ONCE_FLUSH_S,
    progress: Progress | None = None,
) -> OnceSummary:
    """Catch up from the saved cursors, act, save, and say what was done.

    Retries (and state writes that failed) that fall due within ONCE_RETRY_HORIZON_S
    are waited for; later ones stay pending in the ledger (with their code) for the
    next run, and the exit code is 1 so a timer unit shows that something needs
    attention (e.g. a 60020, a full disk). Notifications get ``flush_s`` to go out.
    """
    summary = OnceSummary()
    forward = observers.on_outcome

    def on_outcome(outcome: Outcome) -> None:
        summary.count(outcome)
        if forward is not None:
            forward(outcome)

    with (
        make_client(config, on_call=observers.on_call, secrets=secrets) as client,
        make_runner(config, client, observers, clock=clock, on_outcome=on_outcome) as runner,
    ):
        summary.events = runner.catch_up(limit_to_snapshot=True, progress=progress)
        handoff.serve(runner, now=clock())
        _work_until(runner, clock() + ONCE_RETRY_HORIZON_S, clock=clock, sleep=sleep)
        observers.flush(runner, flush_s)
        engine = runner.active_engine
        summary.failed, summary.awaiting_retry = engine.failed, engine.awaiting_retry
        summary.unsaved = runner.unsaved
        log.info("daemon.once_done", events=summary.events, redeemed=summary.redeemed,
                 new_ips=summary.new_ips, failed=engine.failed,
                 awaiting_retry=engine.awaiting_retry, unsaved=runner.unsaved)
    return summary


def _next_wake(runner: Runner) -> float | None:
    """The earliest retry worth waiting for in `once`: a code due, or a failed state write.
    A 60020 probe is left to the next run: the operator needs longer than that."""
    times = [runner.active_engine.next_due(ignore=("ip",))]
    if runner.write_failure is not None:
        times.append(runner.write_failure.next_retry_at)
    return min((t for t in times if t is not None), default=None)


def _work_until(
    runner: Runner, horizon: float, *, clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> None:
    """Run the retries that fall due before ``horizon``."""
    while (wake := _next_wake(runner)) is not None and wake <= horizon:
        sleep(max(0.0, wake - clock()))
        runner.active_engine.tick()
        runner.checkpoint(acted=True)


def status_line(runner: Runner, note: str = "", *, now: float | None = None) -> str:
    """One line for `systemctl status`: the verdict and worst problem, then what is followed."""
    from iotwx_watch.report.health import assess_deployment  # `run` only: not on once's path
    from iotwx_watch.report.verdict import headline

    state = runner.state
    now = runner.clock() if now is None else now
    verdict = headline(assess_deployment(runner.config, state, now=now))
    corps = sum(1 for suite in state.suites.values() for c in suite.corps.values()
                if c.status == "active")
    last = (
        time.strftime("%H:%M:%S", time.localtime(runner.last_event_at))
        if runner.last_event_at
        else "none yet"
    )
    parts = [verdict, note,
             f"following {len(runner.readers)} log(s), {len(runner.config.suites)} suite(s), "
             f"{corps} active corp(s); last event {last}"]
    return " · ".join(p for p in parts if p)


@dataclass
class _LoopNote:
    """What the STATUS= line must keep saying about the last reload."""

    started: Config
    text: str = ""


@dataclass
class _StatusLine:
    """``STATUS=`` after a batch: at once when events came or the note changed, else at
    most every STATUS_INTERVAL_S (the verdict reads the whole state; a busy log must not
    pay for it on every wake-up), and never without a systemd socket."""

    notifier: SystemdNotifier
    sent_at: float = float("-inf")
    note: str = ""

    def update(self, runner: Runner, note: str, *, changed: bool) -> None:
        if not self.notifier.enabled:
            return
        now = time.monotonic()
        if changed or note != self.note or now - self.sent_at >= STATUS_INTERVAL_S:
            self.notifier.status(status_line(runner, note))
            self.sent_at, self.note = now, note


def run_forever(
    config: Config,
    observers: BatchHooks,
    *,
    reload_config: Callable[[], Config],
    notifier: SystemdNotifier | None = None,
    secrets: SecretRegistry | None = None,
    progress: Progress | None = None,
) -> int:
    """The daemon loop. Returns 0 after SIGTERM/SIGINT with the state saved.

    ``notifier`` talks to systemd (the CLI builds it from the environment); without
    one nothing is sent. ``progress`` is shown during the first catch-up.
    """
    from iotwx_watch.run.wakeup import Wakeup  # watchdog: only the daemon needs it

    notifier = notifier or SystemdNotifier(None)
    wakeup = Wakeup(
        [source.path for source in config.sources],
        mode=config.watch,
        poll_interval_s=config.poll_interval_s,
    )
    flags = SignalFlags(wakeup.wake)
    with (
        make_client(config, on_call=observers.on_call, secrets=secrets) as client,
        make_runner(config, client, observers) as runner,
        flags.installed(),
    ):
        wakeup.start()  # before the catch-up read, so nothing appended meanwhile is missed
        note = _LoopNote(config)
        status = _StatusLine(notifier)
        handoff_due = 0.0
        try:
            runner.catch_up(limit_to_snapshot=False, progress=progress)
            client.prepare()  # the first code after start must not wait for httpx's import
            # What start-up and the catch-up built (the state's entries: tens of thousands
            # of objects with 10,000 corps) stays; a full garbage collection in the loop
            # need not walk it again (one took about 50 ms, a code's whole budget).
            gc.freeze()
            notifier.ready()
            notifier.status(status_line(runner))
            log.info("daemon.ready", backend=wakeup.backend, sources=len(runner.readers))
            watchdog = notifier.watchdog_interval()
            while not flags.stop_requested:
                timeout = runner.seconds_until_due(config.poll_interval_s)
                if watchdog is not None:
                    timeout = min(timeout, watchdog / 2)
                wakeup.wait(timeout)
                if flags.take_reload():
                    _reload(runner, wakeup, reload_config, notifier, note)
                    config = runner.config
                events = runner.batch()
                if time.monotonic() >= handoff_due:  # a listdir: not on every wake-up
                    handoff_due = time.monotonic() + HANDOFF_INTERVAL_S
                    if handoff.serve(runner, now=runner.clock()):
                        events += 1 + runner.batch()  # what it changed reaches hooks at once
                notifier.watchdog()
                status.update(runner, note.text, changed=events > 0)
            observers.flush(runner, STOP_FLUSH_S)
            _flush_before_exit(runner)
        finally:
            notifier.stopping()
            wakeup.stop()
    log.info("daemon.stopped", unsaved=runner.unsaved)
    return EXIT_ACTION_FAILED if runner.unsaved else EXIT_OK


def _flush_before_exit(runner: Runner) -> None:
    """Stopping with the state unsaved: keep trying the write for a while."""
    deadline = time.monotonic() + STOP_SAVE_S
    while runner.unsaved and time.monotonic() < deadline:
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        runner.checkpoint(acted=True)


def _reload(
    runner: Runner, wakeup: Wakeup, reload_config: Callable[[], Config], notifier: SystemdNotifier,
    note: _LoopNote,
) -> None:
    """Apply a new config; a bad one keeps the running one, and STATUS= says so."""
    notifier.reloading()
    try:
        config = reload_config()
    except IotwxError as exc:
        log.error("daemon.reload_failed", error=str(exc))
        note.text = f"reload failed, running the previous config: {exc}"
        notifier.status(status_line(runner, note.text))
        notifier.ready()
        return
    restart_needed = [name for name in RESTART_ONLY
                      if getattr(config, name) != getattr(note.started, name)]
    note.text = ""
    if restart_needed:
        needed = ", ".join(restart_needed)
        log.warning("daemon.reload_needs_restart", settings=needed)
        note.text = f"restart needed to apply {needed}"
    runner.reload(config)
    wakeup.watch_paths([source.path for source in config.sources])
    notifier.status(status_line(runner, note.text))
    notifier.ready()
