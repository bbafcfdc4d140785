"""`state export` and `state migrate FROM TO`: the schema-1 document out of either backend,
and a deployment moved between a state file and Redis. Redis is loaded only here."""

from __future__ import annotations

import click

from iotwx_watch.cli._group import CliContext, main, usage_error


@main.command("state")
@click.argument("action", type=click.Choice(["export", "migrate"]))
@click.argument("places", nargs=-1, metavar="[FROM TO]")
@click.option("--replace", is_flag=True,
              help="migrate: overwrite a target that already holds a state (a file keeps "
                   "its previous content as .bak; a Redis prefix is emptied first).")
@click.pass_obj
def state(obj: CliContext, action: str, places: tuple[str, ...], replace: bool) -> None:
    """Print the state as a schema-1 JSON document, or move it between a file and Redis.

    `export` prints the document from whichever backend the config names (`state`):
    the same JSON a state file holds, Secrets included (docs/state.md), with this
    instance's own part (read positions, notifications). Redirect it into a file
    only root can read.

    `migrate FROM TO` copies a deployment from a state file to Redis or back, then
    reads the copy back and compares it (exit 1 if it differs; the source is never
    changed). A place is a file path or a redis://, rediss:// or unix:// URL; the
    Redis prefix and password are the config's (the password never on the command
    line). Stop every instance first. Read positions are per host: from Redis they
    come from, and to Redis they go to, this host's local file.

    \b
    Examples:
      iotwx-watch state export | jq '.suites[].corps | keys'
      (umask 077; iotwx-watch state export > /root/iotwx-state.json)
      iotwx-watch state migrate /var/lib/iotwx-watch/state.json redis://10.0.0.5:6379/0
      iotwx-watch state migrate redis://10.0.0.5:6379/0 /var/lib/iotwx-watch/new.json
    """
    from iotwx_watch.state import transfer
    from iotwx_watch.state.model import encode

    config = obj.load_config()
    if action == "export":
        if places:
            raise usage_error("state export takes no FROM/TO")
        document = transfer.export(config, secrets=obj.secrets)
        click.echo(encode(document).decode("utf-8"), nl=False)
        return
    if len(places) != 2:
        raise usage_error("state migrate needs FROM and TO (a file path or a Redis URL each)")
    source, target = places
    moved = transfer.migrate(config, source, target, replace=replace, secrets=obj.secrets)
    click.echo(
        f"migrated {source} -> {target}: {moved.suites} suite(s), {moved.corps} corp(s), "
        f"{moved.codes} auth code(s), {moved.blocked_ips} blocked IP(s), "
        f"{moved.sources} read position(s); read back identical",
        err=True,
    )
