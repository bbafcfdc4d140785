"""The verdict in one line: the worst problem and how many more, or that all is well.

The same words head `status`, fill the Nagios line and systemd's ``STATUS=``, so
`systemctl status iotwx-watch` and `iotwx-watch status` never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable

from iotwx_watch.report.findings import LEVEL_RANK, HealthReport, Problem

LABELS = {"ok": "OK", "warn": "WARNING", "critical": "CRITICAL"}


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def by_level(problems: Iterable[Problem]) -> list[Problem]:
    """Critical first, then warnings; the model's order within a level."""
    return sorted(problems, key=lambda p: -LEVEL_RANK[p.level])


def corp_label(h: HealthReport, corpid: str) -> str:
    """``name (corpid)`` when a suite knows the corp's name, else the corpid."""
    for suite in h.suites:
        for corp in suite.corps:
            if corp.corpid == corpid and corp.corp_name:
                return f"{corp.corp_name} ({corpid})"
    return corpid


def problem_text(p: Problem, h: HealthReport) -> str:
    """The problem's message, naming the corp an app-whitelist address belongs to."""
    if p.code == "ip_to_whitelist":
        for b in h.blocked_ips:
            if p.key == f"ip:{b.whitelist}:{b.ip}" and b.whitelist == "app" and b.corpid:
                return f"{p.message} of {corp_label(h, b.corpid)}"
    return p.message


def summary(h: HealthReport) -> str:
    """The worst problem and how many others, or what is known when all is well."""
    if h.problems:
        first, *rest = by_level(h.problems)
        more = f" (and {plural(len(rest), 'more problem')})" if rest else ""
        return problem_text(first, h) + more
    corps = sum(1 for s in h.suites for c in s.corps if c.status == "active")
    return (f"all is well: {plural(len(h.suites), 'suite')}, "
            f"{plural(corps, 'active corp')}, nothing to do")


def headline(h: HealthReport) -> str:
    """``CRITICAL: <worst problem> (and 2 more problems)``."""
    return f"{LABELS[h.level]}: {summary(h)}"
