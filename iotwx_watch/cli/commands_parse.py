"""`parse`: a dry run of the extractors over whole files (no HTTP, no state).

Reads each file as the daemon does (:func:`iotwx_watch.run.reader.iter_file_events`:
the same follower, bounded reads, the same extractor), prints each
event as one JSON object per line on stdout (docs/architecture.md) and, with
``--stats``, the counters on stderr, the way ``fail2ban-regex`` shows what a filter
would match; ``--unmatched`` adds the records that looked like a callback or a 60020
refusal but gave no event (fail2ban-regex's "missed lines"). Tickets and auth codes
are printed as ``***`` with their ``ticket_key`` / ``code_key``: the output is safe to
paste into a ticket or a chat unless ``--show-secrets`` is given.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter

import click

from iotwx_watch.cli._group import CliContext, main
from iotwx_watch.config import Config
from iotwx_watch.errors import SourceError
from iotwx_watch.events import UnrecognizedRecord, event_to_json
from iotwx_watch.extract import EXTRACTOR_KINDS, ExtractorKind


def _check_readable(path: str) -> None:
    """Fail before printing anything when one of the files cannot be read."""
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _format_stats(path: str, stats: Counter[str], elapsed: float) -> str:
    """The --stats summary: a header, then one ``key value`` line per counter."""
    rows = [("bytes", stats["bytes"]), ("records", stats["records"])]
    for prefix in ("events.", "unrecognized.", "skipped.", "rejects."):
        rows.extend(sorted((k, v) for k, v in stats.items() if k.startswith(prefix)))
    width = max(len(key) for key, _ in rows)
    mib_s = stats["bytes"] / (1024 * 1024) / elapsed if elapsed > 0 else 0.0
    lines = [f"== {path}"]
    lines.extend(f"{key:<{width}}  {value}" for key, value in rows)
    lines.append(f"{'elapsed_s':<{width}}  {elapsed:.3f} ({mib_s:.0f} MiB/s)")
    lines.append(f"{'search':<{width}}  {_search_engine()}")
    return "\n".join(lines)


def _search_engine() -> str:
    """What found the trigger words: Hyperscan, or the pure-Python fallback (slower on a
    big file; the README says where Hyperscan installs)."""
    from iotwx_watch.extract.compiled_search import load

    return "hyperscan" if load() is not None else "python (Hyperscan not available here)"


@main.command("parse")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--kind",
    type=click.Choice(list(EXTRACTOR_KINDS)),
    default="auto",
    show_default=True,
    help="Which log the files are. auto reads both kinds until the first events show "
    "which log it is (give the kind for a file that holds both).",
)
@click.option("--stats", "show_stats", is_flag=True, help="Print counters on stderr.")
@click.option(
    "--unmatched",
    is_flag=True,
    help="Also print records that look like a callback or a 60020 refusal but gave no "
    'event ({"type": "unrecognized", "reason": …}, secrets masked in the excerpt).',
)
@click.option(
    "--show-secrets",
    is_flag=True,
    help="Print suite tickets and auth codes in clear instead of *** (they are "
    "credentials: an auth code can be redeemed once, by whoever reads it first).",
)
@click.pass_obj
def parse(
    obj: CliContext,
    files: tuple[str, ...],
    kind: str,
    show_stats: bool,
    unmatched: bool,
    show_secrets: bool,
) -> None:
    """Print the events FILES yield, as JSON lines, without calling WeCom or saving state.

    With the group's --config, suites with callback keys decrypt encrypted envelopes
    and the config's [[pattern]]s apply; without one, the built-ins alone run.
    Tickets and auth codes show as *** plus ticket_key / code_key (the first 16 hex
    digits of their SHA-256, as in the state's auth-code ledger).

    \b
    Examples:
      iotwx-watch parse receive.log
      iotwx-watch parse --unmatched --stats receive.log   # what was missed, and why
      iotwx-watch --config /etc/iotwx-watch.toml parse receive.log   # + envelopes
      iotwx-watch parse --kind policy_engine /iotp/log/policy_engine.log
      iotwx-watch parse --unmatched receive.log | jq .reason | sort | uniq -c
    """
    from iotwx_watch.run.reader import iter_file_events, tune_allocator  # not for --help

    config: Config | None = None
    if obj.config_path:
        config = obj.load_config(to_stderr=True)
    else:
        obj.configure_logging(to_stderr=True)
    for path in files:
        _check_readable(path)
    tune_allocator()
    out = sys.stdout
    try:
        for path in files:
            stats: Counter[str] = Counter()
            started = time.monotonic()
            extractor_kind: ExtractorKind = kind  # type: ignore[assignment]  # a click Choice
            for event in iter_file_events(path, extractor_kind, config=config, stats=stats):
                if isinstance(event, UnrecognizedRecord) and not unmatched:
                    continue
                body = event_to_json(event, show_secrets=show_secrets)
                out.write(json.dumps(body, ensure_ascii=False) + "\n")
            out.flush()
            if show_stats:
                click.echo(_format_stats(path, stats, time.monotonic() - started), err=True)
    except BrokenPipeError:
        # The reader went away (`parse … | head`): stop quietly, like other filters.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
