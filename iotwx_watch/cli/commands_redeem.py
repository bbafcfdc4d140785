"""`redeem`: an auth code pasted by hand goes through the same engine path as a logged one."""

from __future__ import annotations

import sys

import click

from iotwx_watch.cli._group import CliContext, main, usage_error
from iotwx_watch.errors import EXIT_ACTION_FAILED, EXIT_OK


def _read_code(auth_code: str | None) -> str:
    if auth_code not in (None, "-"):
        return auth_code
    if sys.stdin.isatty():
        return str(click.prompt("AuthCode", hide_input=True)).strip()
    return sys.stdin.readline().strip()


@main.command("redeem")
@click.argument("suite_id")
@click.argument("auth_code", required=False)
@click.pass_obj
def redeem(obj: CliContext, suite_id: str, auth_code: str | None) -> None:
    """Redeem AUTH_CODE for SUITE_ID now (manual fallback), and record the result.

    Leave AUTH_CODE out (or give "-") to type it at a hidden prompt or pipe it on
    stdin, so it stays out of the shell history and the process list. The code is
    redeemed at most once: a code the ledger already holds is not sent again.
    Exits 0 when the corp's Secret was obtained, 1 otherwise (see `status`).

    \b
    Examples:
      iotwx-watch redeem dk1234567890abcdef            # then paste the code at the prompt
      xclip -o | iotwx-watch redeem dk1234567890abcdef -
    """
    from iotwx_watch.run.daemon import make_client  # httpx: loaded only for this command
    from iotwx_watch.run.runner import Runner

    config = obj.load_config()
    if config.suite(suite_id) is None:
        raise usage_error(f"suite {suite_id} is not in the config")
    code = _read_code(auth_code)
    if not code:
        raise usage_error("no auth code given")
    with (
        make_client(config, secrets=obj.secrets) as client,
        Runner(config, api=client, secrets=obj.secrets) as runner,
    ):
        entry = runner.active_engine.redeem(suite_id, code)
        runner.save()
    click.echo(f"auth code: {entry.status}")
    if entry.corpid:
        corp = runner.state.suites[suite_id].corps.get(entry.corpid)
        agentid = corp.agentid if corp else None
        click.echo(f"corpid: {entry.corpid}  agentid: {agentid}  (secret saved; see `status`)")
    sys.exit(EXIT_OK if entry.status == "redeemed" else EXIT_ACTION_FAILED)
