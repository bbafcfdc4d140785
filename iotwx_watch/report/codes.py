"""Judging one suite: its ticket, its token, its corps and every auth code still worth
showing, each with the real fix for what it waits for."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from iotwx_watch.config import Config
from iotwx_watch.report.findings import (
    ACTION_NEW_CODE,
    ACTION_RELOAD,
    ACTION_TICKET,
    CONFIG_ERRCODE_ADVICE,
    FAILED_CODE_HORIZON_S,
    TICKET_CRITICAL_S,
    TICKET_WARN_S,
    WHERE,
    WHITELIST_NOTE,
    AuthCodeView,
    CorpView,
    Level,
    Problem,
    SuiteHealth,
    TicketHealth,
    TokenHealth,
)
from iotwx_watch.state.model import AuthCodeEntry, SuiteState, format_time


def suite_health(
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
        template = CONFIG_ERRCODE_ADVICE.get(code.errcode or 0)
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


# What the operator's recovery of a lost code brings: 重新获取 sends a reset_permanent_code,
# `redeem` records a "manual" code.
_RECOVERY_INFO_TYPES = frozenset({"reset_permanent_code", "manual"})


def _superseded(code: AuthCodeEntry, suite: SuiteState) -> bool:
    """A failed or expired code stops mattering once a later code for its corp was redeemed.

    A code whose corp is unknown (killed during the call, a reset_permanent_code) can only
    be settled by the operator's recovery, a later code from 重新获取 or `redeem`: another
    corp's new authorization says nothing about the customer that was lost.
    """
    if code.corpid is not None:
        corp = suite.corps.get(code.corpid)
        if corp is not None and (corp.obtained_at or 0.0) >= code.updated_at:
            return True
    return any(
        other.status == "redeemed"
        and other.updated_at >= code.updated_at
        and other.timestamp > code.timestamp
        and (other.info_type in _RECOVERY_INFO_TYPES if code.corpid is None
             else other.corpid == code.corpid)
        for other in suite.auth_codes.values()
    )


