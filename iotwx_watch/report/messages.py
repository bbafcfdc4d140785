"""Messages that stand alone on a phone: what happened, to which item, what to do.

Each :class:`Notification` names the deployment, the suite, the corp (name and id), the
auth code's ledger key and deadline where there is one, WeCom's errcode with its meaning
(never the raw errmsg), the same cause-specific advice `status` gives, and the time. One
message is about one item (a corp, a code, an address, a ticket, a log): two corps that
fail for the same reason are two messages.

Builders read the state for names and deadlines and never change it; the words come from
:mod:`iotwx_watch.report.texts` in the configured language.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any, Literal

from iotwx_watch.engine.outcomes import Outcome
from iotwx_watch.report.findings import (
    ACTION_NEW_CODE,
    ACTION_TICKET,
    WHERE,
    WHITELIST_NOTE,
    HealthReport,
    Problem,
)
from iotwx_watch.report.texts import (
    ADVICE_ZH,
    CLEARED,
    LABELS,
    PLACES,
    REMINDER,
    SEVERITY_TAGS,
    TEST_ADVICE_EN,
    TITLES,
    WAITING_ZH,
    WHITELIST_ZH,
    Language,
    errcode_text,
)
from iotwx_watch.state.model import State, format_time

Severity = Literal["info", "ok", "warn", "critical"]
Event = Literal["event", "start", "update", "reminder", "clear", "test"]
FieldValue = str | int | float | None


@dataclass(frozen=True)
class Notification:
    """One message for operators about one item. Never carries a secret."""

    kind: str
    key: str
    severity: Severity
    title: str
    lines: tuple[str, ...] = ()
    fields: Mapping[str, FieldValue] = field(default_factory=dict)
    at: float = 0.0
    deployment: str = ""
    id: str = ""
    language: Language = "en"

    @property
    def tag(self) -> str:
        """``CRITICAL`` / ``严重``: the severity as the reader's language says it."""
        return SEVERITY_TAGS[self.language][self.severity]

    def to_json(self) -> dict[str, Any]:
        """The webhook body; ``id`` is stable across retries, so a receiver can de-duplicate."""
        return {
            "source": "iotwx-watch",
            "id": self.id,
            "deployment": self.deployment,
            "kind": self.kind,
            "key": self.key,
            "severity": self.severity,
            "title": self.title,
            "text": "\n".join(self.lines),
            "fields": dict(self.fields),
            "at": format_time(self.at),
        }


@dataclass(frozen=True)
class MessageContext:
    """Who speaks and how: the deployment's name, the language, the reader's time zone."""

    deployment: str
    language: Language = "zh-CN"
    tz: tzinfo = UTC

    def time(self, ts: float) -> str:
        """``2026-11-28 22:00:03 +08:00``: local to the reader, with the offset said."""
        moment = datetime.fromtimestamp(int(ts), self.tz)
        offset = moment.strftime("%z")
        return moment.strftime("%Y-%m-%d %H:%M:%S ") + f"{offset[:3]}:{offset[3:]}"

    def label(self, name: str) -> str:
        return LABELS[self.language][name]

    def line(self, name: str, value: object) -> str:
        sep = ": " if self.language == "en" else "："
        return f"{self.label(name)}{sep}{value}"

    def title(self, name: str, **values: object) -> str:
        return TITLES[self.language][name].format(**values)

    def place(self, whitelist: str) -> str:
        return PLACES[self.language].get(whitelist, whitelist)


def _corp_label(state: State, corpid: str | None, name: str | None = None) -> str | None:
    """``Corp One (wwcorp…)`` with the name from the state when the caller has none."""
    if corpid is None:
        return None
    if name is None:
        for suite in state.suites.values():
            corp = suite.corps.get(corpid)
            if corp is not None and corp.corp_name:
                name = corp.corp_name
                break
    return f"{name} ({corpid})" if name else corpid


def _finish(
    ctx: MessageContext, kind: str, key: str, severity: Severity, title: str,
    lines: list[str | None], fields: dict[str, FieldValue], now: float, event: Event,
) -> Notification:
    body = [ctx.line("deployment", ctx.deployment), *(x for x in lines if x),
            ctx.line("time", ctx.time(now))]
    fields = {k: v for k, v in {**fields, "event": event}.items() if v is not None}
    return Notification(kind, key, severity, title, tuple(body), fields, now, ctx.deployment,
                        language=ctx.language)


