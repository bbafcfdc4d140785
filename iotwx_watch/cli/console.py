"""How iotwx-watch speaks to a person at a terminal: one sentence per log event, colour by level.

Journald and pipes get JSON lines (see :mod:`iotwx_watch.log`); a terminal gets
``12:01:03 redeemed auth code of wwa1c7e3b0d2f94e61: agentid 1000002, secret stored``.
Each known event name has a sentence below; any other event falls back to
``HH:MM:SS event key=value …``, so a new event is never lost, only plainer.

The renderer runs after :class:`~iotwx_watch.log.SecretMasker`: it sees masked values
only. Colour follows no-color.org: only on a terminal, never with ``NO_COLOR`` set to
a non-empty value or with ``--no-color``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from datetime import datetime
from typing import Any, TextIO

import click

Fields = Mapping[str, Any]
Sentence = str | Callable[[Fields], str] | None

# Styles by log level and by health level (ok / warn / critical, as in `status`).
STYLES: dict[str, dict[str, Any]] = {
    "debug": {"dim": True},
    "info": {},
    "ok": {"fg": "green"},
    "warning": {"fg": "yellow"},
    "warn": {"fg": "yellow"},
    "error": {"fg": "red", "bold": True},
    "critical": {"fg": "red", "bold": True},
}


def is_terminal(stream: TextIO) -> bool:
    """Whether a person is (most likely) reading ``stream``."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or fake stream
        return False


def wants_color(stream: TextIO, *, no_color: bool, env: Mapping[str, str]) -> bool:
    """Colour only on a terminal, and not when asked not to (``--no-color``, ``NO_COLOR``)."""
    return not no_color and not env.get("NO_COLOR") and is_terminal(stream)


def paint(text: str, level: str, *, color: bool) -> str:
    """``text`` in the colour of ``level`` when ``color``, else unchanged."""
    style = STYLES.get(level)
    return click.style(text, **style) if color and style else text


def _corp(f: Fields) -> str:
    """``示例科技 (wwa1…)`` when the name is known, else the corpid."""
    corpid = str(f.get("corpid") or "?")
    name = f.get("corp_name")
    return f"{name} ({corpid[:4]}…)" if name else corpid


def _ms(f: Fields) -> str:
    return f"{float(f['latency_s']) * 1000:.0f} ms"


def _ip_blocked(f: Fields) -> str:
    corp = f" of {_corp(f)}" if f.get("corpid") else ""
    seen = f", seen {f['count']}x" if f.get("count", 1) != 1 else ""
    return f"WeCom refuses {f['ip']} (60020{seen}): add it to the {f['whitelist']} whitelist{corp}"


def _call_failed(f: Fields) -> str:
    http = f" (HTTP {f['http_status']})" if f.get("http_status") not in (None, 200) else ""
    return f"WeCom call {f['endpoint']} failed: errcode {f['errcode']}{http} after {_ms(f)}"


def _ticket_accepted(f: Fields) -> str:
    usable = "" if f.get("usable", True) else ", too old to use"
    return f"new suite_ticket for {f['suite_id']} ({f['age_s']}s old{usable})"


def _redeemed(f: Fields) -> str:
    secret = "replaced" if f.get("secret_replaced") else "stored"
    return f"redeemed auth code of {_corp(f)}: agentid {f['agentid']}, secret {secret}"


def _seconds(value: Any) -> str:
    return f"{float(value):.0f}s"


def _retry_scheduled(f: Fields) -> str:
    why = f" (waiting for {f['waiting_for']})" if f.get("waiting_for") else ""
    return (f"auth code {f['key']} for {f['suite_id']}: WeCom errcode {f['errcode']}{why}; "
            f"retry in {_seconds(f['delay_s'])}")


def _waiting_for_ip(f: Fields) -> str:
    when = f"again at {f['next_probe']}" if f.get("next_probe") else "again later"
    return (f"WeCom refuses our address (60020): auth code {f['key']} for {f['suite_id']} "
            f"is tried {when}, until {f['deadline']}")


def _record_ignored(f: Fields) -> str:
    where = f" ({f['path']} at byte {f['offset']})" if f.get("path") else ""
    reason = str(f["reason"]).replace("_", " ")
    return f"ignored a {f['info_type']} record for {f['suite_id']}: {reason}{where}"


