"""`check-config`: load and validate the configuration, exit 2 when it is unusable."""

from __future__ import annotations

import os

import click

from iotwx_watch.cli._group import CliContext, main


@main.command("check-config")
@click.pass_obj
def check_config(obj: CliContext) -> None:
    """Validate the config file and report what it configures (no secret is shown).

    Prints the state file, each suite and each log on stdout; warnings go to
    stderr with the other diagnostics. Exits 2 on an error (the code `run` and
    `once` also exit with on a bad config, and that systemd is told not to
    restart on). Run it after editing the config and before `systemctl reload
    iotwx-watch`.

    \b
    Examples:
      iotwx-watch check-config --config /etc/iotwx-watch/config.toml
      CREDENTIALS_DIRECTORY=/etc/iotwx-watch/credentials iotwx-watch check-config
    """
    config = obj.load_config(require_sources=True)
    click.echo(f"config: {config.path}")
    click.echo(f"state_file: {config.state_file}")
    for suite in config.suites:
        parts = [
            "secret: yes" if suite.suite_secret else "secret: MISSING",
            "decrypts callbacks" if suite.can_decrypt else "no callback keys",
        ]
        click.echo(f"suite {suite.suite_id}: {', '.join(parts)}")
    for source in config.sources:
        exists = "exists" if os.path.exists(source.path) else "not there yet"
        click.echo(f"source {source.kind}: {source.path} ({exists})")
    warnings = f" ({len(config.warnings)} warning(s) on stderr)" if config.warnings else ""
    click.echo(f"config OK{warnings}")
