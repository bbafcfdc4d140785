"""Tests for iotwx_watch.report.notify against real HTTP receivers on 127.0.0.1: what a
sink posts, how it judges the answer, that the caller never waits, that a timed-out post
counts as probably delivered, and that no URL or key reaches a log line."""

from __future__ import annotations

import socket
import time
from typing import Any

import structlog

from iotwx_watch.config import NotifyConfig
from iotwx_watch.log import SecretRegistry
from iotwx_watch.report.messages import Notification
from iotwx_watch.report.notify import (
    ROBOT_MAX_BYTES,
    Delivery,
    NotificationFanout,
    Sink,
    WebhookSink,
    WeComRobotSink,
    robot_markdown,
)
from tests.conftest import wait_for
from tests.report.receiver import Receiver


def make_sink(cls: type[Sink], url: str, **kw: Any) -> Sink:
    config_kw = {k: kw.pop(k) for k in ("mentioned_list", "mentioned_mobile_list") if k in kw}
    options: dict[str, Any] = {"timeout_s": 2.0, "min_spacing_s": 0.0}
    options.update(kw)
    return cls(NotifyConfig(cls.kind, url, **config_kw), **options)  # type: ignore[arg-type]


def note(severity: str = "warn", key: str = "ip:app:1.2.3.4") -> Notification:
    return Notification("ip_to_whitelist", key, severity, "Whitelist 1.2.3.4",  # type: ignore[arg-type]
                        ("deployment: cb-1", "address: 1.2.3.4"), {"ip": "1.2.3.4"}, 1.8e9,
                        "cb-1", "n7")


def results_of(sink: Sink, count: int = 1) -> list[Delivery]:
    """Wait until ``count`` posts are settled; close the sink."""
    got: list[Delivery] = []

    def settled() -> bool:
        got.extend(sink.take_results())
        return len(got) >= count

    try:
        wait_for(settled, what="sink results")
    finally:
        sink.close()
    return got


def test_webhook_posts_one_json_object_per_message(receiver: Receiver) -> None:
    """The webhook body carries the outbox id, the deployment and the text; no host guess."""
    sink = make_sink(WebhookSink, f"{receiver.url}/hook")
    sink.submit("n7", note())
    assert [Delivery("n7", "delivered")] == results_of(sink)
    body = receiver.bodies[0]
    assert ("n7", "cb-1", "ip_to_whitelist", "deployment: cb-1\naddress: 1.2.3.4") == (
        body["id"], body["deployment"], body["kind"], body["text"])
    assert "host" not in body


def test_robot_posts_markdown_with_key(receiver: Receiver) -> None:
    """The robot sink posts markdown to /cgi-bin/webhook/send?key=…, severity tag first."""
    sink = make_sink(WeComRobotSink, receiver.robot_url)
    sink.submit("n1", note())
    assert "delivered" == results_of(sink)[0].outcome
    path, body = receiver.requests[0]
    assert "/cgi-bin/webhook/send?key=robotkey-0123456789abcdef" == path
    assert "markdown" == body["msgtype"]
    assert body["markdown"]["content"].startswith(
        '<font color="warning">**【WARNING】**</font> **Whitelist 1.2.3.4**\n> deployment: cb-1')


def test_critical_robot_message_mentions_people(receiver: Receiver) -> None:
    """A critical message goes as text with mentioned_list / mentioned_mobile_list; a
    warning stays markdown and mentions nobody."""
    sink = make_sink(WeComRobotSink, receiver.robot_url, mentioned_list=("zhangsan",),
                     mentioned_mobile_list=("13800001111",))
    sink.submit("n1", note("critical"))
    sink.submit("n2", note("warn", key="ip:app:5.6.7.8"))
    results_of(sink, 2)
    critical, warning = receiver.bodies
    assert ("text", ["zhangsan"], ["13800001111"]) == (
        critical["msgtype"], critical["text"]["mentioned_list"],
        critical["text"]["mentioned_mobile_list"])
    assert critical["text"]["content"].startswith("【CRITICAL】Whitelist 1.2.3.4\n")
    assert "markdown" == warning["msgtype"]


