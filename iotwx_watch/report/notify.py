"""Notification sinks: a WeCom group robot (markdown) and a generic JSON webhook.

Each sink owns one httpx client and one background thread fed by a bounded queue, so
the engine's thread only ever does a dict lookup and a ``put_nowait``: a sink that
answers 500 or never answers cannot delay event handling, and a full queue drops (and
counts) instead of blocking. Delivery is retried with capped exponential backoff.

Rate limiting, per sink: the same condition (``key``) in the same state (``kind``) is
sent at most once per ``min_interval_s``; a change of state (stale → recovered) always
goes out. Messages that queue up while a post is in flight are sent as one digest, and
posts to a robot are spaced to stay under WeCom's 20 messages a minute.

The webhook URL is a secret (the robot's carries its ``key``): it is registered with
the process's :class:`~iotwx_watch.log.SecretRegistry` and never logged; sinks are
named ``wecom_robot#1``.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import httpx

from iotwx_watch.config import NotifyConfig
from iotwx_watch.log import SecretRegistry, get_logger

log = get_logger("notify")

Severity = Literal["info", "ok", "warn", "critical"]
ROBOT_MAX_BYTES = 4000  # WeCom: markdown content at most 4096 bytes
MAX_DIGEST = 20
_STOP = object()


@dataclass(frozen=True)
class Notification:
    """One message for operators. Never carries a secret: ids, names, addresses, advice."""

    kind: str
    key: str
    severity: Severity
    title: str
    lines: tuple[str, ...] = ()
    fields: Mapping[str, str | int | float | None] = field(default_factory=dict)
    at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "source": "iotwx-watch",
            "host": socket.gethostname(),
            "kind": self.kind,
            "key": self.key,
            "severity": self.severity,
            "title": self.title,
            "text": "\n".join(self.lines),
            "fields": dict(self.fields),
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.at)),
        }


class _DeliveryError(Exception):
    """A post failed; ``retry`` says whether trying again can help. Carries no URL."""

    def __init__(self, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry


class Sink:
    """A destination with its own thread; subclasses say how to render and judge a post."""

    kind = "sink"
    min_spacing_s = 0.0

    def __init__(
        self,
        config: NotifyConfig,
        *,
        index: int = 1,
        clock: Callable[[], float] = time.time,
        timeout_s: float = 5.0,
        retry_base_s: float = 2.0,
        retry_max_s: float = 60.0,
        max_attempts: int = 5,
        queue_size: int = 100,
        min_spacing_s: float | None = None,
        transport: httpx.BaseTransport | None = None,
        secrets: SecretRegistry | None = None,
    ) -> None:
        self.config = config
        if min_spacing_s is not None:
            self.min_spacing_s = min_spacing_s
        self.name = f"{self.kind}#{index}"
        self.clock = clock
        self.retry_base_s = retry_base_s
        self.retry_max_s = retry_max_s
        self.max_attempts = max_attempts
        self.stats: Counter[str] = Counter()
        (secrets or SecretRegistry()).add(config.url, *self._url_secrets(config.url))
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._last: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
            transport=transport,
            follow_redirects=False,
        )
        self._last_post = float("-inf")
        self._thread = threading.Thread(target=self._run, name=f"notify-{self.name}", daemon=True)
        self._thread.start()

    @staticmethod
    def _url_secrets(url: str) -> list[str]:
        return [v for values in parse_qs(urlsplit(url).query).values() for v in values]

    # -- caller's side: never blocks ---------------------------------------------------
    def offer(self, notification: Notification) -> bool:
        """Queue unless it repeats the same state of the same condition too soon."""
        now = self.clock()
        with self._lock:
            last = self._last.get(notification.key)
            if (
                last is not None
                and last[0] == notification.kind
                and now - last[1] < self.config.min_interval_s
            ):
                self.stats["suppressed"] += 1
                return False
            try:
                self._queue.put_nowait(notification)
            except queue.Full:
                self.stats["dropped"] += 1
                log.warning("notify.queue_full", sink=self.name, kind=notification.kind)
                return False
            self._last[notification.key] = (notification.kind, now)
            self.stats["queued"] += 1
            return True

    def close(self, timeout_s: float = 3.0) -> None:
        """Send what is queued if it goes quickly, then stop; never waits past ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        self.request_stop(deadline)
        self.finish_close(deadline)

    def request_stop(self, deadline: float) -> None:
        """Queue the end marker (after what is queued) without waiting past ``deadline``."""
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=max(0.0, deadline - time.monotonic()))

    def finish_close(self, deadline: float) -> None:
        """Wait for the thread until ``deadline``, then abandon retries and the post in flight.

        The thread is a daemon: a post stuck past its own timeout cannot hold the process.
        """
        self._thread.join(max(0.0, deadline - time.monotonic()))
        self._stop.set()
        self._thread.join(0.1)
        if not self._thread.is_alive():
            self._client.close()

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.stats[key] += n

    def stats_snapshot(self) -> dict[str, int]:
        """A consistent copy of the counters (read from other threads)."""
        with self._lock:
            return dict(self.stats)

    def idle(self) -> bool:
        """Nothing queued or in flight (tests wait on this)."""
        return self._queue.unfinished_tasks == 0

    # -- the sink's thread --------------------------------------------------------------
    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                self._queue.task_done()
                return
            batch: list[Notification] = [item] if isinstance(item, Notification) else []
            stop_after = False
            while len(batch) < MAX_DIGEST:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop_after = True
                    self._queue.task_done()
                    break
                if isinstance(more, Notification):
                    batch.append(more)
            try:
                for body, count in self.render(batch):
                    self._deliver(body, count)
            except Exception:  # a sink must never die on a bug in one message
                log.exception("notify.sink_error", sink=self.name)
            finally:
                for _ in batch:
                    self._queue.task_done()
            if stop_after or self._stop.is_set():
                return

    def _deliver(self, body: dict[str, Any], count: int) -> None:
        for attempt in range(1, self.max_attempts + 1):
            wait = self._last_post + self.min_spacing_s - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                break
            self._last_post = time.monotonic()
            try:
                self._post(body)
            except _DeliveryError as exc:
                self._count("post_failures")
                log.warning("notify.post_failed", sink=self.name, reason=exc.reason,
                            attempt=attempt, retry=exc.retry)
                if not exc.retry or attempt == self.max_attempts:
                    break
                delay = min(self.retry_max_s, self.retry_base_s * 2 ** (attempt - 1))
                if self._stop.wait(delay):
                    break
                continue
            self._count("sent", count)
            log.info("notify.sent", sink=self.name, notifications=count, attempt=attempt)
            return
        self._count("failed", count)
        log.error("notify.gave_up", sink=self.name, notifications=count)

    def _post(self, body: dict[str, Any]) -> None:
        try:
            response = self._client.post(self.config.url, json=body)
        except httpx.HTTPError as exc:
            raise _DeliveryError(type(exc).__name__, retry=True) from None
        status = response.status_code
        if status >= 500 or status == 429:
            raise _DeliveryError(f"HTTP {status}", retry=True)
        if status >= 300:
            raise _DeliveryError(f"HTTP {status}", retry=False)
        self.check(response)

    # -- what differs between sinks -------------------------------------------------------
    def render(self, batch: Sequence[Notification]) -> list[tuple[dict[str, Any], int]]:
        """The bodies to post, each with how many notifications it carries."""
        raise NotImplementedError

    def check(self, response: httpx.Response) -> None:
        """Judge a 2xx answer; raise :class:`_DeliveryError` if it is a failure."""


