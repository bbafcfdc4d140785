"""Prometheus metrics: a node_exporter textfile after every batch, and an optional listener.

Gauges come from the health model (the same judgement `status` prints), counters from
the readers' and followers' own counters and from the state (notifications, so a timer's
`once` passes add up), and WeCom calls from the client's ``on_call`` hook. Everything is
collected from a snapshot taken after each batch, so the listener thread never touches
the runner's live objects. ``_created`` series are off: they are noise for alerting.

The listener is optional: one that cannot bind is logged, kept as a problem (the run
layer writes it into the state) and retried, never a reason to stop redeeming codes.
The textfile is written atomically with mode 0644, whatever the umask, so node_exporter
(another user) can read it.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import start_http_server

from iotwx_watch.config import Config, MetricsConfig, SourceConfig, parse_listen
from iotwx_watch.engine.port import CallRecord
from iotwx_watch.log import get_logger
from iotwx_watch.report.health import HealthReport, assess_deployment
from iotwx_watch.report.metric_families import (
    PREFIX,
    SourceCounters,
    health_families,
    notification_families,
    position_families,
    source_families,
)
from iotwx_watch.state.model import State
from iotwx_watch.state.store import write_atomically

__all__ = ["MetricsExporter", "RunnerView", "Snapshot", "SourceCounters", "probe_listen",
           "snapshot_of", "write_textfile"]

log = get_logger("metrics")
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LISTEN_RETRY_S = 30.0
TEXTFILE_MODE = 0o644


class _HasStats(Protocol):
    @property
    def stats(self) -> Counter[str]: ...

    @property
    def read_problem(self) -> tuple[str, int | None] | None: ...


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
class Snapshot:
    """What one batch left behind, as the metrics show it."""

    health: HealthReport
    sources: tuple[SourceCounters, ...] = ()
    last_batch_at: float | None = None
    batches: int = 0
    last_read: Mapping[str, float] | None = None  # path → last read without an error


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
        yield from source_families(snap.sources)
        yield from position_families(snap.health, snap.last_read or {})
        yield from health_families(snap.health)
        yield from notification_families(snap.health)
        batch = GaugeMetricFamily(f"{PREFIX}_last_batch_timestamp_seconds",
                                  "When the last batch finished (epoch s).", labels=[])
        if snap.last_batch_at is not None:
            batch.add_metric([], snap.last_batch_at)
        yield batch
        yield CounterMetricFamily(f"{PREFIX}_batches", "Batches run.", value=snap.batches)


class MetricsExporter:
    """Owns the registry, the textfile and the optional HTTP listener. A BatchHook."""

    def __init__(
        self,
        config: MetricsConfig,
        *,
        clock: Callable[[], float] = time.time,
        build_info: Mapping[str, str] | None = None,
    ) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.config = config
        self.clock = clock
        self.registry = CollectorRegistry(auto_describe=False)
        self._collector = _SnapshotCollector()
        self.registry.register(self._collector)
        info = GaugeMetricFamily(f"{PREFIX}_build_info", "Always 1; the labels say what runs.",
                                 labels=["version", "python"])
        info.add_metric([*_build_labels(build_info)], 1.0)
        self.registry.register(_Constant(info))
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
        self._last_read: dict[str, float] = {}
        self.listen_error: str | None = None
        self._retry_at = 0.0

    @property
    def address(self) -> tuple[str, int] | None:
        """Where the listener is bound (the real port when 0 was asked)."""
        if self._server is None:
            return None
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> bool:
        """Start the HTTP listener, if configured; False (and :attr:`listen_error`) when
        it cannot bind, to be retried by :meth:`retry_listen`."""
        if self._listen is None or self._server is not None:
            return self._server is not None
        host, port = self._listen
        try:
            self._server, self._thread = start_http_server(port, host, registry=self.registry)
        except OSError as exc:
            error = f"[metrics] listen {host}:{port} cannot be bound: {exc.strerror or exc}"
            if error != self.listen_error:
                log.error("metrics.listen_failed", host=host, port=port,
                          error=exc.strerror or str(exc), retry_in_s=LISTEN_RETRY_S)
            self.listen_error = error
            self._retry_at = self.clock() + LISTEN_RETRY_S
            return False
        if self.listen_error is not None:
            log.warning("metrics.listen_recovered", host=host, port=port)
        self.listen_error = None
        log.info("metrics.listening", host=host, port=self.address[1] if self.address else port)
        return True

    def retry_listen(self, now: float) -> None:
        """Try a listener that could not bind again, once its retry time has come."""
        if self.listen_error is not None and now >= self._retry_at:
            self.start()

    def record_call(self, record: CallRecord) -> None:
        """The WeCom client's ``on_call`` hook (thread-safe)."""
        self.calls.labels(record.endpoint, str(record.errcode)).inc()
        self.latency.labels(record.endpoint).observe(record.latency_s)

    def update(self, snapshot: Snapshot) -> None:
        """Publish a snapshot and rewrite the textfile."""
        self._collector.set(snapshot)
        self.write_textfile()

    def after_batch(self, runner: RunnerView) -> None:
        now = self.clock()
        snapshot = snapshot_of(runner, now)
        present = {src.source.path for src in snapshot.health.sources if src.source.exists}
        for reader in runner.readers:
            path = reader.config.path
            if reader.follower.read_problem is None and path in present:
                self._last_read[path] = now
        self.update(replace(snapshot, last_read=dict(self._last_read)))

    def write_textfile(self) -> None:
        """Atomic (temp + rename in the same directory), mode 0644; a failure is logged."""
        if not self.config.textfile:
            return
        try:
            write_textfile(self.config.textfile, generate_latest(self.registry))
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


class _Constant:
    """A collector that always yields the same family (build_info)."""

    def __init__(self, family: Metric) -> None:
        self._family = family

    def collect(self) -> Iterator[Metric]:
        yield self._family


def _build_labels(build_info: Mapping[str, str] | None) -> tuple[str, str]:
    info = build_info or {}
    python = ".".join(str(n) for n in sys.version_info[:3])
    return info.get("version", "unknown"), info.get("python", python)


def write_textfile(path: str, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically, mode 0644 (readable by node_exporter)."""
    write_atomically(path, data, mode=TEXTFILE_MODE)


def probe_listen(listen: str) -> str | None:
    """Whether ``[metrics] listen`` can be bound now: None, or why not (check-config)."""
    host, port = parse_listen(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as exc:
        return exc.strerror or str(exc)
    return None
