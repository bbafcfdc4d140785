"""`schema`: print the JSON Schema (draft 2020-12) of the state file or of `status --json`.

Both schemas are generated from the types that write the documents
(:mod:`iotwx_watch.state.model`, :mod:`iotwx_watch.cli.status_document`), loaded only
when the command runs so that `--help` stays fast.
"""

from __future__ import annotations

import json
from typing import Any

import click

from iotwx_watch.cli._group import main


def _schema(document: str) -> dict[str, Any]:
    if document == "state":
        from iotwx_watch.state.schema import state_schema

        return state_schema()
    from iotwx_watch.cli.status_document import status_schema

    return status_schema()


@main.command("schema")
@click.argument("document", type=click.Choice(["state", "status"]))
def schema(document: str) -> None:
    """Print the JSON Schema (draft 2020-12) of the state file or of `status --json`.

    `state`: the state file (state_file in the config; it holds secrets): which
    keys are always there and which only once set, the type of each, and the keys
    written only while an auth code is pending. `status`: the output of `status
    --json`. Both are generated from the code that writes the documents. Within one
    schema_version keys are only ever added, so a script should ignore keys it
    does not know. See docs/state.md.

    \b
    Examples:
      iotwx-watch schema state > state.schema.json
      check-jsonschema --schemafile state.schema.json /var/lib/iotwx-watch/state.json
      iotwx-watch schema status | jq '.["$defs"].StatusDocument.required'
    """
    click.echo(json.dumps(_schema(document), ensure_ascii=False, indent=2))