class WebhookSink(Sink):
    """POSTs each notification as one JSON object; any 2xx is success."""

    kind = "webhook"

    def render(self, batch: Sequence[Notification]) -> list[tuple[dict[str, Any], int]]:
        return [(n.to_json(), 1) for n in batch]


_COLOR = {"critical": "warning", "warn": "warning", "ok": "info", "info": "comment"}


def robot_markdown(batch: Sequence[Notification]) -> list[tuple[str, int]]:
    """Markdown contents for the robot, each within WeCom's size limit, with their counts."""
    blocks = []
    for n in batch:
        text = f'**<font color="{_COLOR[n.severity]}">{n.title}</font>**'
        text += "".join(f"\n> {line}" for line in n.lines)
        blocks.append(text)
    contents: list[tuple[str, int]] = []
    current, count = "", 0
    for block in blocks:
        while len(block.encode("utf-8")) > ROBOT_MAX_BYTES:
            block = block[: len(block) * 3 // 4]
        candidate = f"{current}\n\n{block}" if current else block
        if len(candidate.encode("utf-8")) > ROBOT_MAX_BYTES:
            contents.append((current, count))
            candidate, count = block, 0
        current, count = candidate, count + 1
    if current:
        contents.append((current, count))
    return contents


class WeComRobotSink(Sink):
    """A WeCom group robot (``/cgi-bin/webhook/send?key=…``): markdown, errcode checked."""

    kind = "wecom_robot"
    min_spacing_s = 3.0  # WeCom allows a robot 20 messages a minute

    def render(self, batch: Sequence[Notification]) -> list[tuple[dict[str, Any], int]]:
        return [
            ({"msgtype": "markdown", "markdown": {"content": content}}, count)
            for content, count in robot_markdown(batch)
        ]

    def check(self, response: httpx.Response) -> None:
        try:
            errcode = int(json.loads(response.content).get("errcode", 0))
        except (ValueError, AttributeError, TypeError):
            raise _DeliveryError("unreadable answer", retry=True) from None
        if errcode in (-1, 45009, 45033):
            raise _DeliveryError(f"errcode {errcode}", retry=True)
        if errcode != 0:
            raise _DeliveryError(f"errcode {errcode}", retry=False)


SINKS: dict[str, type[Sink]] = {"wecom_robot": WeComRobotSink, "webhook": WebhookSink}


class NotificationFanout:
    """Fans notifications out to every configured sink; ``publish`` never blocks."""

    def __init__(self, sinks: Sequence[Sink]) -> None:
        self.sinks = list(sinks)

    @classmethod
    def from_config(cls, configs: Sequence[NotifyConfig], **kwargs: Any) -> NotificationFanout:
        return cls([SINKS[c.kind](c, index=n, **kwargs) for n, c in enumerate(configs, 1)])

    def publish(self, notification: Notification) -> None:
        for sink in self.sinks:
            sink.offer(notification)

    def stats(self) -> dict[str, dict[str, int]]:
        """Per sink: queued, sent, suppressed, dropped, post_failures, failed."""
        return {sink.name: sink.stats_snapshot() for sink in self.sinks}

    def close(self, timeout_s: float = 3.0) -> None:
        """Stop every sink within one shared ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        for sink in self.sinks:
            sink.request_stop(deadline)
        for sink in self.sinks:
            sink.finish_close(deadline)
