"""Prometheus metrics: a node_exporter textfile after every batch, and an optional listener.

Gauges come from the health model (the same judgement `status` prints), counters from
the readers' and followers' own counters, and WeCom calls from the client's ``on_call``
hook. Everything is collected from a snapshot taken after each batch, so the listener
thread never touches the runner's live objects.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Histogram, write_to_textfile
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import start_http_server

from iotwx_watch.config import Config, MetricsConfig, SourceConfig, parse_listen
from iotwx_watch.engine.port import CallRecord
from iotwx_watch.errors import ConfigError
from iotwx_watch.log import get_logger
from iotwx_watch.report.health import LEVEL_RANK, HealthReport, assess_deployment
from iotwx_watch.state.model import State

log = get_logger("metrics")
PREFIX = "iotwx_watch"
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _HasStats(Protocol):
    @property
    def stats(self) -> Counter[str]: ...


class ReaderView(Protocol):
    """What metrics need from a runner's SourceReader."""

    @property
    def config(self) -> SourceConfig: ...

    @property
    def follower(self) -> _HasStats: ...

    def extractor_stats(self) -> Counter[str]: ...


class RunnerView(Protocol):
    """What the observers read from the runner after a batch (runner.Runner has it all)."""

    @property
    def config(self) -> Config: ...

    @property
    def state(self) -> State: ...

    @property
    def readers(self) -> Sequence[ReaderView]: ...

    @property
    def last_batch_at(self) -> float | None: ...

    @property
    def batches(self) -> int: ...


@dataclass(frozen=True)
class SourceCounters:
    path: str
    kind: str
    extractor: Mapping[str, int]
    follower: Mapping[str, int]


@dataclass(frozen=True)
class Snapshot:
    """What one batch left behind, as the metrics show it."""

    health: HealthReport
    sources: tuple[SourceCounters, ...] = ()
    last_batch_at: float | None = None
    batches: int = 0
    notifications: Mapping[str, Mapping[str, int]] | None = None  # sink → outcome → count


def snapshot_of(runner: RunnerView, now: float) -> Snapshot:
    """Judge the runner's state and copy its counters (in the runner's thread)."""
    config = runner.config
    model = assess_deployment(config, runner.state, now=now)
    sources = tuple(
        SourceCounters(
            path=reader.config.path,
            kind=reader.config.kind,
            extractor=dict(reader.extractor_stats()),
            follower=dict(reader.follower.stats),
        )
        for reader in runner.readers
    )
    return Snapshot(model, sources, runner.last_batch_at, runner.batches)


