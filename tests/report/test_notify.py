"""Tests for iotwx_watch.report.notify and the notification half of iotwx_watch.run.hooks,
against real HTTP receivers on 127.0.0.1: once per condition, recovery once, slow or failing sinks
never delay the caller, and no secret in any body."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import structlog

from iotwx_watch.config import NotifyConfig, load_config
from iotwx_watch.engine.outcomes import Outcome
from iotwx_watch.log import SecretRegistry
from iotwx_watch.report.health import Problem
from iotwx_watch.report.notify import (
    ROBOT_MAX_BYTES,
    Notification,
    NotificationFanout,
    Sink,
    WebhookSink,
    WeComRobotSink,
    robot_markdown,
)
from iotwx_watch.run.daemon import make_client
from iotwx_watch.run.hooks import (
    BatchHooks,
    HealthAlerts,
    hooks_for,
    outcome_notification,
)
from iotwx_watch.run.runner import Runner
from tests.conftest import SECRETS as SUITE_SECRETS
from tests.conftest import (
    SUITE_A,
    SUITE_B,
    Workdir,
    auth_record,
    blocked_record,
    ticket_record,
    wait_for,
)


@dataclass
class Receiver:
    """A real HTTP endpoint: answers per ``mode`` and keeps every request it got."""

    mode: str = "ok"  # ok | fail500 | hang | robot_error
    requests: list[tuple[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                receiver.requests.append((self.path, body))
                if receiver.mode == "hang":
                    receiver.release.wait(10)
                    return
                status = 500 if receiver.mode == "fail500" else 200
                errcode = 93000 if receiver.mode == "robot_error" else 0
                payload = json.dumps({"errcode": errcode, "errmsg": "ok"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def bodies(self) -> list[Any]:
        return [body for _, body in self.requests]

    def stop(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver().start()
    yield rec
    rec.stop()


def make_sink(cls: type[Sink], url: str, **kw: Any) -> Sink:
    min_interval = kw.pop("min_interval_s", 300.0)
    options: dict[str, Any] = {"timeout_s": 2.0, "retry_base_s": 0.01, "min_spacing_s": 0.0}
    options.update(kw)
    return cls(NotifyConfig(cls.kind, url, min_interval), **options)  # type: ignore[arg-type]


def note(kind: str = "ip_to_whitelist", key: str = "ip:app:1.2.3.4") -> Notification:
    return Notification(kind, key, "warn", f"{kind} {key}", ("a line",), {"ip": "1.2.3.4"})


def send_one(sink: Sink) -> None:
    """Offer one notification, wait until the sink is done with it, then close the sink."""
    try:
        sink.offer(note())
        wait_for(sink.idle, what="sink idle")
    finally:
        sink.close()


def test_same_condition_fires_once(receiver: Receiver) -> None:
    """A repeated notification of the same condition and state is sent once."""
    sink = make_sink(WebhookSink, receiver.url)
    try:
        assert [True, False, True] == [
            sink.offer(note()), sink.offer(note()), sink.offer(note(key="ip:app:5.6.7.8"))
        ]
        wait_for(sink.idle, what="sink idle")
    finally:
        sink.close()
    assert ["ip:app:1.2.3.4", "ip:app:5.6.7.8"] == [b["key"] for b in receiver.bodies]
    assert {"queued": 2, "suppressed": 1, "sent": 2} == dict(sink.stats)


def test_repeat_allowed_after_min_interval(receiver: Receiver) -> None:
    """After min_interval_s the same condition may be sent again (injected clock)."""
    now = [1000.0]
    sink = make_sink(WebhookSink, receiver.url, min_interval_s=60, clock=lambda: now[0])
    try:
        sink.offer(note())
        now[0] += 61
        sink.offer(note())
        wait_for(sink.idle, what="sink idle")
    finally:
        sink.close()
    assert 2 == len(receiver.requests)


def test_robot_posts_markdown_with_key(receiver: Receiver) -> None:
    """The robot sink posts markdown to /cgi-bin/webhook/send?key=… and checks errcode."""
    sink = make_sink(WeComRobotSink, f"{receiver.url}/cgi-bin/webhook/send?key=robot-key-123456")
    send_one(sink)
    path, body = receiver.requests[0]
    assert "/cgi-bin/webhook/send?key=robot-key-123456" == path
    assert "markdown" == body["msgtype"]
    assert "ip_to_whitelist ip:app:1.2.3.4" in body["markdown"]["content"]
    assert 1 == sink.stats["sent"]


def test_robot_errcode_is_a_failure(receiver: Receiver) -> None:
    """A robot answer with a non-zero errcode is a failure, not retried when final."""
    receiver.mode = "robot_error"
    sink = make_sink(WeComRobotSink, f"{receiver.url}/cgi-bin/webhook/send?key=k-1234567")
    send_one(sink)
    assert (1, 1, 0) == (len(receiver.requests), sink.stats["failed"], sink.stats["sent"])


def test_500_is_retried_with_backoff_then_given_up(receiver: Receiver) -> None:
    """A sink answering 500 is retried max_attempts times, and the caller never waits."""
    receiver.mode = "fail500"
    sink = make_sink(WebhookSink, receiver.url, max_attempts=3)
    try:
        started = time.perf_counter()
        sink.offer(note())
        offer_s = time.perf_counter() - started
        wait_for(sink.idle, what="sink idle")
    finally:
        sink.close()
    assert 3 == len(receiver.requests)
    assert 1 == sink.stats["failed"]
    assert offer_s < 0.05, offer_s


def test_hanging_sink_does_not_delay_the_caller(receiver: Receiver) -> None:
    """With a receiver that never answers, offering 50 notifications takes milliseconds
    and close() returns within its bound."""
    receiver.mode = "hang"
    sink = make_sink(WebhookSink, receiver.url, timeout_s=5.0, max_attempts=1)
    started = time.perf_counter()
    for n in range(50):
        sink.offer(note(key=f"ip:app:10.0.0.{n}"))
    offer_s = time.perf_counter() - started
    wait_for(lambda: receiver.requests, what="first request")
    started = time.perf_counter()
    sink.close(timeout_s=0.2)
    close_s = time.perf_counter() - started
    assert offer_s < 0.05, offer_s
    assert close_s < 2.0, close_s


def test_full_queue_drops_instead_of_blocking(receiver: Receiver) -> None:
    """When the queue is full, offer drops and counts instead of waiting."""
    receiver.mode = "hang"
    sink = make_sink(WebhookSink, receiver.url, queue_size=2, max_attempts=1)
    try:
        sink.offer(note(key="first"))
        wait_for(lambda: receiver.requests, what="first request in flight")
        results = [sink.offer(note(key=f"k{n}")) for n in range(4)]
    finally:
        sink.close(timeout_s=0.2)
    assert [True, True, False, False] == results
    assert 2 == sink.stats["dropped"]


def test_robot_markdown_stays_within_wecom_limit() -> None:
    """Many long notifications are split into several contents, each within 4096 bytes."""
    batch = [Notification("k", f"key{n}", "warn", "标题" * 100, ("行" * 500,)) for n in range(10)]
    contents = robot_markdown(batch)
    assert len(contents) > 1
    assert all(len(c.encode("utf-8")) <= ROBOT_MAX_BYTES for c, _ in contents)
    assert 10 == sum(n for _, n in contents)


class Collect:
    """A NotificationFanout stand-in with no sink: the messages HealthAlerts publishes."""

    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def publish(self, notification: Notification) -> None:
        self.sent.append(notification)


def stale(level: str = "warn", code: str = "ticket_stale") -> Problem:
    return Problem(code, level, "ticket:dkA", "the newest suite_ticket of dkA is 21 min old",  # type: ignore[arg-type]
                   "check the callback server", "dkA")


def test_condition_fires_once_and_recovery_once(receiver: Receiver) -> None:
    """Stale fires once while it lasts, again when it worsens, and recovery fires once."""
    notifier = NotificationFanout([make_sink(WebhookSink, receiver.url)])
    watcher = HealthAlerts(notifier, clock=lambda: 0.0)
    try:
        for problems in [(stale(),), (stale(),), (stale("critical", "ticket_expired"),), (), ()]:
            watcher.update(problems, 5000.0)
        wait_for(lambda: all(s.idle() for s in notifier.sinks), what="sinks idle")
    finally:
        notifier.close()
    assert ["ticket_stale", "ticket_expired", "ticket_recovered"] == [
        b["kind"] for b in receiver.bodies
    ]


def test_missing_ticket_is_quiet_right_after_start() -> None:
    """No ticket yet is not news in the first 20 minutes after start-up."""
    collect = Collect()
    watcher = HealthAlerts(collect, clock=lambda: 0.0)  # type: ignore[arg-type]
    missing = stale(code="ticket_missing")
    watcher.update((missing,), 60.0)
    assert [] == collect.sent
    watcher.update((missing,), 20 * 60.0)
    assert ["ticket_missing"] == [n.kind for n in collect.sent]


ALL_NOTICES = [
    Outcome("corp_obtained", suite_id="dkA", corpid="wwc1", corp_name="Corp One", agentid=1000002),
    Outcome("secret_reset", suite_id="dkA", corpid="wwc1", corp_name="Corp One", agentid=1000002),
    Outcome("corp_cancelled", suite_id="dkA", corpid="wwc1", corp_name="Corp One"),
    Outcome("ip_to_whitelist", suite_id="dkA", ip="121.46.1.2", whitelist="app", errcode=60020),
    Outcome("egress_ip_changed", suite_id="dkA", ip="203.0.113.9", whitelist="provider"),
    Outcome("auth_code_failed", suite_id="dkA", errcode=40078, detail="used or expired"),
    Outcome("auth_code_expired", suite_id="dkA", detail="deadline passed"),
    Outcome("auth_code_interrupted", suite_id="dkA"),
    Outcome("ticket_rejected", suite_id="dkA", errcode=40085),
]


def test_every_notice_kind_has_words_and_where() -> None:
    """Each engine notice becomes a titled message; IP notices say where to whitelist."""
    out = [outcome_notification(n, 0.0) for n in ALL_NOTICES]
    assert [n.kind for n in ALL_NOTICES] == [n.kind for n in out]
    assert "服务商管理后台" in "\n".join(out[4].lines)
    assert "企业可信IP" in "\n".join(out[3].lines)
    assert "1000002" in "\n".join(out[0].lines)


def run_pipeline(
    work: Workdir, hook: Receiver, robot: Receiver, *, second_round: bool = False
) -> tuple[float, dict[str, str]]:
    """One real batch (follower, extractor, engine, simulator) with both sinks configured;
    with ``second_round``, then a fresh ticket for suite B, WeCom's retry of the same auth
    code and the same blocked IP again, over two more batches.

    Returns how long the first batch took and the secrets that were in play.
    """
    now = int(time.time())
    sim = work.sim
    ticket_a = sim.push_ticket(SUITE_A, timestamp=now - 30)
    ticket_b = sim.push_ticket(SUITE_B, timestamp=now - 25 * 60)
    code = sim.issue_auth_code(SUITE_A, "wwcorp0000000001", corp_name="Corp One", agentid=1000002)
    work.append(work.receive_log, ticket_record(SUITE_A, ticket_a, now - 30)
                + ticket_record(SUITE_B, ticket_b, now - 25 * 60)
                + auth_record(SUITE_A, code, now - 5))
    work.append(work.policy_log, blocked_record("121.46.1.2"))
    robot_key = "robotkey-0123456789abcdef"
    work.extra_config = (
        f'[[notify]]\nkind = "webhook"\nurl = "{hook.url}/hook"\n\n'
        f'[[notify]]\nkind = "wecom_robot"\n'
        f'url = "{robot.url}/cgi-bin/webhook/send?key={robot_key}"\n\n'
    )
    config = load_config(work.write_config())
    observers = hooks_for(config, sink_options={"timeout_s": 5.0, "min_spacing_s": 0.0,
                                                    "retry_base_s": 0.01, "max_attempts": 2})
    try:
        with make_client(config) as client, Runner(
            config, api=client, on_outcome=observers.on_outcome, observers=observers.batch
        ) as runner:
            started = time.perf_counter()
            runner.batch()  # as the daemon does (`once`'s snapshot limit is sticky)
            elapsed = time.perf_counter() - started
            if second_round:
                fresh_b = sim.push_ticket(SUITE_B, timestamp=now)
                work.append(work.receive_log, ticket_record(SUITE_B, fresh_b, now)
                            + auth_record(SUITE_A, code, now - 5))
                work.append(work.policy_log, blocked_record("121.46.1.2"))
                runner.batch()
                runner.batch()
        wait_for(lambda: hook.requests and robot.requests, what="both sinks posted")
        if hook.mode != "hang":
            expected = 4 if second_round else 3
            wait_for(lambda: len(hook.requests) >= expected, what="webhook notifications")
            wait_for(lambda: all(sink.idle() for sink in sinks_of(observers)), what="idle")
    finally:
        observers.close()
    secrets = {
        "permanent_code": sim.permanent_code_for("wwcorp0000000001") or "missing",
        "auth_code": code, "ticket_a": ticket_a, "ticket_b": ticket_b,
        "suite_secret_a": SUITE_SECRETS[SUITE_A], "suite_secret_b": SUITE_SECRETS[SUITE_B],
        "robot_key": robot_key,
    }
    return elapsed, secrets


@pytest.fixture
def robot() -> Iterator[Receiver]:
    rec = Receiver().start()
    yield rec
    rec.stop()


def test_pipeline_notifies_once_each_and_never_leaks_a_secret(
    workdir: Workdir, receiver: Receiver, robot: Receiver
) -> None:
    """A real batch sends one corp_obtained, one ip_to_whitelist and one ticket_stale to
    each sink, and no secret value appears in any body sent."""
    _, secrets = run_pipeline(workdir, receiver, robot)
    kinds = sorted(b["kind"] for b in receiver.bodies)
    assert ["corp_obtained", "ip_to_whitelist", "ticket_stale"] == kinds
    corp = next(b for b in receiver.bodies if b["kind"] == "corp_obtained")
    assert {"corpid": "wwcorp0000000001", "corp_name": "Corp One", "agentid": 1000002} == {
        k: corp["fields"][k] for k in ("corpid", "corp_name", "agentid")
    }
    robot_text = "\n".join(b["markdown"]["content"] for b in robot.bodies)
    assert "121.46.1.2" in robot_text and "wwcorp0000000001" in robot_text
    sent = json.dumps([receiver.bodies, robot.bodies], ensure_ascii=False)
    assert {} == {name: value for name, value in secrets.items() if value in sent}


@pytest.mark.parametrize("mode", ["hang", "fail500"])
def test_bad_sinks_do_not_delay_event_handling(
    mode: str, workdir: Workdir, receiver: Receiver, robot: Receiver
) -> None:
    """With sinks that hang (5 s timeout) or answer 500, the batch still takes well under
    a second: the corp is obtained and saved while the sinks struggle."""
    receiver.mode = robot.mode = mode
    elapsed, _ = run_pipeline(workdir, receiver, robot)
    assert elapsed < 1.0, elapsed
    assert "wwcorp0000000001" in workdir.state()["suites"][SUITE_A]["corps"]


def test_webhook_url_never_reaches_a_log_line() -> None:
    """A failing robot logs its name and the reason, never its URL or key."""
    with socket.socket() as probe:  # a port nobody listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    key = "robot-key-never-logged-42"
    secrets = SecretRegistry()
    with structlog.testing.capture_logs() as logs:
        sink = make_sink(WeComRobotSink, f"http://127.0.0.1:{port}/cgi-bin/webhook/send?key={key}",
                         max_attempts=2, secrets=secrets)
        sink.offer(note())
        wait_for(sink.idle, what="sink idle")
        sink.close()
    assert ["notify.post_failed", "notify.post_failed", "notify.gave_up"] == [
        entry["event"] for entry in logs if entry["event"].startswith("notify.")
    ]
    assert key not in repr(logs)
    assert "wecom_robot#1" == logs[-1]["sink"]
    assert key in secrets.values()


def sinks_of(observers: BatchHooks) -> list[Sink]:
    """The sinks behind an BatchHooks (through its HealthAlerts), to wait until idle."""
    return [sink for obs in observers.batch if isinstance(obs, HealthAlerts)
            for sink in obs.notifier.sinks]


def test_recovery_fires_once_and_repeats_stay_quiet(
    workdir: Workdir, receiver: Receiver, robot: Receiver
) -> None:
    """Through real batches: the stale ticket of suite B fires once and its recovery once;
    WeCom's retry of the redeemed code and the same 60020 again send nothing new."""
    run_pipeline(workdir, receiver, robot, second_round=True)
    kinds = sorted(b["kind"] for b in receiver.bodies)
    assert ["corp_obtained", "ip_to_whitelist", "ticket_recovered", "ticket_stale"] == kinds
    recovered = next(b for b in receiver.bodies if b["kind"] == "ticket_recovered")
    assert f"ticket:{SUITE_B}" == recovered["key"]
    robot_text = "\n".join(b["markdown"]["content"] for b in robot.bodies)
    assert 1 == robot_text.count("is fresh again")
