"""`check-config`: load and validate the configuration, exit 2 when it is unusable.

Besides what loading checks (types, keys, each [[notify]] URL's scheme and, for a
robot, its shape), it looks at what only this host can say: whether the [metrics]
listener can bind here (a port the running daemon holds is fine) and whether it is
reachable from other hosts. Those are warnings: `systemctl reload` runs this command
first, and only an unusable config must stop a reload.
"""

from __future__ import annotations

import ipaddress
import os

import click

from iotwx_watch.cli._group import CliContext, main
from iotwx_watch.config import Config, parse_listen
from iotwx_watch.log import get_logger


def _host_warnings(config: Config) -> list[str]:
    """What the config cannot say about itself: the listener's address, here and now."""
    warnings = []
    listen = config.metrics.listen
    if listen:
        from iotwx_watch.report.metrics import probe_listen

        host, port = parse_listen(listen)
        if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
            warnings.append(f"[metrics] listen {host}:{port} is reachable from other hosts: "
                            "the metrics name suites, corps and log paths; prefer 127.0.0.1 "
                            "and scrape through node_exporter or a firewall rule")
        error = probe_listen(listen)
        if error is not None:
            warnings.append(f"[metrics] listen {host}:{port} cannot be bound now ({error}); "
                            "fine if it is the running iotwx-watch, else the daemon keeps "
                            "retrying it and `status` reports it")
    if config.metrics.textfile:
        directory = os.path.dirname(os.path.abspath(config.metrics.textfile))
        if not os.access(directory, os.W_OK):
            warnings.append(f"[metrics] textfile: {directory} is not writable by this user "
                            "(the service needs ReadWritePaths= for it)")
    return warnings


@main.command("check-config")
@click.pass_obj
def check_config(obj: CliContext) -> None:
    """Validate the config file and report what it configures (no secret is shown).

    Prints the state file, each suite, each log, each [[notify]] sink (never its
    URL) and [metrics] on stdout; warnings go to stderr with the other
    diagnostics: a robot key or webhook token inline in a config others can read,
    plain http, a metrics listener that cannot bind or listens beyond loopback.
    Exits 2 on an error (the code `run` and `once` also exit with on a bad
    config, and that systemd is told not to restart on). `systemctl reload
    iotwx-watch` runs it first and fails when it fails.

    \b
    Examples:
      iotwx-watch check-config --config /etc/iotwx-watch/config.toml
      CREDENTIALS_DIRECTORY=/etc/iotwx-watch/credentials iotwx-watch check-config
    """
    config = obj.load_config(require_sources=True)
    click.echo(f"config: {config.path}")
    click.echo(f"state_file: {config.state_file}")
    if config.uses_redis:  # the URL holds no password (the config refuses one)
        from iotwx_watch.state.backend import instance_name

        password = "password: given" if config.redis.password else "no password"
        click.echo(f"state: {config.state} (prefix {config.redis.prefix}, instance "
                   f"{instance_name(config)}, {password}"
                   f"{', mirror at state_file' if config.state_mirror else ''})")
    for suite in config.suites:
        parts = [
            "secret: yes" if suite.suite_secret else "secret: MISSING",
            "decrypts callbacks" if suite.can_decrypt else "no callback keys",
        ]
        click.echo(f"suite {suite.suite_id}: {', '.join(parts)}")
    for source in config.sources:
        exists = "exists" if os.path.exists(source.path) else "not there yet"
        click.echo(f"source {source.kind}: {source.path} ({exists})")
    for sink in config.notify:
        mentions = len(sink.mentioned_list) + len(sink.mentioned_mobile_list)
        extra = f", @{mentions} on critical" if mentions else ""
        click.echo(f"notify {sink.name}: {sink.kind}, url given{extra}")
    if config.metrics.enabled:
        parts = [f"listen {config.metrics.listen}" if config.metrics.listen else "",
                 f"textfile {config.metrics.textfile}" if config.metrics.textfile else ""]
        click.echo(f"metrics: {', '.join(p for p in parts if p)}")
    host = _host_warnings(config)
    log = get_logger("config")
    for warning in host:
        log.warning("config.warning", message=warning)
    count = len(config.warnings) + len(host)
    warnings = f" ({count} warning(s) on stderr)" if count else ""
    click.echo(f"config OK{warnings}")
