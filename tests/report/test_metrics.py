"""Tests for iotwx_watch.report.metrics: the textfile and the listener parse with
prometheus_client's own parser and say what the state says."""

from __future__ import annotations

import os
import socket
import stat
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from iotwx_watch.config import Config, MetricsConfig, NotifyConfig, SuiteConfig, load_config
from iotwx_watch.engine.port import CallRecord
from iotwx_watch.report.health import assess
from iotwx_watch.report.metrics import MetricsExporter, Snapshot, SourceCounters
from iotwx_watch.run.daemon import make_client
from iotwx_watch.run.hooks import hooks_for
from iotwx_watch.run.runner import Runner
from iotwx_watch.state.model import (
    AuthCodeEntry,
    BlockedIpEntry,
    CorpEntry,
    OutboxEntry,
    SinkRecord,
    State,
    TicketEntry,
    TokenEntry,
)
from tests.conftest import SUITE_A, SUITE_B, Workdir, blocked_record, ticket_record

NOW = 1_800_000_000.0
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(parsed: Samples, name: str, **labels: str) -> float:
    return parsed[(name, frozenset(labels.items()))]


def sample_state() -> State:
    state = State()
    a = state.suite(SUITE_A)
    a.suite_ticket = TicketEntry("ticket-aaaaaaaa", int(NOW - 125), NOW - 120)
    a.suite_access_token = TokenEntry("token-aaaaaaaa", NOW + 3000)
    a.corps["ww1"] = CorpEntry("One", 1000002, "pc-one-secret", NOW - 50)
    a.corps["ww2"] = CorpEntry("Two", 1000003, "pc-two-secret", NOW - 40)
    a.corps["ww3"] = CorpEntry("Three", 1000004, None, NOW - 30, status="cancelled")
    for n, status in enumerate(["redeemed", "redeemed", "failed", "pending"]):
        a.auth_codes[f"{n:016x}"] = AuthCodeEntry(
            status, "create_auth", int(NOW - 60), NOW - 60, NOW - 30  # type: ignore[arg-type]
        )
    state.suite(SUITE_B)  # no ticket yet
    state.blocked_ips["121.46.1.2"] = BlockedIpEntry("app", NOW - 100, NOW - 10, count=3)
    state.blocked_ips["121.46.1.3"] = BlockedIpEntry("app", NOW - 100, NOW - 10)
    state.blocked_ips["203.0.113.9"] = BlockedIpEntry("provider", NOW - 100, NOW - 90,
                                                      resolved_at=NOW - 5)
    return state


CONFIG = Config(suites=(SuiteConfig(SUITE_A), SuiteConfig(SUITE_B)))


