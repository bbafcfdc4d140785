"""Notification sinks: a WeCom group robot and a generic JSON webhook, each with its own thread.

A sink only posts. What to send and whether it arrived is kept in the state's outbox by
the run layer (:mod:`iotwx_watch.run.notices`), which hands a sink one message at a time
with :meth:`Sink.submit` (a ``put`` on an unbounded queue: never blocks) and collects the
outcomes with :meth:`Sink.take_results`. So a receiver that answers 500 or never answers
cannot delay the pipeline, and a message survives a restart until it is delivered.

A post whose answer times out is **probably delivered**: the request went out in full and
a slow receiver most likely acted on it, so it is not sent again (a duplicate on the
phone is what this avoids). The read timeout is long (60 s) for the same reason. A post
that never left (connection refused, connect timeout, 5xx, robot rate limit) is failed
and retried later by the outbox.

The webhook URL is a secret (the robot's carries its ``key``): it is registered with the
process's :class:`~iotwx_watch.log.SecretRegistry` and never logged; a sink is known by
its ``name``.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import httpx

from iotwx_watch.config import NotifyConfig
from iotwx_watch.log import SecretRegistry, get_logger
from iotwx_watch.report.messages import Notification, Severity

__all__ = [
    "Delivery",
    "Notification",
    "NotificationFanout",
    "ROBOT_MAX_BYTES",
    "Severity",
    "Sink",
    "WeComRobotSink",
    "WebhookSink",
    "robot_markdown",
]

log = get_logger("notify")

ROBOT_MAX_BYTES = 4000  # WeCom: markdown content at most 4096 bytes
ROBOT_TEXT_MAX_BYTES = 2000  # WeCom: text content at most 2048 bytes
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 60.0
_STOP = object()
Outcome = Literal["delivered", "probably_delivered", "failed"]
_SENT_EVENTS = frozenset({"http11.send_request_body.complete",
                          "http2.send_request_body.complete"})


@dataclass(frozen=True)
class Delivery:
    """What became of one post: ``id`` is the outbox entry's. ``reason`` carries no URL."""

    id: str
    outcome: Outcome
    reason: str = ""
    retry_soon: bool = True  # False: retrying soon cannot help (4xx, robot key refused)


