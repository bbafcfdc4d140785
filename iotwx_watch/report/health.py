"""The health model: one judgement of the state, shared by `status`, metrics and notifications.

:func:`health` is pure (state + config + source observations + ``now`` in, a frozen
:class:`HealthReport` out), so the three consumers can never disagree about what needs an
operator. :func:`observe_sources` is the only IO here: one ``os.stat`` per configured log.

Levels: ``ok`` needs nothing; ``warn`` and ``critical`` need an operator (``status``
exits 1). Thresholds follow WeCom: a suite_ticket is pushed every 10 minutes and is
valid for 30, so two missed pushes (20 minutes) warn and an invalid ticket is critical.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from iotwx_watch.config import Config, SourceConfig, SourceKind
from iotwx_watch.state.model import (
    SOURCE_ERRORS,
    AuthCodeEntry,
    BlockedIpEntry,
    State,
    SuiteState,
    format_time,
)

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

WHERE: dict[str, str] = {
    "provider": "服务商管理后台 → 服务商信息 → 基本信息 → IP白名单",
    "app": "代开发应用详情 → 企业可信IP, then re-publish the app (代开发应用上线)",
}
WHITELIST_NOTE = "a whitelist change takes about a minute to apply"
ACTION_NEW_CODE = "click 重新获取 on the 代开发应用 page so WeCom sends a new code"
ACTION_TICKET = "check the callback server; 刷新Ticket in the template's 回调配置 pushes one now"
ACTION_RELOAD = "then `systemctl reload iotwx-watch` (a timer's next `once` picks it up)"
_CONFIG_ERRCODES = {
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
    read_error: Mapping[str, Any] | None = None  # why the daemon could not read it


@dataclass(frozen=True)
class SourceHealth:
    source: SourceObservation
    level: Level


@dataclass(frozen=True)
class HealthReport:
    now: float
    state_updated_at: float | None
    suites: tuple[SuiteHealth, ...]
    blocked_ips: tuple[BlockedIpView, ...]
    sources: tuple[SourceHealth, ...]
    problems: tuple[Problem, ...]

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


def observe_sources(sources: Sequence[SourceConfig], state: State) -> list[SourceObservation]:
    """Stat every configured log (the imperative part; :func:`health` stays pure)."""
    seen: list[SourceObservation] = []
    errors = state.extra.get(SOURCE_ERRORS)
    errors = errors if isinstance(errors, dict) else {}
    for source in sources:
        cursor = state.sources.get(source.path) or {}
        offset = cursor.get("offset")
        offset = offset if isinstance(offset, int) and not isinstance(offset, bool) else None
        error = errors.get(source.path)
        error = error if isinstance(error, dict) else None
        try:
            st = os.stat(source.path)
        except OSError:
            seen.append(SourceObservation(source.path, source.kind, False, offset=offset,
                                          read_error=error))
            continue
        same = (cursor.get("dev"), cursor.get("inode")) == (st.st_dev, st.st_ino)
        seen.append(SourceObservation(source.path, source.kind, True, st.st_size, st.st_mtime,
                                      offset, same_file=same, read_error=error))
    return seen


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
            _suite_health(suite_id, suite_id in configured, suite_state, now, problems, config)
        )
    blocked = [
        view
        for ip, entry in sorted(state.blocked_ips.items())
        for view in _blocked_ips(ip, entry, now)
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
    source_health = [_source_health(obs, now, problems, behind_since, config)
                     for obs in sources]
    return HealthReport(
        now=now,
        state_updated_at=state.updated_at,
        suites=tuple(suites),
        blocked_ips=tuple(blocked),
        sources=tuple(source_health),
        problems=tuple(problems),
    )


def assess_deployment(config: Config, state: State, *, now: float) -> HealthReport:
    """The health of a configured deployment: ``state`` plus a look at its log files."""
    return assess(state, now=now, config=config, sources=observe_sources(config.sources, state))


def _suite_health(
    suite_id: str, configured: bool, suite: SuiteState, now: float, problems: list[Problem],
    config: Config | None,
) -> SuiteHealth:
    ticket = None
    if suite.suite_ticket is not None:
        entry = suite.suite_ticket
        age = now - entry.timestamp
        level: Level = "ok"
        if entry.rejected or age >= TICKET_CRITICAL_S:
            level = "critical"
        elif age >= TICKET_WARN_S:
            level = "warn"
        ticket = TicketHealth(entry.timestamp, age, entry.received_at, entry.rejected, level)
    if configured:
        _ticket_problem(suite_id, ticket, problems)
    token = None
    if suite.suite_access_token is not None:
        expires = suite.suite_access_token.expires_at
        token = TokenHealth(expires, expires - now)
    corps = tuple(
        CorpView(corpid, c.corp_name, c.agentid, c.status, c.obtained_at, c.permanent_code)
        for corpid, c in sorted(suite.corps.items())
    )
    codes = []
    for key, code in sorted(suite.auth_codes.items(), key=lambda kv: kv[1].first_seen):
        view = _auth_code(key, code, suite, now, _Context(suite_id, config))
        if view is None:
            continue
        codes.append(view)
        problems.append(
            Problem(
                f"auth_code_{view.status}",
                view.level,
                f"auth_code:{suite_id}:{key}",
                _code_message(key, code, view, now),
                view.action,
                suite_id,
            )
        )
    counts: Counter[str] = Counter(code.status for code in suite.auth_codes.values())
    return SuiteHealth(
        suite_id=suite_id,
        configured=configured,
        ticket=ticket,
        token=token,
        corps=corps,
        auth_codes=tuple(codes),
        auth_code_counts=dict(counts),
        last_error=suite.last_error,
    )


def _ticket_problem(suite_id: str, ticket: TicketHealth | None, problems: list[Problem]) -> None:
    key = f"ticket:{suite_id}"
    if ticket is None:
        problems.append(
            Problem("ticket_missing", "warn", key, f"no suite_ticket yet for {suite_id}",
                    ACTION_TICKET, suite_id)
        )
    elif ticket.rejected:
        problems.append(
            Problem("ticket_rejected", "critical", key,
                    f"WeCom rejected the newest suite_ticket of {suite_id} (40085)",
                    ACTION_TICKET, suite_id)
        )
    elif ticket.level != "ok":
        code = "ticket_expired" if ticket.level == "critical" else "ticket_stale"
        problems.append(
            Problem(code, ticket.level, key,
                    f"the newest suite_ticket of {suite_id} is {int(ticket.age_s // 60)} min old",
                    ACTION_TICKET, suite_id)
        )


@dataclass(frozen=True)
class _Context:
    suite_id: str
    config: Config | None


def _code_message(key: str, code: AuthCodeEntry, view: AuthCodeView, now: float) -> str:
    """What happened to the code, with its attempts and when it is tried next."""
    text = f"{code.info_type} auth code {key}: {view.status}"
    if code.errcode is not None:
        text += f" (errcode {code.errcode})"
    text += f", {code.attempts} attempt(s)"
    if code.status == "pending" and now <= code.deadline:
        nxt = code.next_attempt_at
        if nxt is not None and nxt < code.deadline:
            text += f", next try {format_time(max(nxt, now))}"
        text += f", valid until {format_time(code.deadline)}"
    return text


def _pending_action(code: AuthCodeEntry, ctx: _Context) -> str:
    """The real fix for what the code waits for, named as the operator can act on it."""
    suite, until = ctx.suite_id, format_time(code.deadline)
    cfg = ctx.config.suite(suite) if ctx.config is not None else None
    if code.waiting_for == "config":
        if ctx.config is not None and cfg is None:
            return f"add a [[suite]] for {suite} to the config, {ACTION_RELOAD}"
        template = _CONFIG_ERRCODES.get(code.errcode or 0)
        if template is not None:
            return f"{template.format(suite=suite)}, {ACTION_RELOAD}"
        return (f"give suite {suite} its suite_secret ($CREDENTIALS_DIRECTORY/{suite}"
                f".suite_secret, or suite_secret_file in the config), {ACTION_RELOAD}")
    if code.waiting_for == "ticket":
        return f"waiting for a newer suite_ticket: {ACTION_TICKET}"
    if code.waiting_for == "ip" or code.errcode == 60020:
        return (f"whitelist our address at {WHERE['provider']}; {WHITELIST_NOTE}; "
                f"retried every 15 s until {until}")
    if code.waiting_for == "network":
        base = ctx.config.wecom.base_url if ctx.config is not None else "WeCom"
        reason = (code.error or "").split(": ", 1)[-1] or "no answer"
        return (f"WeCom unreachable at {base}: {reason}; check this host's network, "
                f"DNS and proxy; retried until {until}")
    if code.waiting_for == "state":
        return (f"the state file cannot be written ({code.error}); free disk space or fix "
                f"the state directory; retried until {until}")
    return f"iotwx-watch retries it until {until}; keep the daemon running"


def _auth_code(
    key: str, code: AuthCodeEntry, suite: SuiteState, now: float, ctx: _Context
) -> AuthCodeView | None:
    """The view of a code still worth showing, with what to do about it; None when settled."""
    status = code.status
    level: Level
    if status == "redeemed":
        return None
    if status in ("pending", "redeeming"):
        if now > code.deadline:
            level, action = "critical", f"its 10 minutes are over: {ACTION_NEW_CODE}"
        elif status == "redeeming":
            level, action = "warn", "being redeemed now; if iotwx-watch is not running, " + (
                ACTION_NEW_CODE
            )
        else:
            level, action = "warn", _pending_action(code, ctx)
    else:
        if _superseded(code, suite) or now - code.updated_at > FAILED_CODE_HORIZON_S:
            return None
        level, action = "critical", ACTION_NEW_CODE
    if code.hint:
        action = f"{code.hint} ({action})" if code.hint not in action else action
    return AuthCodeView(
        key=key,
        status=status,
        info_type=code.info_type,
        attempts=code.attempts,
        deadline=code.deadline,
        corpid=code.corpid,
        errcode=code.errcode,
        error=code.error,
        level=level,
        action=action,
    )


def _superseded(code: AuthCodeEntry, suite: SuiteState) -> bool:
    """A failed or expired code stops mattering once a later code for its corp was redeemed."""
    if code.corpid is not None:
        corp = suite.corps.get(code.corpid)
        if corp is not None and (corp.obtained_at or 0.0) >= code.updated_at:
            return True
    return any(
        other.status == "redeemed"
        and other.updated_at >= code.updated_at
        and other.timestamp > code.timestamp
        and (code.corpid is None or other.corpid == code.corpid)
        for other in suite.auth_codes.values()
    )


def _blocked_ips(ip: str, entry: BlockedIpEntry, now: float) -> list[BlockedIpView]:
    """One view per place to whitelist (the engine may record both for one address).

    ``resolved_at`` is the engine's proof that our own calls pass again, so it settles
    the provider side only; the app side is settled by a day without a 60020.
    """
    places = entry.extra.get("whitelists")
    whitelists = {entry.whitelist} | (
        {str(p) for p in places} if isinstance(places, list) else set()
    )
    recent = now - entry.last_seen < BLOCKED_IP_QUIET_S
    return [
        BlockedIpView(
            ip=ip,
            whitelist=whitelist,
            first_seen=entry.first_seen,
            last_seen=entry.last_seen,
            count=entry.count,
            waiting=recent and not (whitelist == "provider" and entry.resolved_at is not None),
            corpid=entry.corpid,
            hint=entry.hint,
            resolved_at=entry.resolved_at if whitelist == "provider" else None,
        )
        for whitelist in sorted(whitelists)
    ]


def _source_health(
    obs: SourceObservation, now: float, problems: list[Problem], state_updated_at: float | None,
    config: Config | None,
) -> SourceHealth:
    key = f"source:{obs.path}"
    if obs.read_error is not None:
        uid = obs.read_error.get("uid")
        problems.append(
            Problem("source_unreadable", "critical", key,
                    f"iotwx-watch (uid {uid}) cannot read {obs.kind} log {obs.path}: "
                    f"{obs.read_error.get('error')} (since {obs.read_error.get('since')})",
                    f"give uid {uid} read access to {obs.path} and its directories (e.g. the "
                    "file's group in SupplementaryGroups= of the unit, or a logrotate "
                    "'create' mode that keeps it readable), then `systemctl restart "
                    "iotwx-watch`")
        )
        return SourceHealth(obs, "critical")
    if not obs.exists:
        problems.append(
            Problem("source_missing", "warn", key, f"{obs.kind} log {obs.path} does not exist",
                    "check the path in the config and that the writer is running")
        )
        return SourceHealth(obs, "warn")
    behind = _bytes_behind(obs)
    poll = config.poll_interval_s if config is not None else 2.0
    quiet_for = now - state_updated_at if state_updated_at is not None else None
    if behind and (quiet_for is None or quiet_for > max(SOURCE_BEHIND_S, 3 * poll)):
        since = format_time(state_updated_at) if state_updated_at is not None else "never"
        problems.append(
            Problem("source_not_read", "critical", key,
                    f"iotwx-watch is not reading {obs.path} ({behind} bytes behind; state "
                    f"last written {since}); is the service running?",
                    "systemctl status iotwx-watch (or the timer: systemctl list-timers "
                    "iotwx-watch-once); journalctl -u iotwx-watch for why it stopped")
        )
        return SourceHealth(obs, "critical")
    if obs.kind == "callback" and obs.mtime is not None and now - obs.mtime > SOURCE_STALE_S:
        problems.append(
            Problem("source_stalled", "warn", key,
                    f"callback log {obs.path} has not grown for {int((now - obs.mtime) // 60)} min",
                    ACTION_TICKET)
        )
        return SourceHealth(obs, "warn")
    return SourceHealth(obs, "ok")



def _bytes_behind(obs: SourceObservation) -> int:
    """How far the file at the path is ahead of the saved position (0 if not known)."""
    if obs.size is None:
        return 0
    if obs.offset is None:
        return obs.size  # never read at all
    return obs.size - obs.offset if obs.same_file and obs.size > obs.offset else 0