def test_textfile_matches_the_state(tmp_path: Path) -> None:
    """Ticket age, token validity, corps, codes and blocked IPs in the textfile equal the state."""
    state = sample_state()
    path = tmp_path / "iotwx_watch.prom"
    exporter = MetricsExporter(MetricsConfig(textfile=str(path)))
    src = SourceCounters("/logs/receive.log", "callback",
                         {"bytes": 300, "records": 7, "events.suite_ticket": 5,
                          "rejects.bad_signature": 2, "skipped.long_line": 1},
                         {"bytes_read": 310, "rotations": 1, "truncations": 2, "gaps": 0})
    exporter.update(Snapshot(assess(state, now=NOW, config=CONFIG), (src,), NOW - 5, 3))
    parsed = samples(path.read_text(encoding="utf-8"))
    a = state.suites[SUITE_A]
    assert a.suite_ticket is not None and a.suite_access_token is not None
    assert NOW - a.suite_ticket.timestamp == value(parsed, "iotwx_watch_ticket_age_seconds",
                                                   suite_id=SUITE_A)
    assert ("iotwx_watch_ticket_age_seconds", frozenset({("suite_id", SUITE_B)})) not in parsed
    assert [1.0, 0.0] == [value(parsed, "iotwx_watch_ticket_usable", suite_id=s)
                          for s in (SUITE_A, SUITE_B)]
    assert a.suite_access_token.expires_at - NOW == value(
        parsed, "iotwx_watch_suite_token_valid_seconds", suite_id=SUITE_A)
    corps: Counter[str] = Counter(c.status for c in a.corps.values())
    for status in ("active", "cancelled"):
        assert corps[status] == value(parsed, "iotwx_watch_corps", suite_id=SUITE_A,
                                      status=status)
    codes: Counter[str] = Counter(c.status for c in a.auth_codes.values())
    for status in ("pending", "redeeming", "redeemed", "failed", "expired"):
        assert codes[status] == value(parsed, "iotwx_watch_auth_codes", suite_id=SUITE_A,
                                      status=status)
    assert [2.0, 1.0] == [value(parsed, "iotwx_watch_blocked_ips", whitelist=w)
                          for w in ("app", "provider")]
    assert [2.0, 0.0] == [value(parsed, "iotwx_watch_ips_to_whitelist", whitelist=w)
                          for w in ("app", "provider")]
    base = {"path": "/logs/receive.log", "kind": "callback"}
    assert 310 == value(parsed, "iotwx_watch_source_bytes_read_total", **base)
    assert 7 == value(parsed, "iotwx_watch_source_records_total", **base)
    assert 5 == value(parsed, "iotwx_watch_events_total", type="suite_ticket", **base)
    assert 2 == value(parsed, "iotwx_watch_rejects_total", reason="bad_signature", **base)
    assert [1, 2, 0] == [value(parsed, "iotwx_watch_follow_events_total", event=e, **base)
                         for e in ("rotations", "truncations", "gaps")]
    assert NOW - 5 == value(parsed, "iotwx_watch_last_batch_timestamp_seconds")
    assert 3 == value(parsed, "iotwx_watch_batches_total")
    # suite B has no ticket, codes are pending/failed, IPs wait: critical overall
    assert 2 == value(parsed, "iotwx_watch_health_level")
    assert [p.name for p in tmp_path.iterdir()] == ["iotwx_watch.prom"]


def test_wecom_calls_and_latency() -> None:
    """Calls are counted per endpoint and errcode, and their latency lands in the histogram."""
    exporter = MetricsExporter(MetricsConfig())
    for record in [CallRecord("get_suite_token", 0, 0.2, 200),
                   CallRecord("get_suite_token", 60020, 0.07, 200),
                   CallRecord("get_permanent_code", 0, 3.0, 200)]:
        exporter.record_call(record)
    exporter.update(Snapshot(assess(State(), now=NOW)))
    parsed = samples(_exposition(exporter))
    name = "iotwx_watch_wecom_calls_total"
    assert [1, 1, 1] == [
        value(parsed, name, endpoint="get_suite_token", errcode="0"),
        value(parsed, name, endpoint="get_suite_token", errcode="60020"),
        value(parsed, name, endpoint="get_permanent_code", errcode="0"),
    ]
    hist = "iotwx_watch_wecom_call_duration_seconds"
    assert 2 == value(parsed, f"{hist}_count", endpoint="get_suite_token")
    assert 1 == value(parsed, f"{hist}_bucket", endpoint="get_suite_token", le="0.1")
    assert 0 == value(parsed, f"{hist}_bucket", endpoint="get_permanent_code", le="2.5")


def _exposition(exporter: MetricsExporter) -> str:
    return generate_latest(exporter.registry).decode("utf-8")


def test_listener_serves_the_same_metrics_on_loopback(tmp_path: Path) -> None:
    """The HTTP listener (127.0.0.1, port 0 → a free port) serves what the textfile holds."""
    path = tmp_path / "m.prom"
    exporter = MetricsExporter(MetricsConfig(textfile=str(path), listen="127.0.0.1:0"))
    exporter.start()
    try:
        address = exporter.address
        assert address is not None
        assert "127.0.0.1" == address[0]
        exporter.update(Snapshot(assess(sample_state(), now=NOW, config=CONFIG)))
        served = httpx.get(f"http://127.0.0.1:{address[1]}/metrics", timeout=5).text
    finally:
        exporter.close()
    assert samples(path.read_text(encoding="utf-8")) == samples(served)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{address[1]}/metrics", timeout=1)


