"""`once` and `run`: wire the config to the daemon module."""

from __future__ import annotations

import os
import sys

import click

from iotwx_watch.cli._group import CliContext, main
from iotwx_watch.run.daemon import run_forever, run_once
from iotwx_watch.run.hooks import hooks_for
from iotwx_watch.run.sdnotify import SystemdNotifier


@main.command("once")
@click.pass_obj
def once(obj: CliContext) -> None:
    """Catch up on both logs from the saved positions, act, write the state, exit.

    Reads each source up to the size it had when `once` started (so a busy log
    still ends), redeems new auth codes, records blocked IPs, and saves. Exits 0
    when everything succeeded, 1 when an action failed or a code still waits for
    a retry (the state is still written, the code kept for the next run; see
    `status`), 2 on a config error, 3 if another iotwx-watch holds the state
    lock. Suitable for a systemd timer or cron.
    """
    config = obj.load_config()
    observers = hooks_for(config, secrets=obj.secrets)
    try:
        code = run_once(config, observers, secrets=obj.secrets)
    finally:
        observers.close()
    sys.exit(code)


@main.command("run")
@click.pass_obj
def run(obj: CliContext) -> None:
    """Follow both logs and act within a second of each new line (the daemon).

    Wakes on file events (inotify) with a timer check as well (`watch` and
    `poll_interval_s` in the config). SIGTERM or SIGINT: finish the batch in
    hand, save, exit 0. SIGHUP: reload the config. Under systemd (Type=notify) it
    reports READY, STATUS and WATCHDOG.
    """
    config = obj.load_config()
    observers = hooks_for(config, secrets=obj.secrets)
    try:
        code = run_forever(
            config,
            observers,
            reload_config=obj.reload_config,
            notifier=SystemdNotifier.from_environ(os.environ),
            secrets=obj.secrets,
        )
    finally:
        observers.close()
    sys.exit(code)
