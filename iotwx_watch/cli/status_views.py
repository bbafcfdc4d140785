"""Three views of the health model: the `status` page, `status --json`, `status --nagios`.

The page (also the end of `demo`) puts the worst problem on its first line, so a cron
mail or a glance at a terminal is enough; then per suite ticket, token, corps, auth
codes; the IPs to whitelist and the logs; then the to-do list, where each action is
said once under the problems it solves. Colour by level on a terminal only (the caller
decides). The Nagios line follows the monitoring-plugins format: ``SERVICE STATUS -
text | perfdata``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from iotwx_watch.cli.console import paint
from iotwx_watch.cli.status_document import STATUS_SCHEMA_VERSION
from iotwx_watch.report.health import (
    LEVEL_RANK,
    TICKET_CRITICAL_S,
    TICKET_WARN_S,
    HealthReport,
    Problem,
    SuiteHealth,
)
from iotwx_watch.report.verdict import (  # noqa: F401  (re-exported for the views' callers)
    LABELS,
    by_level,
    corp_label,
    headline,
    plural,
    problem_text,
    summary,
)
from iotwx_watch.state.model import format_time

NAGIOS_CODES = {"ok": 0, "warn": 1, "critical": 2}
_PLAIN_LABEL = re.compile(r"^[A-Za-z0-9_.\-]+$")


def mask_secret(value: str | None) -> str | None:
    """Enough to tell two secrets apart, never enough to use one."""
    if not value:
        return value
    return f"****{value[-4:]}" if len(value) >= 16 else "****"


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


def _suite_lines(s: SuiteHealth, show_secrets: bool, color: bool) -> list[str]:
    def tag(level: str) -> str:
        return paint(f"[{level}]", level, color=color)

    lines = [f"suite {s.suite_id}" + ("" if s.configured else " (not in the config)")]
    if s.ticket is None:
        lines.append("  ticket: none yet")
    else:
        flag = " REJECTED by WeCom (40085)" if s.ticket.rejected else ""
        lines.append(
            f"  ticket: {duration(s.ticket.age_s)} old "
            f"(TimeStamp {format_time(s.ticket.timestamp)}) {tag(s.ticket.level)}{flag}"
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
    shown_errors = set()
    for a in s.auth_codes:  # what to do about each is in the to-do list
        err = f": {a.error}" if a.error else ""
        if a.errcode is not None and str(a.errcode) not in err:
            err = f" errcode {a.errcode}{err}"
        shown_errors.add((a.errcode, a.error))
        lines.append(
            f"    {a.key} {a.info_type} {a.status} after {a.attempts} attempt(s){err} "
            f"{tag(a.level)}"
        )
    last = s.last_error
    if last and (last.get("errcode"), last.get("error")) not in shown_errors:
        at = f" ({last['at']})" if last.get("at") else ""
        error = last.get("error") or f"errcode {last.get('errcode')}"
        lines.append(f"  last error{at}: {error}")
    return lines


def _todo_groups(problems: Iterable[Problem]) -> list[tuple[str | None, list[Problem]]]:
    """Problems grouped by what to do about them, so each action is said once.

    An action that another one contains (the whitelist step inside "whitelist our
    address …, retried until …") joins that one's group: the longer says both.
    """
    groups: dict[str | None, list[Problem]] = {}
    for p in by_level(problems):
        groups.setdefault(p.action, []).append(p)
    for action in list(groups):
        wider = [other for other in groups if action and other and action != other
                 and action in other]
        if wider:
            groups[wider[0]] = by_level(groups[wider[0]] + groups.pop(action))
    return sorted(groups.items(), key=lambda group: -LEVEL_RANK[group[1][0].level])


def _todo_lines(h: HealthReport, color: bool) -> list[str]:
    """The to-do list: the problems, each group followed by its one action."""
    lines = ["to do:"]
    for action, problems in _todo_groups(h.problems):
        for p in problems:
            lines.append(f"  {paint(f'[{p.level}]', p.level, color=color)} {problem_text(p, h)}")
        if action:
            lines.append(f"      -> {action}")
    return lines


def render_text(h: HealthReport, *, show_secrets: bool = False, color: bool = False) -> str:
    """The human view: the worst problem first, per suite corps and codes, IPs, logs, to do."""
    updated = format_time(h.state_updated_at) if h.state_updated_at else "never (no state yet)"
    lines = [paint(headline(h), h.level, color=color), f"state updated: {updated}", ""]
    for s in h.suites:
        lines.extend(_suite_lines(s, show_secrets, color))
        lines.append("")
    waiting = [b for b in h.blocked_ips if b.waiting]
    lines.append(f"IPs to whitelist: {len(waiting) or 'none'}")
    for b in waiting:  # where to add each is in the to-do list
        corp = f" corp {corp_label(h, b.corpid)}" if b.corpid else ""
        lines.append(
            f"  {b.ip}  {b.whitelist}{corp}  seen {b.count}x, last {format_time(b.last_seen)}"
        )
    for src in h.sources:
        o = src.source
        if o.exists:
            where = f"{o.size} bytes, read to {o.offset if o.offset is not None else '?'}"
        else:
            where = "missing"
        tag = paint(f"[{src.level}]", src.level, color=color)
        lines.append(f"source {o.kind} {o.path}: {where} {tag}")
    for sink in h.sinks:
        queued = (f"{sink.waiting} waiting since {format_time(sink.oldest_at)}"
                  if sink.oldest_at is not None else "nothing waiting")
        error = f" (last error: {sink.last_error})" if sink.waiting and sink.last_error else ""
        lines.append(f"notify {sink.name}: {queued}{error}; {sink.delivered} delivered, "
                     f"{sink.probably_delivered} probably delivered, {sink.expired} expired")
    if h.problems:
        lines.append("")
        lines.extend(_todo_lines(h, color))
    return "\n".join(lines) + "\n"


# -- status --json ----------------------------------------------------------------
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
        "schema_version": STATUS_SCHEMA_VERSION,
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
        "notifications": [
            {
                "sink": n.name, "waiting": n.waiting, "oldest_at": _time(n.oldest_at),
                "delivered": n.delivered, "probably_delivered": n.probably_delivered,
                "expired": n.expired, "failed_attempts": n.failed_attempts,
                "last_error": n.last_error, "last_delivered_at": _time(n.last_delivered_at),
                "last_expired_at": _time(n.last_expired_at),
            }
            for n in h.sinks
        ],
    }


# -- status --nagios ---------------------------------------------------------------
def _perf(label: str, value: float | None, unit: str = "", warn: str = "", crit: str = "") -> str:
    """One perfdata item, ``'label'=value[unit];warn;crit;0`` (``U`` when unknown)."""
    if not _PLAIN_LABEL.match(label):
        label = "'" + label.replace("'", "") + "'"
    shown = "U" if value is None else f"{int(value)}{unit}"
    return f"{label}={shown};{warn};{crit};0"


def nagios_line(h: HealthReport) -> str:
    """``IOTWX-WATCH WARNING - <worst problem> | <perfdata>``: the one line a check prints."""
    perf = [
        _perf(f"ticket_age_{s.suite_id}", s.ticket.age_s if s.ticket else None, "s",
              str(TICKET_WARN_S), str(TICKET_CRITICAL_S))
        for s in h.suites
        if s.configured
    ]
    pending = sum(1 for s in h.suites for a in s.auth_codes if a.status in ("pending", "redeeming"))
    perf.append(_perf("pending_codes", pending))
    perf.append(_perf("ips_to_whitelist", sum(1 for b in h.blocked_ips if b.waiting)))
    updated = h.state_updated_at
    perf.append(_perf("state_age", None if updated is None else h.now - updated, "s"))
    return f"IOTWX-WATCH {LABELS[h.level]} - {summary(h)} | {' '.join(perf)}"
