"""Judging what the state keeps beside suites: addresses to whitelist, cancels awaiting
WeCom's word, and records ignored because they could not be trusted."""

from __future__ import annotations

from iotwx_watch.report.findings import BLOCKED_IP_QUIET_S, BlockedIpView, Problem
from iotwx_watch.state.model import BlockedIpEntry, State, format_time


def blocked_ip_views(ip: str, entry: BlockedIpEntry, now: float) -> list[BlockedIpView]:
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



# Ignored records worth an operator's attention: someone may be forging callbacks, or a
# suite is missing from the config. (Old TimeStamps after an outage are not news.)
_IGNORED_ADVICE = {
    "unknown_suite": "records for a suite not in the config were ignored; if {suite} is "
                     "yours, add a [[suite]] for it, else someone posts forged callbacks",
    "future_timestamp": "records with a TimeStamp in the future were ignored (forged, or "
                        "this host's clock is wrong: check timedatectl)",
    "cancel_refuted": "a cancel_auth for a corp WeCom still lists as authorized was ignored; "
                      "someone may be forging callbacks (see docs/security.md, "
                      "require_signature)",
    "unsigned": "plaintext records for a suite that requires signed envelopes were ignored",
}
IGNORED_RECENT_S = 24 * 3600


def ignored_records(state: State, now: float, problems: list[Problem]) -> None:
    for reason, seen in sorted(state.ignored_records.items()):
        advice = _IGNORED_ADVICE.get(reason)
        if advice is None or now - seen.last_at > IGNORED_RECENT_S:
            continue
        where = f" at {seen.last_source}" if seen.last_source else ""
        problems.append(Problem(
            f"records_{reason}", "warn", f"ignored:{reason}",
            f"{seen.count} record(s) ignored ({reason}), the last {format_time(seen.last_at)}"
            f"{where}",
            advice.format(suite=seen.last_suite_id or "that suite"),
            seen.last_suite_id))


def cancel_checks(state: State, now: float, problems: list[Problem]) -> None:
    for suite_id, suite in sorted(state.suites.items()):
        for corpid, corp in sorted(suite.corps.items()):
            check = corp.cancel_check
            if check is None:
                continue
            name = f"{corp.corp_name} ({corpid})" if corp.corp_name else corpid
            problems.append(Problem(
                "cancel_unconfirmed", "warn", f"cancel:{suite_id}:{corpid}",
                f"a cancel_auth for corp {name} awaits WeCom's confirmation "
                f"({check.attempts} check(s)" + (f": {check.error}" if check.error else "")
                + "); its Secret is kept until WeCom confirms",
                f"iotwx-watch asks WeCom again at {format_time(check.next_check_at)}; make "
                "sure WeCom is reachable and the suite has a usable ticket",
                suite_id))
