"""`status`: the health model for people, scripts (--json) and Nagios (--nagios).

Reads the state file without taking the daemon's lock (the file is replaced
atomically, so a reader never sees half of it). Exit 0 healthy, 1 an operator must
act, 2 on error (bad config, corrupt state file); with --nagios the monitoring-plugins
codes instead: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
"""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING

import click

from iotwx_watch.cli._group import CliContext, main, usage_error
from iotwx_watch.errors import IotwxError

if TYPE_CHECKING:
    from iotwx_watch.report.health import HealthReport

NAGIOS_UNKNOWN = 3


def _report(obj: CliContext) -> HealthReport:
    """The health of the configured deployment now (state and health load only here)."""
    from iotwx_watch.report.health import assess_deployment
    from iotwx_watch.state.backend import read_state

    config = obj.load_config()
    state = read_state(config, secrets=obj.secrets)  # Redis down: a StateError, exit 2
    return assess_deployment(config, state, now=time.time())


@main.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the health model as JSON.")
@click.option(
    "--nagios",
    is_flag=True,
    help="Print one Nagios plugin line (status, worst problem, perfdata) and exit 0 OK, "
    "1 WARNING, 2 CRITICAL or 3 UNKNOWN (config or state unreadable).",
)
@click.option("--show-secrets", is_flag=True, help="Show the corps' app secrets in full.")
@click.pass_obj
def status(obj: CliContext, as_json: bool, nagios: bool, show_secrets: bool) -> None:
    """Show what is known and what to do: the worst problem first, then per suite the details.

    The first line names the worst problem, or says all is well. Then per suite
    the ticket's age and token, the corps, the auth codes; the IPs to whitelist;
    the logs; and a to-do list saying where to act. Exit 0 when healthy, 1 when
    an operator must act (stale or missing ticket, pending or failed auth code,
    IP to whitelist, missing log), 2 on error. Reads the state file without the
    daemon's lock; secrets are masked unless --show-secrets is given.

    \b
    Examples:
      iotwx-watch status
      iotwx-watch status --config /etc/iotwx-watch/config.toml --show-secrets
      iotwx-watch status --json | jq '{level, problems}'
      iotwx-watch status --nagios          # NRPE: command[iotwx_watch]=… status --nagios
    """
    from iotwx_watch.cli.status_views import NAGIOS_CODES, health_to_json, nagios_line, render_text

    if as_json and nagios:
        raise usage_error("give --json or --nagios, not both")
    try:
        model = _report(obj)
    except IotwxError as exc:
        if not nagios:
            raise
        click.echo(f"IOTWX-WATCH UNKNOWN - {exc}")
        sys.exit(NAGIOS_UNKNOWN)
    if nagios:
        click.echo(nagios_line(model))
        sys.exit(NAGIOS_CODES[model.level])
    if as_json:
        text = json.dumps(health_to_json(model, show_secrets=show_secrets), ensure_ascii=False,
                          indent=2)
        click.echo(text)
    else:
        text = render_text(model, show_secrets=show_secrets, color=obj.color(sys.stdout))
        click.echo(text, nl=False)
    sys.exit(model.exit_code)