class _SnapshotCollector:
    """Turns the latest snapshot into metric families when scraped or written."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None

    def set(self, snapshot: Snapshot) -> None:
        with self._lock:
            self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            snap = self._snapshot
        if snap is None:
            return
        yield from _source_families(snap.sources)
        yield from _health_families(snap.health)
        batch = _gauge("last_batch_timestamp_seconds", "When the last batch finished (epoch s).")
        if snap.last_batch_at is not None:
            batch.add_metric([], snap.last_batch_at)
        yield batch
        yield CounterMetricFamily(f"{PREFIX}_batches", "Batches run.", value=snap.batches)
        if snap.notifications is not None:
            sent = _counter(
                "notifications", "Notifications per sink and outcome.", "sink", "outcome"
            )
            for sink, counts in sorted(snap.notifications.items()):
                for outcome in sorted(set(counts) | {"sent", "failed", "dropped"}):
                    sent.add_metric([sink, outcome], counts.get(outcome, 0))
            yield sent


def _gauge(name: str, documentation: str, *labels: str) -> GaugeMetricFamily:
    """A gauge family named ``iotwx_watch_<name>``."""
    return GaugeMetricFamily(f"{PREFIX}_{name}", documentation, labels=list(labels))


def _counter(name: str, documentation: str, *labels: str) -> CounterMetricFamily:
    """A counter family named ``iotwx_watch_<name>`` (exposed with a ``_total`` sample)."""
    return CounterMetricFamily(f"{PREFIX}_{name}", documentation, labels=list(labels))


def _source_families(sources: Sequence[SourceCounters]) -> Iterator[Metric]:
    src_labels = ("path", "kind")
    read = _counter("source_bytes_read", "Bytes read per log.", *src_labels)
    records = _counter("source_records", "Candidate records seen per log.", *src_labels)
    events = _counter("events", "Events extracted per log and type.", *src_labels, "type")
    rejects = _counter("rejects", "Records rejected, per reason.", *src_labels, "reason")
    skipped = _counter("skipped", "Records skipped, per reason.", *src_labels, "reason")
    follow = _counter(
        "follow_events", "What the follower met per log (rotations, truncations, gaps, ...).",
        *src_labels, "event",
    )
    for src in sources:
        base = [src.path, src.kind]
        read.add_metric(base, src.follower.get("bytes_read", src.extractor.get("bytes", 0)))
        records.add_metric(base, src.extractor.get("records", 0))
        for key, value in sorted(src.extractor.items()):
            kind, _, name = key.partition(".")
            family = {"events": events, "rejects": rejects, "skipped": skipped}.get(kind)
            if family is not None and name:
                family.add_metric([*base, name], value)
        for event in ("rotations", "truncations", "gaps"):
            follow.add_metric([*base, event], src.follower.get(event, 0))
        for key, value in sorted(src.follower.items()):
            if key not in ("rotations", "truncations", "gaps", "bytes_read"):
                follow.add_metric([*base, key], value)
    yield from (read, records, events, rejects, skipped, follow)


def _health_families(h: HealthReport) -> Iterator[Metric]:
    ticket_age = _gauge(
        "ticket_age_seconds", "Age of the newest suite_ticket by its TimeStamp.", "suite_id"
    )
    ticket_ok = _gauge(
        "ticket_usable", "1 when the newest ticket is present, fresh and not rejected.", "suite_id"
    )
    token = _gauge(
        "suite_token_valid_seconds", "Seconds the cached suite token stays valid.", "suite_id"
    )
    corps = _gauge("corps", "Corps per suite and status.", "suite_id", "status")
    codes = _gauge("auth_codes", "Ledger entries per suite and status.", "suite_id", "status")
    for s in h.suites:
        if s.ticket is not None:
            ticket_age.add_metric([s.suite_id], s.ticket.age_s)
        usable = s.ticket is not None and s.ticket.level != "critical"
        ticket_ok.add_metric([s.suite_id], 1.0 if usable else 0.0)
        if s.token is not None:
            token.add_metric([s.suite_id], max(0.0, s.token.valid_for_s))
        by_status = Counter(c.status for c in s.corps)
        for status in sorted({"active", "cancelled"} | set(by_status)):
            corps.add_metric([s.suite_id, status], by_status[status])
        for status in ("pending", "redeeming", "redeemed", "failed", "expired"):
            codes.add_metric([s.suite_id, status], s.auth_code_counts.get(status, 0))
    blocked = _gauge("blocked_ips", "Addresses refused with 60020, per whitelist.", "whitelist")
    waiting = _gauge("ips_to_whitelist", "Addresses still waiting to be whitelisted.", "whitelist")
    for place in ("app", "provider"):
        blocked.add_metric([place], sum(1 for b in h.blocked_ips if b.whitelist == place))
        waiting.add_metric(
            [place], sum(1 for b in h.blocked_ips if b.whitelist == place and b.waiting)
        )
    source_up = _gauge("source_exists", "1 when the log file exists.", "path", "kind")
    for src in h.sources:
        source_up.add_metric([src.source.path, src.source.kind], 1.0 if src.source.exists else 0.0)
    level = _gauge("health_level", "0 ok, 1 warn, 2 critical (status exits 1 above 0).")
    level.add_metric([], LEVEL_RANK[h.level])
    problems = _gauge("problems", "Open problems per code and level.", "code", "level")
    for (code, lvl), n in sorted(Counter((p.code, p.level) for p in h.problems).items()):
        problems.add_metric([code, lvl], n)
    yield from (ticket_age, ticket_ok, token, corps, codes, blocked, waiting, source_up, level,
                problems)


class MetricsExporter:
    """Owns the registry, the textfile and the optional HTTP listener. A BatchHook."""

    def __init__(
        self,
        config: MetricsConfig,
        *,
        clock: Callable[[], float] = time.time,
        notification_stats: Callable[[], Mapping[str, Mapping[str, int]]] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.notification_stats = notification_stats
        self.registry = CollectorRegistry(auto_describe=False)
        self._collector = _SnapshotCollector()
        self.registry.register(self._collector)
        self.calls = PromCounter(
            f"{PREFIX}_wecom_calls", "WeCom calls per endpoint and errcode (0 = success).",
            ["endpoint", "errcode"], registry=self.registry,
        )
        self.latency = Histogram(
            f"{PREFIX}_wecom_call_duration_seconds", "WeCom call latency per endpoint.",
            ["endpoint"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self._listen = parse_listen(config.listen) if config.listen else None
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int] | None:
        """Where the listener is bound (the real port when 0 was asked)."""
        if self._server is None:
            return None
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        """Start the HTTP listener, if configured (loopback unless the config says otherwise)."""
        if self._listen is None or self._server is not None:
            return
        host, port = self._listen
        try:
            self._server, self._thread = start_http_server(port, host, registry=self.registry)
        except OSError as exc:
            raise ConfigError(f"[metrics] listen {host}:{port}: {exc.strerror}") from exc
        log.info("metrics.listening", host=host, port=self.address[1] if self.address else port)

    def record_call(self, record: CallRecord) -> None:
        """The WeCom client's ``on_call`` hook (thread-safe)."""
        self.calls.labels(record.endpoint, str(record.errcode)).inc()
        self.latency.labels(record.endpoint).observe(record.latency_s)

    def update(self, snapshot: Snapshot) -> None:
        """Publish a snapshot and rewrite the textfile."""
        self._collector.set(snapshot)
        self.write_textfile()

    def after_batch(self, runner: RunnerView) -> None:
        snapshot = snapshot_of(runner, self.clock())
        if self.notification_stats is not None:
            snapshot = replace(snapshot, notifications=self.notification_stats())
        self.update(snapshot)

    def write_textfile(self) -> None:
        """Atomic (temp + rename in the same directory); a failure is logged, never raised."""
        if not self.config.textfile:
            return
        try:
            write_to_textfile(self.config.textfile, self.registry)
        except OSError as exc:
            log.warning("metrics.textfile_failed", path=self.config.textfile, error=str(exc))

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