def test_unwritable_textfile_is_logged_not_raised(tmp_path: Path) -> None:
    """A textfile in a missing directory does not break the batch."""
    exporter = MetricsExporter(MetricsConfig(textfile=str(tmp_path / "nope" / "m.prom")))
    exporter.update(Snapshot(assess(State(), now=NOW)))
    assert not (tmp_path / "nope").exists()


def run_batch_with_metrics(workdir: Workdir) -> Samples:
    """A ticket and two 60020 lines through one real batch; returns the textfile's samples."""
    now = int(time.time())
    ticket = workdir.sim.push_ticket(SUITE_A, timestamp=now - 30)
    workdir.append(workdir.receive_log, ticket_record(SUITE_A, ticket, now - 30))
    workdir.append(workdir.policy_log, blocked_record("121.46.1.2") * 2)
    prom = workdir.root / "iotwx.prom"
    workdir.extra_config = f'[metrics]\ntextfile = "{prom}"\n\n'
    config = load_config(workdir.write_config())
    observers = hooks_for(config)
    try:
        with make_client(config) as client, Runner(
            config, api=client, on_outcome=observers.on_outcome, observers=observers.batch
        ) as runner:
            runner.batch(limit_to_snapshot=True)
    finally:
        observers.close()
    return samples(prom.read_text(encoding="utf-8"))


def test_real_batch_metrics_match_runner_and_files(workdir: Workdir) -> None:
    """After a real batch, bytes read equal the logs' sizes and the gauges match the state."""
    before = time.time()
    parsed = run_batch_with_metrics(workdir)
    for path, kind in ((workdir.receive_log, "callback"), (workdir.policy_log, "policy_engine")):
        assert path.stat().st_size == value(
            parsed, "iotwx_watch_source_bytes_read_total", path=str(path), kind=kind)
    assert before <= value(parsed, "iotwx_watch_last_batch_timestamp_seconds") <= time.time()
    state = workdir.state()
    assert len(state["blocked_ips"]) == value(parsed, "iotwx_watch_blocked_ips", whitelist="app")
    assert 1 == value(parsed, "iotwx_watch_ticket_usable", suite_id=SUITE_A)
    assert 0 == value(parsed, "iotwx_watch_ticket_usable", suite_id=SUITE_B)


def test_real_batch_counts_each_event_once(workdir: Workdir) -> None:
    """One ticket and two 60020 lines in the logs are one and two events in the metrics."""
    parsed = run_batch_with_metrics(workdir)
    assert [1, 2] == [
        value(parsed, "iotwx_watch_events_total", path=str(workdir.receive_log),
              kind="callback", type="suite_ticket"),
        value(parsed, "iotwx_watch_events_total", path=str(workdir.policy_log),
              kind="policy_engine", type="blocked_ip"),
    ]


def test_notification_counters_per_sink_name_from_the_state() -> None:
    """Sink series are labelled by the sink's name and read from the state's records, so
    reordering [[notify]] or running passes from a timer changes nothing."""
    state = State()
    state.notifications.sinks["oncall"] = SinkRecord(delivered=3, probably_delivered=1,
                                                     expired=2, failed_attempts=5)
    state.notifications.outbox["n9"] = OutboxEntry("oncall", "ticket_stale", "ticket:x", "warn",
                                                   "t", NOW - 120, NOW + 3600)
    config = Config(notify=(NotifyConfig("wecom_robot", "https://x", name="oncall"),
                            NotifyConfig("webhook", "https://y", name="hook")))
    exporter = MetricsExporter(MetricsConfig())
    exporter.update(Snapshot(assess(state, now=NOW, config=config)))
    parsed = samples(_exposition(exporter))
    name = "iotwx_watch_notifications_total"
    assert [3, 1, 2, 0] == [
        value(parsed, name, sink="oncall", outcome="delivered"),
        value(parsed, name, sink="oncall", outcome="probably_delivered"),
        value(parsed, name, sink="oncall", outcome="expired"),
        value(parsed, name, sink="hook", outcome="expired"),
    ]
    assert [1, 120, 5] == [
        value(parsed, "iotwx_watch_notifications_waiting", sink="oncall"),
        value(parsed, "iotwx_watch_notifications_oldest_waiting_seconds", sink="oncall"),
        value(parsed, "iotwx_watch_notification_failed_attempts_total", sink="oncall"),
    ]