def _post_failed(f: Fields) -> str:
    then = "soon" if f.get("retry_soon") else "later"
    return f"could not notify {f['sink']}: {f['reason']} (kept, retried {then})"


# One sentence per event name the code logs. None: a command says this in its own words
# on a terminal (`once` ends with its summary), so the log line would say it twice.
SENTENCES: dict[str, Sentence] = {
    # engine: tickets and tokens
    "engine.ticket_accepted": _ticket_accepted,
    "engine.ticket_ignored": "ignored a suite_ticket for {suite_id} ({reason})",
    "engine.ticket_rejected": (
        "WeCom rejected the suite_ticket of {suite_id} (errcode {errcode}); "
        "waiting for the next push"
    ),
    "engine.suite_token_fetched": "got a suite_access_token for {suite_id}, valid {expires_in}s",
    "engine.suite_token_invalid": (
        "WeCom refused the suite_access_token of {suite_id} (errcode {errcode}); "
        "fetching a new one"
    ),
    # engine: auth codes and corps
    "engine.auth_code_recorded": "new {info_type} auth code {key} for {suite_id}",
    "engine.auth_code_duplicate": "auth code {key} for {suite_id} seen again (already {status})",
    "engine.auth_code_interrupted": (
        "auth code {key} for {suite_id} was cut off mid-redemption; "
        "click 重新获取 for a new one"
    ),
    "engine.redeemed": _redeemed,
    "engine.redeemed_after_cancel": (
        "redeemed auth code {key} of {corpid} after it cancelled; no secret kept"
    ),
    "engine.redeem_retry_scheduled": _retry_scheduled,
    "engine.waiting_for_ticket": (
        "auth code {key} for {suite_id} waits for a newer suite_ticket until {deadline}: {error}"
    ),
    "engine.waiting_for_config": (
        "auth code {key} for {suite_id} waits for a config fix until {deadline}: {error}"
    ),
    "engine.waiting_for_ip": _waiting_for_ip,
    "engine.retry_now": "trying {codes} waiting auth code(s) again now ({reason})",
    "engine.state_write_deferred": "could not save the state yet, kept in memory: {error}",
    "engine.redeem_failed": "could not redeem auth code {key} for {suite_id}: {error}",
    "engine.record_ignored": _record_ignored,
    "engine.auth_changed": "{corpid} changed its authorization of {suite_id}",
    "engine.cancel_ignored": "ignored an older cancel_auth of {corpid} ({reason})",
    "engine.corp_cancelled": "{corpid} cancelled the app of {suite_id}; its secret was removed",
    # engine: addresses WeCom refuses
    "engine.ip_blocked": _ip_blocked,
    "engine.ip_unblocked": "WeCom accepts {ip} again ({whitelist} whitelist)",
    # the WeCom client
    "wecom.call": lambda f: f"WeCom call {f['endpoint']}: ok in {_ms(f)}",
    "wecom.call_failed": _call_failed,
    "wecom.auth_info_failed": (
        "got the secret of {corpid} but not its agentid (errcode {errcode}); secret kept"
    ),
    # following the logs
    "follow.waiting_for_file": "waiting for {path} ({reason})",
    "follow.file_appeared": "{path} appeared; reading it",
    "follow.read_failed": "cannot read {path}: {error}",
    "follow.truncated": "{path} was truncated ({old_offset} → {size} bytes); reading it again",
    "follow.rotated": "{path} was rotated; reading the rest of the old file first",
    "follow.cursor_reset": "{path}: the saved position no longer fits ({reason}); from the start",
    "follow.possible_gap": (
        "{path} was rotated while stopped and the old file is gone: lines may be missing"
    ),
    "follow.catch_up": lambda f: (
        f"caught up: {f['bytes'] / 1e6:,.1f} MB in {f['seconds']:.1f} s, {f['events']} event(s)"
    ),
    "wakeup.watch_backend": "checking the logs by timer, not inotify ({reason})",
    "wakeup.observer_failed": (
        "file watching failed ({error}); checking every {poll_interval_s}s instead"
    ),
    # the loop
    "daemon.ready": "following {sources} log(s), woken by {backend}",
    "daemon.stopped": "stopped; state saved",
    "daemon.reload_failed": "config not reloaded, the running one stays: {error}",
    "daemon.reload_needs_restart": "reloaded, but {settings} change only with a restart",
    "daemon.once_done": None,
    "runner.reloaded": "config reloaded: {suites} suite(s), {sources} log(s)",
    "runner.observer_failed": "{observer} failed after a batch",
    "observers.close_failed": "a reporter failed to stop",
    "observers.flush_failed": "notifications could not be flushed; they stay in the outbox",
    "handoff.redeem_served": "redeemed a code handed over by `redeem` for {suite_id}: {status}",
    "handoff.bad_request": "removed an unreadable redeem request {request}",
    "handoff.answer_failed": "could not answer redeem request {request}: {error}",
    "runner.state_write_failed": lambda f: (
        f"cannot save the state to {f['path']}: {f['error']}; kept in memory, "
        f"retry in {_seconds(f['retry_in_s'])}"
    ),
    "runner.state_write_recovered": "state saved to {path} again, after {attempts} failure(s)",
    "runner.unsaved_at_exit": "stopping with the state not saved to {path}: {error}",
    "state.saved": "state saved ({bytes} bytes)",
    "config.warning": "config: {message}",
    # reporting
    "metrics.listening": "metrics at http://{host}:{port}/metrics",
    "metrics.textfile_failed": "could not write metrics to {path}: {error}",
    "metrics.listen_failed": (
        "metrics listener {host}:{port} cannot be bound: {error}; retried every {retry_in_s}s"
    ),
    "metrics.listen_recovered": "metrics listener bound to {host}:{port} at last",
    "notify.sent": "sent a {kind} message to {sink}",
    "notify.post_failed": _post_failed,
    "notify.probably_delivered": "{sink} did not answer after the message went out; "
                                 "counted as delivered, not sent again",
    "notify.expired": "gave up a {kind} message to {sink} after {attempts} attempt(s): {reason}",
    "notify.condition": "{code}: {change} message queued",
    "notify.sink_error": "notification sink {sink} failed",
    "sdnotify.unsupported_socket": "cannot talk to systemd at {socket}",
    "sdnotify.send_failed": "could not tell systemd: {error}",
}

