"""Judging what the state keeps beside suites: addresses to whitelist, cancels awaiting
WeCom's word, and records ignored because they could not be trusted."""

from __future__ import annotations

from collections.abc import Sequence

from iotwx_watch.report.findings import (
    BLOCKED_IP_QUIET_S,
    NOTIFY_BACKLOG_S,
    NOTIFY_EXPIRED_RECENT_S,
    BlockedIpView,
    Level,
    Problem,
    SinkView,
)
from iotwx_watch.state.model import (
    AUTH_CODE_TTL_S,
    BlockedIpEntry,
    SinkRecord,
    State,
    format_time,
)


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


def sink_views(state: State, configured: Sequence[str] = ()) -> list[SinkView]:
    """Every sink the config names or the state remembers, with its outbox and counters."""
    notes = state.notifications
    names = sorted(set(configured) | set(notes.sinks) | {e.sink for e in notes.outbox.values()})
    views = []
    for name in names:
        waiting = [e for e in notes.outbox.values() if e.sink == name]
        record = notes.sinks.get(name) or SinkRecord()
        views.append(SinkView(
            name=name, waiting=len(waiting),
            oldest_at=min((e.created_at for e in waiting), default=None),
            delivered=record.delivered, probably_delivered=record.probably_delivered,
            expired=record.expired, failed_attempts=record.failed_attempts,
            last_error=record.last_error, last_delivered_at=record.last_delivered_at,
            last_expired_at=record.last_expired_at))
    return views


def notification_problems(state: State, sinks: Sequence[SinkView], now: float,
                          problems: list[Problem]) -> None:
    """A sink that takes nothing for a while, and messages given up on, are the operator's."""
    for sink in sinks:
        error = f" (last error: {sink.last_error})" if sink.last_error else ""
        if sink.oldest_at is not None and now - sink.oldest_at >= NOTIFY_BACKLOG_S:
            problems.append(Problem(
                "notify_undelivered", "warn", f"notify:{sink.name}",
                f"{sink.waiting} message(s) for sink {sink.name} undelivered since "
                f"{format_time(sink.oldest_at)}{error}",
                "check the receiver (`iotwx-watch notify test` tries every sink); messages "
                "are retried until they expire (expire_after_s)"))
        record = state.notifications.sinks.get(sink.name)
        if (record is not None and record.last_expired_at is not None
                and now - record.last_expired_at < NOTIFY_EXPIRED_RECENT_S):
            last = f": {record.last_expired_title}" if record.last_expired_title else ""
            problems.append(Problem(
                "notify_expired", "warn", f"notify_expired:{sink.name}",
                f"{record.expired} message(s) for sink {sink.name} expired undelivered, the "
                f"last {format_time(record.last_expired_at)}{last}{error}",
                "read them with `journalctl -u iotwx-watch | grep notify.expired`; fix the sink "
                "(`iotwx-watch notify test`); `status` shows what is still open"))


SERVICE_ADVICE = {
    "metrics_listen": "free the port or change [metrics] listen, then `systemctl restart "
                      "iotwx-watch`; until then it is retried every 30 s (redemption goes on)",
    "state_write": "free the state's disk, or bring Redis back; iotwx-watch keeps reading the "
                   "logs and retries with backoff, and loses nothing while it runs (no code is "
                   "sent to WeCom meanwhile)",
}
SERVICE_CODES: dict[str, tuple[str, Level]] = {
    "metrics_listen": ("metrics_unbound", "warn"),
    "state_write": ("state_unwritable", "critical"),
}


def service_problems(state: State, problems: list[Problem]) -> None:
    """What the daemon could not do for itself (e.g. bind the metrics listener)."""
    for facility, problem in sorted(state.service_errors.items()):
        code, level = SERVICE_CODES.get(facility, (f"service_{facility}", "warn"))
        problems.append(Problem(
            code, level, f"service:{facility}",
            f"{problem.error} (since {format_time(problem.since)})",
            SERVICE_ADVICE.get(facility)))


MISSED_RECENT_S = 24 * 3600  # a missed record older than a day is history
_CODE_TYPES = ("create_auth", "reset_permanent_code")


def missed_records(state: State, now: float, problems: list[Problem]) -> None:
    """One problem per record no extractor understood: where it is, why, what to do.

    Critical while it may be an auth code still inside its ten minutes."""
    for key, record in sorted(state.missed_records.items(), key=lambda kv: kv[1].first_seen):
        age = now - record.first_seen
        if age > MISSED_RECENT_S:
            continue
        urgent = record.kind == "callback" and age < AUTH_CODE_TTL_S and (
            record.info_type in _CODE_TYPES or record.info_type is None)
        what = record.info_type or ("callback" if record.kind == "callback" else "60020 line")
        problems.append(Problem(
            "record_unrecognized", "critical" if urgent else "warn", f"missed:{key}",
            f"a {what} record at {record.path}:{record.offset} was not understood "
            f"({record.reason}), read {format_time(record.first_seen)}: {record.excerpt}",
            f"see it with `iotwx-watch parse --unmatched {record.path}`; add a [[pattern]] "
            "for its form (README: Unrecognised records), then `systemctl reload "
            "iotwx-watch`: the reload reads it again",
            record.suite_id))
