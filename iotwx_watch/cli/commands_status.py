"""`status`: the health model for humans (or scripts, with --json); its exit code follows it.

Reads the state file without taking the daemon's lock (the file is replaced
atomically, so a reader never sees half of it). Exit 0 healthy, 1 an operator must
act, 2 on error (bad config, corrupt state file).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from iotwx_watch.cli._group import CliContext, main
from iotwx_watch.report.health import HealthReport, SuiteHealth, assess_deployment
from iotwx_watch.state.store import StateStore, format_time


def mask_secret(value: str | None) -> str | None:
    """Enough to tell two secrets apart, never enough to use one."""
    if not value:
        return value
    return f"****{value[-4:]}" if len(value) >= 16 else "****"


def _time(ts: float | None) -> str | None:
    return None if ts is None else format_time(ts)


def _suite_json(s: SuiteHealth, show_secrets: bool) -> dict[str, Any]:
    ticket, token = s.ticket, s.token
    return {
        "configured": s.configured,
        "ticket": None if ticket is None else {
            "timestamp": ticket.timestamp,
            "age_s": round(ticket.age_s, 3),
            "received_at": _time(ticket.received_at),
            "rejected": ticket.rejected,
            "level": ticket.level,
        },
        "token": None if token is None else {
            "valid": token.valid,
            "expires_at": _time(token.expires_at),
            "valid_for_s": round(max(0.0, token.valid_for_s), 3),
        },
        "corps": {
            c.corpid: {
                "corp_name": c.corp_name,
                "agentid": c.agentid,
                "status": c.status,
                "obtained_at": _time(c.obtained_at),
                "permanent_code": c.permanent_code if show_secrets else mask_secret(
                    c.permanent_code
                ),
            }
            for c in s.corps
        },
        "auth_codes": [
            {
                "key": a.key, "status": a.status, "info_type": a.info_type,
                "attempts": a.attempts, "deadline": _time(a.deadline), "corpid": a.corpid,
                "errcode": a.errcode, "error": a.error, "level": a.level, "action": a.action,
            }
            for a in s.auth_codes
        ],
        "auth_code_counts": dict(s.auth_code_counts),
        "last_error": dict(s.last_error) if s.last_error is not None else None,
    }


def health_to_json(h: HealthReport, *, show_secrets: bool = False) -> dict[str, Any]:
    """The model as `status --json` prints it; secrets masked unless asked for."""
    return {
        "level": h.level,
        "exit_code": h.exit_code,
        "now": _time(h.now),
        "state_updated_at": _time(h.state_updated_at),
        "suites": {s.suite_id: _suite_json(s, show_secrets) for s in h.suites},
        "blocked_ips": [
            {
                "ip": b.ip, "whitelist": b.whitelist, "where": b.where, "waiting": b.waiting,
                "count": b.count, "first_seen": _time(b.first_seen),
                "last_seen": _time(b.last_seen), "corpid": b.corpid, "hint": b.hint,
                "resolved_at": _time(b.resolved_at),
            }
            for b in h.blocked_ips
        ],
        "sources": [
            {
                "path": s.source.path, "kind": s.source.kind, "exists": s.source.exists,
                "size": s.source.size, "modified_at": _time(s.source.mtime),
                "offset": s.source.offset, "level": s.level,
            }
            for s in h.sources
        ],
        "problems": [p.to_json() for p in h.problems],
    }


def duration(seconds: float) -> str:
    """``4m12s``, ``1h52m``, ``3d4h``: short enough for a status line."""
    s = int(abs(seconds))
    sign = "-" if seconds < 0 else ""
    if s < 60:
        return f"{sign}{s}s"
    if s < 3600:
        return f"{sign}{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{sign}{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{sign}{s // 86400}d{s % 86400 // 3600}h"


def _suite_lines(s: SuiteHealth, show_secrets: bool) -> list[str]:
    lines = [f"suite {s.suite_id}" + ("" if s.configured else " (not in the config)")]
    if s.ticket is None:
        lines.append("  ticket: none yet")
    else:
        flag = " REJECTED by WeCom (40085)" if s.ticket.rejected else ""
        lines.append(
            f"  ticket: {duration(s.ticket.age_s)} old "
            f"(TimeStamp {format_time(s.ticket.timestamp)}) [{s.ticket.level}]{flag}"
        )
    if s.token is None:
        lines.append("  token: none cached (fetched when needed)")
    elif s.token.valid:
        lines.append(
            f"  token: valid for {duration(s.token.valid_for_s)} "
            f"(until {format_time(s.token.expires_at)})"
        )
    else:
        lines.append(f"  token: expired {format_time(s.token.expires_at)} (refetched when needed)")
    for c in s.corps:
        secret = c.permanent_code if show_secrets else mask_secret(c.permanent_code)
        obtained = format_time(c.obtained_at) if c.obtained_at else "?"
        lines.append(
            f"  corp {c.corpid}  name {c.corp_name or '?'}  agentid {c.agentid}  "
            f"secret {secret or '-'}  obtained {obtained}  [{c.status}]"
        )
    counts = ", ".join(f"{n} {status}" for status, n in sorted(s.auth_code_counts.items()))
    lines.append(f"  auth codes: {counts or 'none'}")
    for a in s.auth_codes:
        err = f" errcode {a.errcode}" if a.errcode is not None else ""
        err += f": {a.error}" if a.error else ""
        lines.append(
            f"    {a.key} {a.info_type} {a.status} after {a.attempts} attempt(s){err} [{a.level}]"
        )
        lines.append(f"      -> {a.action}")
    if s.last_error:
        lines.append(f"  last error: {json.dumps(dict(s.last_error), ensure_ascii=False)}")
    return lines


def render_text(h: HealthReport, *, show_secrets: bool = False) -> str:
    """The human view: per suite, corps, codes with what to do, IPs with where."""
    verdict = "OK" if h.exit_code == 0 else f"ACTION NEEDED ({len(h.problems)} problem(s))"
    updated = format_time(h.state_updated_at) if h.state_updated_at else "never (no state yet)"
    lines = [f"health: {verdict}  [{h.level}]", f"state updated: {updated}", ""]
    for s in h.suites:
        lines.extend(_suite_lines(s, show_secrets))
        lines.append("")
    waiting = [b for b in h.blocked_ips if b.waiting]
    lines.append(f"IPs to whitelist: {len(waiting) or 'none'}")
    for b in waiting:
        corp = f" corp {b.corpid}" if b.corpid else ""
        lines.append(
            f"  {b.ip}  {b.whitelist}{corp}  seen {b.count}x, last {format_time(b.last_seen)}"
        )
        lines.append(f"    -> {b.where}; a change takes about a minute to apply")
    for src in h.sources:
        o = src.source
        if o.exists:
            where = f"{o.size} bytes, read to {o.offset if o.offset is not None else '?'}"
        else:
            where = "missing"
        lines.append(f"source {o.kind} {o.path}: {where} [{src.level}]")
    if h.problems:
        lines.append("")
        lines.append("to do:")
        for p in h.problems:
            lines.append(f"  [{p.level}] {p.message}")
            if p.action:
                lines.append(f"      -> {p.action}")
    return "\n".join(lines) + "\n"


@main.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the health model as JSON.")
@click.option("--show-secrets", is_flag=True, help="Show the corps' app secrets in full.")
@click.pass_obj
def status(obj: CliContext, as_json: bool, show_secrets: bool) -> None:
    """Show per suite the ticket's age and token, the corps, codes and IPs to act on.

    Exit 0 when healthy, 1 when an operator must act (stale or missing ticket,
    pending or failed auth code, IP to whitelist, missing log), 2 on error. Reads
    the state file without the daemon's lock; secrets are masked unless
    --show-secrets is given.
    """
    config = obj.load_config(to_stderr=True)
    state = StateStore(config.state_file).load()
    model = assess_deployment(config, state, now=time.time())
    if as_json:
        text = json.dumps(health_to_json(model, show_secrets=show_secrets), ensure_ascii=False,
                          indent=2)
        click.echo(text)
    else:
        click.echo(render_text(model, show_secrets=show_secrets), nl=False)
    sys.exit(model.exit_code)
