"""The metric families built from one batch's snapshot: per log, per suite, per sink,
and the health model's verdict. Names are ``iotwx_watch_<name>``; counters get their
``_total`` sample from prometheus_client. README's "Metrics" table lists them all, and
docs/alerts.yml alerts on them (a test checks that every name there is written here).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from iotwx_watch.report.findings import LEVEL_RANK, HealthReport

PREFIX = "iotwx_watch"


@dataclass(frozen=True)
class SourceCounters:
    path: str
    kind: str
    extractor: Mapping[str, int]
    follower: Mapping[str, int]



def _gauge(name: str, documentation: str, *labels: str) -> GaugeMetricFamily:
    """A gauge family named ``iotwx_watch_<name>``."""
    return GaugeMetricFamily(f"{PREFIX}_{name}", documentation, labels=list(labels))


def _counter(name: str, documentation: str, *labels: str) -> CounterMetricFamily:
    """A counter family named ``iotwx_watch_<name>`` (exposed with a ``_total`` sample)."""
    return CounterMetricFamily(f"{PREFIX}_{name}", documentation, labels=list(labels))


def source_families(sources: Sequence[SourceCounters]) -> Iterator[Metric]:
    src_labels = ("path", "kind")
    read = _counter("source_bytes_read", "Bytes read per log.", *src_labels)
    records = _counter("source_records", "Candidate records seen per log.", *src_labels)
    events = _counter("events", "Events extracted per log and type.", *src_labels, "type")
    rejects = _counter("rejects", "Records rejected, per reason.", *src_labels, "reason")
    skipped = _counter("skipped", "Records skipped, per reason.", *src_labels, "reason")
    unrecognized = _counter(
        "unrecognized_records",
        "Records that looked like a callback or a 60020 line but gave no event, per reason.",
        *src_labels, "reason",
    )
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
            family = {"events": events, "rejects": rejects, "skipped": skipped,
                      "unrecognized": unrecognized}.get(kind)
            if family is not None and name:
                family.add_metric([*base, name], value)
        for event in ("rotations", "truncations", "gaps"):
            follow.add_metric([*base, event], src.follower.get(event, 0))
        for key, value in sorted(src.follower.items()):
            if key not in ("rotations", "truncations", "gaps", "bytes_read"):
                follow.add_metric([*base, key], value)
    yield from (read, records, events, rejects, skipped, unrecognized, follow)


def position_families(h: HealthReport, last_read: Mapping[str, float]) -> Iterator[Metric]:
    """Per log: size, saved offset, lag and when it was last read: a stopped reader shows."""
    labels = ("path", "kind")
    size = _gauge("source_size_bytes", "Size of the log file now.", *labels)
    offset = _gauge("source_offset_bytes", "Saved read position in the log.", *labels)
    lag = _gauge("source_lag_bytes", "Bytes of the log not read yet (size - offset).", *labels)
    readable = _gauge("source_readable", "0 while the daemon cannot read the log.", *labels)
    read_at = _gauge("source_last_read_timestamp_seconds",
                     "When the log was last read without an error (epoch s).", *labels)
    for src in h.sources:
        o = src.source
        base = [o.path, o.kind]
        if o.size is not None:
            size.add_metric(base, o.size)
        if o.offset is not None:
            offset.add_metric(base, o.offset)
        if o.size is not None:
            behind = o.size - (o.offset or 0) if o.same_file else o.size
            lag.add_metric(base, max(0, behind))
        readable.add_metric(base, 0.0 if o.read_error is not None else 1.0)
        if o.path in last_read:
            read_at.add_metric(base, last_read[o.path])
    yield from (size, offset, lag, readable, read_at)


def notification_families(h: HealthReport) -> Iterator[Metric]:
    """Per sink, from the state: so a timer's `once` passes count up like one daemon."""
    waiting = _gauge("notifications_waiting", "Messages in the outbox, per sink.", "sink")
    oldest = _gauge("notifications_oldest_waiting_seconds",
                    "Age of the oldest undelivered message, per sink.", "sink")
    done = _counter("notifications", "Messages per sink and outcome (delivered, "
                    "probably_delivered: the answer timed out, expired: given up).",
                    "sink", "outcome")
    failures = _counter("notification_failed_attempts", "Posts that failed, per sink.", "sink")
    for s in h.sinks:
        waiting.add_metric([s.name], s.waiting)
        oldest.add_metric([s.name], h.now - s.oldest_at if s.oldest_at is not None else 0.0)
        for outcome, n in (("delivered", s.delivered),
                           ("probably_delivered", s.probably_delivered), ("expired", s.expired)):
            done.add_metric([s.name, outcome], n)
        failures.add_metric([s.name], s.failed_attempts)
    yield from (waiting, oldest, done, failures)


def health_families(h: HealthReport) -> Iterator[Metric]:
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
    written = _gauge("state_write_ok", "1 while the state is written (file or Redis); 0 while "
                     "writes fail and are retried (what was read waits in memory).")
    written.add_metric([], 0.0 if any(p.code == "state_unwritable" for p in h.problems) else 1.0)
    yield from (ticket_age, ticket_ok, token, corps, codes, blocked, waiting, source_up, level,
                problems, written)