def _code_lines(
    ctx: MessageContext, state: State, suite_id: str | None, key: str | None,
    errcode: int | None,
) -> tuple[list[str | None], dict[str, FieldValue]]:
    """The ledger entry's corp, State, key, deadline and errcode, as lines and fields."""
    entry = state.suites[suite_id].auth_codes.get(key) if (
        suite_id in state.suites and key) else None
    corpid = entry.corpid if entry is not None else None
    errcode = errcode if errcode is not None else (entry.errcode if entry else None)
    lines: list[str | None] = [
        ctx.line("corp", _corp_label(state, corpid)) if corpid else None,
        ctx.line("state_param", entry.state) if entry is not None and entry.state else None,
        ctx.line("code", key) if key else None,
        ctx.line("deadline", ctx.time(entry.deadline)) if entry is not None else None,
        ctx.line("error", errcode_text(errcode, ctx.language)) if errcode is not None else None,
    ]
    fields: dict[str, FieldValue] = {
        "corpid": corpid, "code_key": key, "errcode": errcode,
        "deadline": format_time(entry.deadline) if entry is not None else None,
        "waiting_for": entry.waiting_for if entry is not None else None,
    }
    return lines, fields


def outcome_message(outcome: Outcome, state: State, ctx: MessageContext,
                    now: float) -> Notification:
    """An engine outcome (an event) as one message; its key names its one item."""
    kind, suite = outcome.kind, outcome.suite_id
    zh = ctx.language == "zh-CN"
    corp = _corp_label(state, outcome.corpid, outcome.corp_name)
    fields: dict[str, FieldValue] = {
        "suite_id": suite, "corpid": outcome.corpid, "corp_name": outcome.corp_name,
        "agentid": outcome.agentid, "ip": outcome.ip, "whitelist": outcome.whitelist,
        "errcode": outcome.errcode,
    }
    lines: list[str | None] = [ctx.line("suite", suite) if suite else None]
    severity: Severity = "critical"
    if kind in ("corp_obtained", "secret_reset", "corp_cancelled"):
        severity = "info"
        title = ctx.title(kind, corp=corp or "?")
        lines += [ctx.line("corp", corp), ctx.line("agentid", outcome.agentid)]
        advice = {"corp_obtained": "the Secret is in the state file: iotwx-watch status "
                                   "--show-secrets",
                  "secret_reset": "the new Secret is in the state file (the old one no longer "
                                  "works): iotwx-watch status --show-secrets",
                  "corp_cancelled": "its Secret was removed from the state file"}[kind]
        key = f"corp:{suite}:{outcome.corpid}"
    elif kind in ("ip_to_whitelist", "egress_ip_changed"):
        place = outcome.whitelist or "provider"
        severity = "critical" if place == "provider" else "warn"
        title = ctx.title(kind, ip=outcome.ip, place=ctx.place(place))
        lines += [ctx.line("corp", corp) if corp else None, ctx.line("ip", outcome.ip),
                  ctx.line("where", ctx.place(place))]
        advice = WHITELIST_ZH[place] if zh else f"{WHERE[place]}; {WHITELIST_NOTE}"
        key = (f"ip:{place}:{outcome.ip}" if kind == "ip_to_whitelist"
               else f"egress:{outcome.ip}")
    elif kind == "ticket_rejected":
        title = ctx.title(kind, suite=suite)
        lines.append(ctx.line("error", errcode_text(outcome.errcode, ctx.language)))
        advice = ACTION_TICKET
        key = f"ticket:{suite}"
    else:  # auth_code_failed / auth_code_expired / auth_code_interrupted
        code_lines, code_fields = _code_lines(ctx, state, suite, outcome.code_key,
                                              outcome.errcode)
        title = ctx.title(kind, key=outcome.code_key or "?")
        lines += code_lines
        fields |= code_fields
        advice = ACTION_NEW_CODE
        if kind == "auth_code_interrupted":
            advice = ("whether WeCom redeemed it is unknown, so it is not sent again; "
                      + ACTION_NEW_CODE)
        key = f"auth_code:{suite}:{outcome.code_key or '?'}"
    if zh:
        advice = ADVICE_ZH.get(kind, advice)
    lines.append(ctx.line("action", advice))
    return _finish(ctx, kind, key, severity, title, lines, fields, now, "event")


def _subject(problem: Problem) -> dict[str, str]:
    """The item a problem's key names: ``ticket:<suite>``, ``source:<path>``, …"""
    family, _, rest = problem.key.partition(":")
    if family == "ip":
        place, _, ip = rest.partition(":")
        return {"family": "ip", "place": place, "ip": ip}
    if family == "auth_code":
        suite, _, key = rest.partition(":")
        return {"family": family, "suite": suite, "key": key}
    if family == "ignored":
        return {"family": "records", "reason": rest}
    if family == "service":
        if rest == "state_write":
            return {"family": "state"}
        return {"family": "metrics", "listen": rest}
    return {"family": family, "suite": rest, "path": rest}