_LABELS = {"warning": "warning: ", "error": "error: ", "critical": "error: "}


def _clock_time(timestamp: Any) -> str:
    """The local wall-clock time of structlog's ISO timestamp, ``HH:MM:SS``."""
    try:
        when = datetime.fromisoformat(str(timestamp)).astimezone()
    except ValueError:
        when = datetime.now()
    return when.strftime("%H:%M:%S")


def _generic(event: str, fields: Fields) -> str:
    return " ".join([event, *(f"{key}={value}" for key, value in fields.items())])


class SentenceRenderer:
    """structlog renderer: ``HH:MM:SS [warning: ]sentence``, coloured by level if asked."""

    def __init__(self, *, color: bool = False, sentences: Mapping[str, Sentence] = SENTENCES):
        self.color = color
        self.sentences = sentences

    def __call__(self, _logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> str:
        fields = dict(event_dict)
        event = str(fields.pop("event", ""))
        level = str(fields.pop("level", method))
        when = _clock_time(fields.pop("timestamp", None))
        fields.pop("component", None)
        exception = fields.pop("exception", None)
        sentence = self.sentences.get(event, "")
        if sentence is None:
            from structlog import DropEvent  # loaded: this runs inside structlog

            raise DropEvent
        text = self._sentence(sentence, event, fields)
        label = paint(_LABELS.get(level, ""), level, color=self.color)
        line = f"{paint(when, 'debug', color=self.color)} {label}{text}"
        return f"{line}\n{exception}" if exception else line

    @staticmethod
    def _sentence(sentence: str | Callable[[Fields], str], event: str, fields: Fields) -> str:
        try:
            if callable(sentence):
                return sentence(fields)
            if sentence:
                return sentence.format_map(fields)
        except (KeyError, TypeError, ValueError):  # a field renamed or missing: say it plainly
            pass
        return _generic(event, fields)