def test_robot_errcode_is_a_failure_not_retried_soon(receiver: Receiver) -> None:
    """A robot answer with a non-zero errcode fails; a refused key is not retried soon."""
    receiver.mode = "robot_error"
    sink = make_sink(WeComRobotSink, receiver.robot_url)
    sink.submit("n1", note())
    assert [Delivery("n1", "failed", "errcode 93000", retry_soon=False)] == results_of(sink)


def test_500_fails_to_be_retried_and_submit_never_waits(receiver: Receiver) -> None:
    """A 500 is a failure the outbox retries soon; submitting 50 messages to a receiver
    that hangs takes milliseconds."""
    receiver.mode = "fail500"
    sink = make_sink(WebhookSink, receiver.url)
    sink.submit("n1", note())
    assert [Delivery("n1", "failed", "HTTP 500", retry_soon=True)] == results_of(sink)
    receiver.mode = "hang"
    hanging = make_sink(WebhookSink, receiver.url)
    started = time.perf_counter()
    for n in range(50):
        hanging.submit(f"h{n}", note(key=f"ip:app:10.0.0.{n}"))
    submit_s = time.perf_counter() - started
    wait_for(lambda: len(receiver.requests) > 1, what="the first hanging request")
    started = time.perf_counter()
    hanging.close(timeout_s=0.2)
    close_s = time.perf_counter() - started
    assert submit_s < 0.05, submit_s
    assert close_s < 2.0, close_s


def test_a_timed_out_answer_is_probably_delivered_and_sent_once(receiver: Receiver) -> None:
    """A receiver slower than the read timeout got the message: it is not posted again."""
    receiver.mode, receiver.delay_s = "slow", 2.0
    sink = make_sink(WebhookSink, receiver.url, read_timeout_s=0.3)
    sink.submit("n1", note())
    assert [Delivery("n1", "probably_delivered", "answer timed out")] == results_of(sink)
    assert 1 == len(receiver.requests)


def test_a_refused_connection_is_failed_not_probably_delivered() -> None:
    """Nothing listening: the post never left, so it is failed (and retried later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = make_sink(WebhookSink, f"http://127.0.0.1:{port}/hook")
    sink.submit("n1", note())
    assert [Delivery("n1", "failed", "ConnectError", retry_soon=True)] == results_of(sink)


def test_robot_markdown_stays_within_wecom_limit() -> None:
    """A very long message is cut to fit WeCom's 4096-byte markdown limit, on a character."""
    long = Notification("k", "key", "warn", "标题" * 100, ("行" * 3000,))
    content = robot_markdown(long)
    assert len(content.encode("utf-8")) <= ROBOT_MAX_BYTES
    assert content.endswith("…")


def test_webhook_url_never_reaches_a_log_line() -> None:
    """A failing robot logs its name and the reason, never its URL or key."""
    with socket.socket() as probe:  # a port nobody listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    key = "robot-key-never-logged-42"
    secrets = SecretRegistry()
    with structlog.testing.capture_logs() as logs:
        sink = make_sink(WeComRobotSink,
                         f"http://127.0.0.1:{port}/cgi-bin/webhook/send?key={key}",
                         secrets=secrets)
        sink.submit("n1", note())
        results_of(sink)
    assert ["notify.post_failed"] == [e["event"] for e in logs if e["event"].startswith("notify")]
    assert key not in repr(logs)
    assert "wecom_robot" == logs[-1]["sink"]
    assert key in secrets.values()


def test_fanout_test_reports_each_sink(receiver: Receiver, robot: Receiver) -> None:
    """`notify test`'s engine: every sink at once, each with its own result."""
    robot.mode = "robot_error"
    fanout = NotificationFanout([
        WebhookSink(NotifyConfig("webhook", receiver.url, name="hook"), min_spacing_s=0.0),
        WeComRobotSink(NotifyConfig("wecom_robot", robot.robot_url, name="oncall"),
                       min_spacing_s=0.0),
    ])
    try:
        results = fanout.test(lambda name: note(key=f"test:{name}"), timeout_s=10)
    finally:
        fanout.close()
    assert {"hook": "delivered", "oncall": "failed"} == {
        name: r.outcome if r else None for name, r in results.items()}