def _age_min(problem: Problem, report: HealthReport, subject: Mapping[str, str]) -> int:
    if problem.code.startswith("ticket_"):
        suite = report.suite(subject["suite"])
        if suite is not None and suite.ticket is not None:
            return int(suite.ticket.age_s // 60)
    for src in report.sources:
        if src.source.path == subject.get("path") and src.source.mtime is not None:
            return int((report.now - src.source.mtime) // 60)
    return 0


def condition_message(
    problem: Problem, event: Event, report: HealthReport, state: State, ctx: MessageContext,
    *, since: float, listen: str = "",
) -> Notification:
    """A condition's start, change, reminder or end; ``report`` is the judgement it came from."""
    now = report.now
    zh = ctx.language == "zh-CN"
    subject = _subject(problem)
    family = subject["family"]
    place = ctx.place(subject.get("place", ""))
    values = {"suite": subject.get("suite", ""), "path": subject.get("path", ""),
              "ip": subject.get("ip", ""), "place": place, "key": subject.get("key", ""),
              "reason": subject.get("reason", ""), "listen": listen or subject.get("listen", ""),
              "age": _age_min(problem, report, subject), "message": problem.message}
    fields: dict[str, FieldValue] = {"suite_id": problem.suite_id, "code": problem.code,
                                     "level": problem.level, "since": format_time(since)}
    lines: list[str | None] = [ctx.line("suite", problem.suite_id) if problem.suite_id else None]
    if family == "ip":
        entry = state.blocked_ips.get(subject["ip"])
        corpid = entry.corpid if entry is not None else None
        lines += [ctx.line("corp", _corp_label(state, corpid)) if corpid else None,
                  ctx.line("ip", subject["ip"]), ctx.line("where", place)]
        fields |= {"ip": subject["ip"], "whitelist": subject["place"], "corpid": corpid}
    elif family == "auth_code":
        code_lines, code_fields = _code_lines(ctx, state, subject["suite"], subject["key"], None)
        lines += code_lines
        fields |= code_fields
    elif family in ("source", "ticket"):
        fields |= {"path": subject["path"]} if family == "source" else {}
    severity: Severity = "ok" if event == "clear" else problem.level
    if event == "clear":
        template = CLEARED[ctx.language].get(family, CLEARED[ctx.language]["other"])
        title = template.format(**values)
        lines.append(ctx.line("since", ctx.time(since)))
    else:
        name = "records" if family == "records" else problem.code
        known = name in TITLES[ctx.language]
        title = ctx.title(name, **values) if known else problem.message
        if event == "reminder":
            title = REMINDER[ctx.language] + title
            lines.append(ctx.line("since", ctx.time(since)))
        lines.append(ctx.line("action", _advice(problem, state, subject, ctx) if zh
                              else problem.action or ""))
    return _finish(ctx, problem.code if event != "clear" else f"{family}_recovered",
                   problem.key, severity, title, lines, fields, now, event)


def _advice(problem: Problem, state: State, subject: Mapping[str, str],
            ctx: MessageContext) -> str:
    """The Chinese words for the advice ``problem.action`` gives in English."""
    family = subject["family"]
    if family == "ip":
        return WHITELIST_ZH.get(subject["place"], problem.action or "")
    if problem.code == "auth_code_pending":
        suite = state.suites.get(subject["suite"])
        entry = suite.auth_codes.get(subject["key"]) if suite is not None else None
        waiting = (entry.waiting_for or "") if entry is not None else ""
        deadline = ctx.time(entry.deadline) if entry is not None else "?"
        return WAITING_ZH.get(waiting, WAITING_ZH[""]).format(suite=subject["suite"],
                                                               deadline=deadline)
    if family == "source" and problem.code == "source_unreadable":
        problems = state.source_errors.get(subject["path"])
        return ADVICE_ZH["source_unreadable"].format(uid=problems.uid if problems else "?")
    name = "records" if family == "records" else problem.code
    return ADVICE_ZH.get(name, problem.action or "")


def test_message(ctx: MessageContext, now: float, sink: str) -> Notification:
    """What `iotwx-watch notify test` sends: proof that the sink and its words work."""
    advice = ADVICE_ZH["test"] if ctx.language == "zh-CN" else TEST_ADVICE_EN
    lines: list[str | None] = [ctx.line("test", sink), ctx.line("action", advice)]
    return _finish(ctx, "test", f"test:{sink}", "info", ctx.title("test"), lines,
                   {"sink": sink}, now, "test")
