"""`notify test`: one test message to every configured sink, and what each answered.

Before an outage is the time to learn that a robot key is wrong. The message goes out
through the same sinks and words as the daemon's (deployment name, language, time) but
not through the state's outbox: it needs no lock and works while `run` is running.
"""

from __future__ import annotations

import sys
import time

import click

from iotwx_watch.cli._group import CliContext, main, usage_error
from iotwx_watch.errors import EXIT_ACTION_FAILED, EXIT_OK

TEST_TIMEOUT_S = 30.0


@main.command("notify")
@click.argument("action", type=click.Choice(["test"]))
@click.option("--timeout", "timeout_s", type=float, default=TEST_TIMEOUT_S, show_default=True,
              metavar="SECONDS", help="How long to wait for every sink's answer.")
@click.pass_obj
def notify(obj: CliContext, action: str, timeout_s: float) -> None:
    """Send a test message to every [[notify]] sink and report what each answered.

    Prints one line per sink: delivered, probably delivered (the request went out
    but no answer came within the timeout), or failed and why (the URL and its key
    are never shown). Exits 0 when every sink took the message, 1 otherwise, 2 when
    the config has no [[notify]] or is unusable. Needs no state lock: run it any
    time, also while the daemon runs.

    \b
    Examples:
      iotwx-watch notify test
      CREDENTIALS_DIRECTORY=/etc/iotwx-watch/credentials iotwx-watch notify test
    """
    from iotwx_watch.report.messages import MessageContext, test_message
    from iotwx_watch.report.notify import NotificationFanout

    config = obj.load_config()
    if not config.notify:
        raise usage_error(f"config {config.path} has no [[notify]] sink to test")
    options = obj.hook_options(config)
    context = MessageContext(config.name or options["deployment"], config.language,
                             options["tz"])
    now = time.time()
    fanout = NotificationFanout.from_config(config.notify, secrets=obj.secrets,
                                            read_timeout_s=timeout_s + 5)
    try:
        results = fanout.test(lambda sink: test_message(context, now, sink),
                              timeout_s=timeout_s)
    finally:
        fanout.close(timeout_s=1.0)
    failed = 0
    for sink in config.notify:
        result = results.get(sink.name)
        if result is None:
            line, failed = f"no answer within {timeout_s:g} s", failed + 1
        elif result.outcome == "delivered":
            line = "delivered"
        elif result.outcome == "probably_delivered":
            line, failed = f"probably delivered ({result.reason})", failed + 1
        else:
            line, failed = f"FAILED: {result.reason}", failed + 1
        click.echo(f"{sink.name} ({sink.kind}): {line}")
    sys.exit(EXIT_ACTION_FAILED if failed else EXIT_OK)
