"""The health model: one judgement of the state, shared by `status`, metrics and notifications.

:func:`assess` is pure (state + config + source observations + ``now`` in, a frozen
:class:`HealthReport` out), so the three consumers can never disagree about what needs an
operator. :func:`observe_sources` is the only IO here: one ``os.stat`` per configured log.

Levels: ``ok`` needs nothing; ``warn`` and ``critical`` need an operator (``status``
exits 1). Thresholds follow WeCom: a suite_ticket is pushed every 10 minutes and is
valid for 30, so two missed pushes (20 minutes) warn and an invalid ticket is critical.
"""

from __future__ import annotations

from collections.abc import Sequence

from iotwx_watch.config import Config
from iotwx_watch.report.codes import suite_health
from iotwx_watch.report.findings import (
    ACTION_NEW_CODE,
    ACTION_RELOAD,
    ACTION_TICKET,
    BLOCKED_IP_QUIET_S,
    FAILED_CODE_HORIZON_S,
    LEVEL_RANK,
    SOURCE_BEHIND_S,
    SOURCE_STALE_S,
    TICKET_CRITICAL_S,
    TICKET_WARN_S,
    WHERE,
    WHITELIST_NOTE,
    AuthCodeView,
    BlockedIpView,
    CorpView,
    HealthReport,
    Level,
    Problem,
    SourceHealth,
    SourceObservation,
    SuiteHealth,
    TicketHealth,
    TokenHealth,
    worst,
)
from iotwx_watch.report.records import (
    blocked_ip_views,
    cancel_checks,
    ignored_records,
    missed_records,
    notification_problems,
    service_problems,
    sink_views,
)
from iotwx_watch.report.sources import observe_sources, source_health
from iotwx_watch.state.model import State, SuiteState

__all__ = [
    "ACTION_NEW_CODE",
    "ACTION_RELOAD",
    "ACTION_TICKET",
    "AuthCodeView",
    "BLOCKED_IP_QUIET_S",
    "BlockedIpView",
    "CorpView",
    "FAILED_CODE_HORIZON_S",
    "HealthReport",
    "LEVEL_RANK",
    "Level",
    "Problem",
    "SOURCE_BEHIND_S",
    "SOURCE_STALE_S",
    "SourceHealth",
    "SourceObservation",
    "SuiteHealth",
    "TICKET_CRITICAL_S",
    "TICKET_WARN_S",
    "TicketHealth",
    "TokenHealth",
    "WHERE",
    "WHITELIST_NOTE",
    "assess",
    "assess_deployment",
    "observe_sources",
    "worst",
]


def assess(
    state: State,
    *,
    now: float,
    config: Config | None = None,
    sources: Sequence[SourceObservation] = (),
) -> HealthReport:
    """Judge ``state`` at ``now``. Suites in the config count even before their first ticket."""
    problems: list[Problem] = []
    configured = {s.suite_id for s in config.suites} if config else set(state.suites)
    suites = []
    for suite_id in sorted(configured | set(state.suites)):
        suite_state = state.suites.get(suite_id) or SuiteState()
        suites.append(
            suite_health(suite_id, suite_id in configured, suite_state, now, problems, config)
        )
    cancel_checks(state, now, problems)
    ignored_records(state, now, problems)
    missed_records(state, now, problems)
    blocked = [
        view
        for ip, entry in sorted(state.blocked_ips.items())
        for view in blocked_ip_views(ip, entry, now)
    ]
    for view in blocked:
        if view.waiting:
            problems.append(
                Problem(
                    "ip_to_whitelist",
                    "critical" if view.whitelist == "provider" else "warn",
                    f"ip:{view.whitelist}:{view.ip}",
                    f"WeCom refuses {view.ip} (60020, seen {view.count}x); "
                    f"add it to the {view.whitelist} whitelist",
                    f"{view.where}; {WHITELIST_NOTE}",
                )
            )
    if config is not None and not config.sources:
        problems.append(Problem(
            "no_sources", "critical", "config:no_sources",
            "the config names no [[source]]: iotwx-watch watches nothing",
            "add a [[source]] for receive.log (kind = \"callback\") and one for "
            f"policy_engine.log, {ACTION_RELOAD}"))
    behind_since = state.updated_at
    judged = [source_health(obs, now, problems, behind_since, config)
                     for obs in sources]
    service_problems(state, problems)
    sinks = sink_views(state, [s.name for s in config.notify] if config else ())
    notification_problems(state, sinks, now, problems)
    return HealthReport(
        now=now,
        state_updated_at=state.updated_at,
        suites=tuple(suites),
        blocked_ips=tuple(blocked),
        sources=tuple(judged),
        problems=tuple(problems),
        sinks=tuple(sinks),
    )


def assess_deployment(config: Config, state: State, *, now: float) -> HealthReport:
    """The health of a configured deployment: ``state`` plus a look at its log files."""
    return assess(state, now=now, config=config, sources=observe_sources(config.sources, state))


