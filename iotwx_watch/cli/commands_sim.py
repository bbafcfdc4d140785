"""`simulate`: run the WeCom simulator in the foreground, for a manual demo or a staging daemon."""

from __future__ import annotations

import threading

import click

from iotwx_watch.cli._group import main, usage_error
from iotwx_watch.errors import ConfigError


def _parse_suites(values: tuple[str, ...]) -> list[tuple[str, str]]:
    suites = []
    for value in values:
        suite_id, sep, secret = value.partition(":")
        if not sep or not suite_id or not secret:
            raise usage_error(f"--suite wants SUITE_ID:SECRET, got {value.split(':')[0]!r}…")
        suites.append((suite_id, secret))
    return suites


@main.command("simulate")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="Port (0: any free one).")
@click.option(
    "--suite",
    "suites",
    multiple=True,
    metavar="ID:SECRET",
    help="A 代开发 template the simulator knows (repeatable).",
)
@click.option(
    "--push-ticket/--no-push-ticket",
    default=True,
    show_default=True,
    help="Issue one suite_ticket per suite at start and print its callback XML.",
)
def simulate(host: str, port: int, suites: tuple[str, ...], push_ticket: bool) -> None:
    """Serve a simulated WeCom service API until Ctrl-C.

    Prints the base_url first (put it in [wecom] base_url); with --push-ticket, one
    line of suite_ticket callback XML per suite follows, ready to append to a test
    receive.log. Only for loopback tests and demos: it issues fake credentials.
    Ctrl-C stops it (exit 0, its normal end); a port in use is exit 2.

    \b
    Examples:
      iotwx-watch simulate --port 8080 --suite dkTest0000000001:test-secret
      iotwx-watch simulate --suite dkTest0000000001:test-secret >>/tmp/sim.out &
    """
    from iotwx_watch.sim.server import WeComSimulator  # the server is loaded only for this command

    parsed = _parse_suites(suites)
    sim = WeComSimulator(host=host, port=port)
    for suite_id, secret in parsed:
        sim.add_suite(suite_id, secret)
    try:
        sim.start()
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    try:
        click.echo(sim.base_url)
        if push_ticket:
            for suite_id, _secret in parsed:
                click.echo(sim.callback_xml(sim.push_ticket(suite_id)))
        click.echo("simulating; Ctrl-C stops", err=True)
        threading.Event().wait()
    except KeyboardInterrupt:  # the way to stop it, not an interruption: exit 0
        click.echo("stopped", err=True)
    finally:
        sim.stop()