def test_build_info_and_no_created_series() -> None:
    """build_info says what runs; no `_created` sample appears (noise for alerting)."""
    exporter = MetricsExporter(MetricsConfig(), build_info={"version": "9.9.9"})
    exporter.record_call(CallRecord("get_suite_token", 0, 0.2, 200))
    exporter.update(Snapshot(assess(State(), now=NOW)))
    text = _exposition(exporter)
    parsed = samples(text)
    python = ".".join(str(n) for n in sys.version_info[:3])
    assert 1 == value(parsed, "iotwx_watch_build_info", version="9.9.9", python=python)
    assert [] == [line for line in text.splitlines() if "_created" in line]


def test_each_log_has_its_position_lag_and_last_read(workdir: Workdir) -> None:
    """Per log: size, saved offset, lag 0 once caught up, readable, and the time of the last
    read without an error."""
    before = time.time()
    parsed = run_batch_with_metrics(workdir)
    for path, kind in ((workdir.receive_log, "callback"), (workdir.policy_log, "policy_engine")):
        labels = {"path": str(path), "kind": kind}
        size = path.stat().st_size
        assert [size, size, 0, 1] == [
            value(parsed, "iotwx_watch_source_size_bytes", **labels),
            value(parsed, "iotwx_watch_source_offset_bytes", **labels),
            value(parsed, "iotwx_watch_source_lag_bytes", **labels),
            value(parsed, "iotwx_watch_source_readable", **labels),
        ]
        read_at = value(parsed, "iotwx_watch_source_last_read_timestamp_seconds", **labels)
        assert before <= read_at <= time.time()


def test_textfile_is_0644_whatever_the_umask(tmp_path: Path) -> None:
    """Under the unit's UMask=0077 the textfile is still readable by node_exporter, and it
    is replaced atomically (no temp file left)."""
    path = tmp_path / "iotwx_watch.prom"
    exporter = MetricsExporter(MetricsConfig(textfile=str(path)))
    old = os.umask(0o077)
    try:
        exporter.update(Snapshot(assess(State(), now=NOW)))
        exporter.update(Snapshot(assess(State(), now=NOW + 1)))
    finally:
        os.umask(old)
    assert (0o644, ["iotwx_watch.prom"]) == (stat.S_IMODE(path.stat().st_mode),
                                             [p.name for p in tmp_path.iterdir()])


def bound(exporter: MetricsExporter) -> tuple[str, int] | None:
    """Where the listener is bound now (a call, so no earlier check narrows it)."""
    return exporter.address


def test_a_busy_listen_port_is_a_retry_not_an_error() -> None:
    """A port held by another process: start() says so, nothing raises; once the port is
    free, the retry binds it."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    now = [NOW]
    exporter = MetricsExporter(MetricsConfig(listen=f"127.0.0.1:{port}"), clock=lambda: now[0])
    try:
        assert False is exporter.start()
        assert f"[metrics] listen 127.0.0.1:{port} cannot be bound" in (exporter.listen_error or "")
        holder.close()
        exporter.retry_listen(now[0] + 1)  # not due yet
        assert exporter.address is None
        now[0] += 31
        exporter.retry_listen(now[0])
        assert (("127.0.0.1", port), None) == (bound(exporter), exporter.listen_error)
    finally:
        holder.close()
        exporter.close()
