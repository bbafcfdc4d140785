"""What health is made of: levels, thresholds, the advice texts, and the frozen views
of suites, codes, addresses and logs that :func:`~iotwx_watch.report.health.assess` builds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from iotwx_watch.config import SourceKind
from iotwx_watch.state.model import ReadProblem

Level = Literal["ok", "warn", "critical"]
LEVEL_RANK: dict[str, int] = {"ok": 0, "warn": 1, "critical": 2}

TICKET_WARN_S = 20 * 60
TICKET_CRITICAL_S = 30 * 60
SOURCE_STALE_S = 30 * 60  # a callback log gets a ticket every 10 minutes per suite
# A log ahead of the saved position with no state write for this long is not being read
# (the daemon saves cursor progress every few seconds; a timer's `once` every run).
SOURCE_BEHIND_S = 120
BLOCKED_IP_QUIET_S = 24 * 3600  # no 60020 for a day: the address was most likely whitelisted
FAILED_CODE_HORIZON_S = 7 * 24 * 3600  # older failures are history, not a task
NOTIFY_BACKLOG_S = 10 * 60  # a message undelivered this long means its sink is down
NOTIFY_EXPIRED_RECENT_S = 24 * 3600  # an expired message is news for a day

WHERE: dict[str, str] = {
    "provider": "服务商管理后台 → 服务商信息 → 基本信息 → IP白名单",
    "app": "代开发应用详情 → 企业可信IP, then re-publish the app (代开发应用上线)",
}
WHITELIST_NOTE = "a whitelist change takes about a minute to apply"
ACTION_NEW_CODE = "click 重新获取 on the 代开发应用 page so WeCom sends a new code"
ACTION_TICKET = "check the callback server; 刷新Ticket in the template's 回调配置 pushes one now"
ACTION_RELOAD = "then `systemctl reload iotwx-watch` (a timer's next `once` picks it up)"
CONFIG_ERRCODE_ADVICE = {
    40080: "the suite_secret of {suite} is wrong (WeCom 40080): correct it",
    40083: "WeCom does not know suite_id {suite} (40083): correct it",
    48003: "WeCom does not know suite_id {suite} (48003): correct it",
    40013: "WeCom rejected a corpid (40013): check the config",
}


@dataclass(frozen=True)
class Problem:
    """Something an operator must act on. ``key`` is stable while the condition lasts."""

    code: str
    level: Level
    key: str
    message: str
    action: str | None = None
    suite_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "level": self.level,
            "key": self.key,
            "message": self.message,
            "action": self.action,
            "suite_id": self.suite_id,
        }


@dataclass(frozen=True)
class TicketHealth:
    """The newest ticket's age by its WeCom TimeStamp (what its validity counts from)."""

    timestamp: int
    age_s: float
    received_at: float
    rejected: bool
    level: Level


@dataclass(frozen=True)
class TokenHealth:
    expires_at: float
    valid_for_s: float

    @property
    def valid(self) -> bool:
        return self.valid_for_s > 0


@dataclass(frozen=True)
class CorpView:
    corpid: str
    corp_name: str | None
    agentid: int | None
    status: str
    obtained_at: float | None
    permanent_code: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class AuthCodeView:
    """A ledger entry that still matters (not redeemed, not superseded, not history)."""

    key: str
    status: str
    info_type: str
    attempts: int
    deadline: float
    corpid: str | None
    errcode: int | None
    error: str | None
    level: Level
    action: str


@dataclass(frozen=True)
class SuiteHealth:
    suite_id: str
    configured: bool
    ticket: TicketHealth | None
    token: TokenHealth | None
    corps: tuple[CorpView, ...]
    auth_codes: tuple[AuthCodeView, ...]
    auth_code_counts: Mapping[str, int]
    last_error: Mapping[str, Any] | None


@dataclass(frozen=True)
class BlockedIpView:
    ip: str
    whitelist: str
    first_seen: float
    last_seen: float
    count: int
    waiting: bool  # still to be whitelisted (seen recently, not resolved)
    corpid: str | None
    hint: str | None
    resolved_at: float | None

    @property
    def where(self) -> str:
        return WHERE.get(self.whitelist, self.whitelist)


@dataclass(frozen=True)
class SourceObservation:
    """What the file system says about a configured log, plus the saved read position."""

    path: str
    kind: SourceKind
    exists: bool
    size: int | None = None
    mtime: float | None = None
    offset: int | None = None
    same_file: bool = True  # the saved position belongs to the file now at the path
    read_error: ReadProblem | None = None  # why the daemon could not read it


@dataclass(frozen=True)
class SourceHealth:
    source: SourceObservation
    level: Level


@dataclass(frozen=True)
class SinkView:
    """One [[notify]] sink as the state's outbox and counters show it."""

    name: str
    waiting: int
    oldest_at: float | None
    delivered: int
    probably_delivered: int
    expired: int
    failed_attempts: int
    last_error: str | None
    last_delivered_at: float | None
    last_expired_at: float | None


@dataclass(frozen=True)
class HealthReport:
    now: float
    state_updated_at: float | None
    suites: tuple[SuiteHealth, ...]
    blocked_ips: tuple[BlockedIpView, ...]
    sources: tuple[SourceHealth, ...]
    problems: tuple[Problem, ...]
    sinks: tuple[SinkView, ...] = ()

    @property
    def level(self) -> Level:
        return worst(p.level for p in self.problems)

    @property
    def exit_code(self) -> int:
        """0 healthy, 1 an operator must act (`status`'s contract)."""
        return 0 if self.level == "ok" else 1

    def suite(self, suite_id: str) -> SuiteHealth | None:
        return next((s for s in self.suites if s.suite_id == suite_id), None)


def worst(levels: Iterable[Level]) -> Level:
    result: Level = "ok"
    for level in levels:
        if LEVEL_RANK[level] > LEVEL_RANK[result]:
            result = level
    return result


