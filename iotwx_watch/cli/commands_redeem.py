"""`redeem`: an auth code pasted by hand goes through the same engine path as a logged one.

When `run` (or a timer's `once`) holds the state lock, the code is handed to it through
the spool under the state directory (:mod:`iotwx_watch.run.handoff`) and its answer is
printed: the manual fallback works while the daemon runs.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from iotwx_watch.cli._group import CliContext, main, usage_error
from iotwx_watch.errors import EXIT_ACTION_FAILED, EXIT_OK, StateLockedError

HANDOFF_WAIT_S = 90.0  # a timer's next `once` starts within a minute


def _report(answer: dict[str, Any]) -> int:
    """Print what became of the code (never the code); the exit code that says it."""
    status = answer.get("status")
    click.echo(f"auth code: {status}")
    if answer.get("corpid"):
        click.echo(f"corpid: {answer['corpid']}  agentid: {answer.get('agentid')}  "
                   "(secret saved; see `status`)")
    elif status != "redeemed":
        for key in ("error", "hint"):
            if answer.get(key):
                click.echo(f"{key}: {answer[key]}")
    return EXIT_OK if status == "redeemed" else EXIT_ACTION_FAILED


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
    While the daemon (or a timer's `once`) holds the state, the code is handed to
    it and its answer printed (run this as the service user: see the README).
    Exits 0 when the corp's Secret was obtained, 1 otherwise (see `status`).

    \b
    Examples:
      iotwx-watch redeem dk1234567890abcdef            # then paste the code at the prompt
      xclip -o | iotwx-watch redeem dk1234567890abcdef -
    """
    import time

    from iotwx_watch.run import handoff
    from iotwx_watch.run.daemon import make_client  # httpx: loaded only for this command
    from iotwx_watch.run.runner import Runner

    config = obj.load_config()
    if config.suite(suite_id) is None:
        raise usage_error(f"suite {suite_id} is not in the config")
    code = _read_code(auth_code)
    if not code:
        raise usage_error("no auth code given")
    obj.secrets.add(code)
    try:
        with (
            make_client(config, secrets=obj.secrets) as client,
            Runner(config, api=client, secrets=obj.secrets) as runner,
        ):
            entry = runner.active_engine.redeem(suite_id, code)
            runner.save()
            answer = handoff.result_of(runner.state, suite_id, entry)
    except StateLockedError as exc:
        who = f"pid {exc.holder_pid}" if exc.holder_pid else "another process"
        click.echo(f"iotwx-watch ({who}) holds the state: handing the code to it", err=True)
        request = handoff.submit(config.state_file, suite_id, code, now=time.time())
        reply = handoff.wait_answer(config.state_file, request, HANDOFF_WAIT_S)
        if reply is None:
            click.echo(f"iotwx-watch: error: no answer from {who} within {HANDOFF_WAIT_S:g} "
                       "s; the request was withdrawn (is it `iotwx-watch run`, or a timer's "
                       "`once`, of this version?)", err=True)
            sys.exit(EXIT_ACTION_FAILED)
        answer = reply
    sys.exit(_report(answer))