class _Refused(Exception):
    def __init__(self, reason: str, *, retry_soon: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_soon = retry_soon


@dataclass
class _Job:
    id: str
    notification: Notification
    sent: bool = False  # the request body went out in full (httpcore's trace says so)


class Sink:
    """A destination with its own thread; subclasses say how to render and judge a post."""

    kind = "sink"
    min_spacing_s = 0.0

    def __init__(
        self,
        config: NotifyConfig,
        *,
        timeout_s: float = CONNECT_TIMEOUT_S,
        read_timeout_s: float = READ_TIMEOUT_S,
        min_spacing_s: float | None = None,
        transport: httpx.BaseTransport | None = None,
        secrets: SecretRegistry | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        if min_spacing_s is not None:
            self.min_spacing_s = min_spacing_s
        (secrets or SecretRegistry()).add(config.url, *self._url_secrets(config.url))
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._results: queue.SimpleQueue[Delivery] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._current: _Job | None = None
        self._pending = 0
        self._stop = threading.Event()
        self._client = httpx.Client(
            timeout=httpx.Timeout(read_timeout_s, connect=min(timeout_s, read_timeout_s)),
            transport=transport,
            follow_redirects=False,
        )
        self._last_post = float("-inf")
        self._thread = threading.Thread(target=self._run, name=f"notify-{self.name}", daemon=True)
        self._thread.start()

    @staticmethod
    def _url_secrets(url: str) -> list[str]:
        parts = urlsplit(url)
        values = [v for vs in parse_qs(parts.query).values() for v in vs]
        return values + [p for p in (parts.password, parts.username) if p]

    # -- caller's side: never blocks ---------------------------------------------------
    def submit(self, job_id: str, notification: Notification) -> None:
        """Queue one message; its :class:`Delivery` comes back through :meth:`take_results`."""
        with self._lock:
            self._pending += 1
        self._queue.put(_Job(job_id, notification))

    def take_results(self) -> list[Delivery]:
        """The outcomes of posts finished since the last call."""
        out = []
        while True:
            try:
                out.append(self._results.get_nowait())
            except queue.Empty:
                return out

    def sent_in_flight(self) -> str | None:
        """The id of the post in flight whose request already went out, if there is one."""
        job = self._current
        return job.id if job is not None and job.sent else None

    def idle(self) -> bool:
        """Nothing queued or in flight."""
        with self._lock:
            return self._pending == 0

    def close(self, timeout_s: float = 3.0) -> None:
        """Stop within ``timeout_s``: queued posts are abandoned (the outbox keeps them)."""
        deadline = time.monotonic() + timeout_s
        self.request_stop()
        self.finish_close(deadline)

    def request_stop(self) -> None:
        self._stop.set()
        self._queue.put(_STOP)

    def finish_close(self, deadline: float) -> None:
        """Wait for the thread until ``deadline``; a post stuck past it is abandoned
        (the thread is a daemon and cannot hold the process)."""
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if not self._thread.is_alive():
            self._client.close()

    # -- the sink's thread --------------------------------------------------------------
    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP or not isinstance(item, _Job):
                return
            if self._stop.is_set():  # abandoned: the outbox still holds it
                with self._lock:
                    self._pending -= 1
                continue
            self._current = item
            try:
                result = self._deliver(item)
            except Exception as exc:  # a sink must never die on a bug in one message
                log.exception("notify.sink_error", sink=self.name)
                result = Delivery(item.id, "failed", type(exc).__name__)
            self._results.put(result)
            self._current = None  # after the result: a reader never misses both
            with self._lock:
                self._pending -= 1

    def _deliver(self, job: _Job) -> Delivery:
        wait = self._last_post + self.min_spacing_s - time.monotonic()
        if wait > 0 and self._stop.wait(wait):
            return Delivery(job.id, "failed", "stopped", retry_soon=True)
        self._last_post = time.monotonic()
        try:
            self._post(job)
        except _Refused as exc:
            log.warning("notify.post_failed", sink=self.name, id=job.id, reason=exc.reason,
                        retry_soon=exc.retry_soon)
            return Delivery(job.id, "failed", exc.reason, exc.retry_soon)
        except httpx.ReadTimeout:
            log.warning("notify.probably_delivered", sink=self.name, id=job.id,
                        reason="no answer after the request was sent")
            return Delivery(job.id, "probably_delivered", "answer timed out")
        log.info("notify.sent", sink=self.name, id=job.id, kind=job.notification.kind)
        return Delivery(job.id, "delivered")

    def _post(self, job: _Job) -> None:
        def trace(event: str, _info: Any) -> None:
            if event in _SENT_EVENTS:
                job.sent = True

        try:
            response = self._client.post(self.config.url, json=self.body(job.notification),
                                         extensions={"trace": trace})
        except httpx.ReadTimeout:
            raise
        except httpx.HTTPError as exc:
            raise _Refused(type(exc).__name__, retry_soon=True) from None
        status = response.status_code
        if status >= 500 or status == 429:
            raise _Refused(f"HTTP {status}", retry_soon=True)
        if status >= 300:
            raise _Refused(f"HTTP {status}", retry_soon=False)
        self.check(response)

    # -- what differs between sinks -------------------------------------------------------
    def body(self, notification: Notification) -> dict[str, Any]:
        """The JSON body to post for one message."""
        raise NotImplementedError

    def check(self, response: httpx.Response) -> None:
        """Judge a 2xx answer; raise :class:`_Refused` if it is a failure."""


class WebhookSink(Sink):
    """POSTs each message as one JSON object (:meth:`Notification.to_json`); any 2xx is
    success."""

    kind = "webhook"

    def body(self, notification: Notification) -> dict[str, Any]:
        return notification.to_json()


_COLOR = {"critical": "warning", "warn": "warning", "ok": "info", "info": "comment"}


def _cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` UTF-8 bytes, cut on a character boundary."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", "ignore") + "…"


def robot_markdown(n: Notification) -> str:
    """One message as robot markdown: the severity tag and title, then one quoted line each."""
    head = f'<font color="{_COLOR[n.severity]}">**【{n.tag}】**</font> **{n.title}**'
    return _cut(head + "".join(f"\n> {line}" for line in n.lines), ROBOT_MAX_BYTES)


def robot_text(n: Notification) -> str:
    """The same as plain text (the robot's ``text`` type, which can @ people)."""
    return _cut(f"【{n.tag}】{n.title}\n" + "\n".join(n.lines), ROBOT_TEXT_MAX_BYTES)


class WeComRobotSink(Sink):
    """A WeCom group robot (``/cgi-bin/webhook/send?key=…``), errcode checked.

    Markdown, except a critical message when the config names people to @: those go as
    ``text``, the only type that carries ``mentioned_list`` / ``mentioned_mobile_list``.
    """

    kind = "wecom_robot"
    min_spacing_s = 3.0  # WeCom allows a robot 20 messages a minute

    def body(self, notification: Notification) -> dict[str, Any]:
        cfg = self.config
        mentions = cfg.mentioned_list or cfg.mentioned_mobile_list
        if notification.severity == "critical" and mentions:
            text: dict[str, Any] = {"content": robot_text(notification)}
            if cfg.mentioned_list:
                text["mentioned_list"] = list(cfg.mentioned_list)
            if cfg.mentioned_mobile_list:
                text["mentioned_mobile_list"] = list(cfg.mentioned_mobile_list)
            return {"msgtype": "text", "text": text}
        return {"msgtype": "markdown", "markdown": {"content": robot_markdown(notification)}}

    def check(self, response: httpx.Response) -> None:
        try:
            errcode = int(json.loads(response.content).get("errcode", 0))
        except (ValueError, AttributeError, TypeError):
            raise _Refused("unreadable answer", retry_soon=True) from None
        if errcode in (-1, 45009, 45033):
            raise _Refused(f"errcode {errcode}", retry_soon=True)
        if errcode != 0:
            raise _Refused(f"errcode {errcode}", retry_soon=False)


SINKS: dict[str, type[Sink]] = {"wecom_robot": WeComRobotSink, "webhook": WebhookSink}


class NotificationFanout:
    """The configured sinks, by name."""

    def __init__(self, sinks: Sequence[Sink]) -> None:
        self.sinks = list(sinks)
        self.by_name = {sink.name: sink for sink in self.sinks}

    @classmethod
    def from_config(cls, configs: Sequence[NotifyConfig], **kwargs: Any) -> NotificationFanout:
        return cls([SINKS[c.kind](c, **kwargs) for c in configs])

    def test(
        self, build: Callable[[str], Notification], *, timeout_s: float,
        clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
    ) -> dict[str, Delivery | None]:
        """Post ``build(sink name)`` to every sink at once; each one's result (None: no
        answer within ``timeout_s``)."""
        for sink in self.sinks:
            sink.submit(f"test-{sink.name}", build(sink.name))
        results: dict[str, Delivery | None] = dict.fromkeys(self.by_name)
        deadline = clock() + timeout_s
        while True:
            for sink in self.sinks:
                for result in sink.take_results():
                    results[sink.name] = result
            if all(r is not None for r in results.values()) or clock() >= deadline:
                break
            sleep(0.02)
        for sink in self.sinks:
            if results[sink.name] is None and sink.sent_in_flight():
                results[sink.name] = Delivery(f"test-{sink.name}", "probably_delivered",
                                              "no answer yet; the request was sent")
        return results

    def close(self, timeout_s: float = 3.0) -> None:
        """Stop every sink within one shared ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        for sink in self.sinks:
            sink.request_stop()
        for sink in self.sinks:
            sink.finish_close(deadline)
