"""`once` and `run`: wire the config to the daemon module.

The daemon's modules (httpx, watchdog, prometheus_client) are imported inside the
commands, so that `--help` and `status` do not pay for them.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import click

from iotwx_watch.cli._group import CliContext, main

if TYPE_CHECKING:
    from iotwx_watch.run.daemon import OnceSummary


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def once_summary(summary: OnceSummary) -> list[str]:
    """What a `once` pass did, for the person who typed it; what to do next after exit 1."""
    done = [
        f"{_plural(summary.events, 'event')} read",
        f"{_plural(summary.redeemed, 'auth code')} redeemed",
        f"{_plural(summary.new_ips, 'new IP')} to whitelist",
    ]
    troubles = []
    if summary.failures:
        troubles.append(f"{_plural(summary.failures, 'action')} failed")
    if summary.awaiting_retry:
        troubles.append("an auth code waits for a retry")
    if summary.failed and not summary.failures:
        troubles.append("a code failed or expired")
    if summary.unsaved:
        troubles.append("the state could not be saved")
    lines = [f"once: {', '.join(done)}" + (f"; {', '.join(troubles)}" if troubles else "")]
    if summary.exit_code:
        lines.append("next: `iotwx-watch status` says what needs doing (exit 1)")
    return lines


@main.command("once")
@click.pass_obj
def once(obj: CliContext) -> None:
    """Catch up on both logs from the saved positions, act, write the state, exit.

    Reads each source up to the size it had when `once` started (so a busy log
    still ends), redeems new auth codes, records blocked IPs, and saves. Exits 0
    when everything succeeded, 1 when an action failed or a code still waits for
    a retry (the state is still written, the code kept for the next run; see
    `status`), 2 on a config error, 3 if another iotwx-watch holds the state
    lock. Suitable for a systemd timer or cron: it prints nothing on stdout, and
    its diagnostics (JSON lines unless on a terminal) go to stderr. Codes handed
    over by `redeem` are redeemed too; notifications get up to 10 s to go out,
    and what is undelivered stays in the state for the next pass.

    \b
    Examples:
      iotwx-watch once                     # on a terminal: what happened, in sentences
      iotwx-watch once >/dev/null          # cron: warnings still reach stderr (and mail)
      iotwx-watch --log-level warning once 2>>/var/log/iotwx-watch-once.log
    """
    from iotwx_watch.run.daemon import catch_up
    from iotwx_watch.run.hooks import hooks_for
    from iotwx_watch.run.progress import progress_for
    from iotwx_watch.run.reader import tune_allocator

    config = obj.load_config(require_sources=True)
    observers = hooks_for(config, secrets=obj.secrets, **obj.hook_options(config))
    tune_allocator()
    try:
        summary = catch_up(config, observers, secrets=obj.secrets,
                           progress=progress_for(sys.stderr, os.environ))
    finally:
        observers.close()
    if obj.human:  # journald and pipes have the daemon.once_done line instead
        for line in once_summary(summary):
            click.echo(line, err=True)
    sys.exit(summary.exit_code)


@main.command("run")
@click.pass_obj
def run(obj: CliContext) -> None:
    """Follow both logs and act within a second of each new line (the daemon).

    Wakes on file events (inotify) with a timer check as well (`watch` and
    `poll_interval_s` in the config). SIGTERM or SIGINT: finish the batch in
    hand, save, exit 0. SIGHUP: reload the config. Under systemd (Type=notify) it
    reports READY, STATUS (the health verdict and its worst problem) and
    WATCHDOG, and logs JSON lines to the journal. A [metrics] listen port that
    cannot be bound is a problem in `status` and retried, never a reason to stop.

    \b
    Examples:
      iotwx-watch run --config /etc/iotwx-watch/config.toml
      systemctl start iotwx-watch          # the unit runs `iotwx-watch run`
      journalctl -u iotwx-watch -o cat -f  # its log lines
    """
    from iotwx_watch.run.daemon import run_forever
    from iotwx_watch.run.hooks import hooks_for
    from iotwx_watch.run.progress import progress_for
    from iotwx_watch.run.reader import tune_allocator
    from iotwx_watch.run.sdnotify import SystemdNotifier

    config = obj.load_config(require_sources=True)
    observers = hooks_for(config, secrets=obj.secrets, **obj.hook_options(config))
    tune_allocator()
    try:
        code = run_forever(
            config,
            observers,
            reload_config=lambda: obj.reload_config(require_sources=True),
            notifier=SystemdNotifier.from_environ(os.environ),
            secrets=obj.secrets,
            progress=progress_for(sys.stderr, os.environ),
        )
    finally:
        observers.close()
    sys.exit(code)
