"""docs/alerts.yml and docs/grafana-dashboard.json against the code: the rules are valid
Prometheus rules that fire when they should (promtool, when installed), and every metric
they name is one the exporter really writes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from iotwx_watch.config import Config, MetricsConfig, NotifyConfig, SuiteConfig
from iotwx_watch.engine.port import CallRecord
from iotwx_watch.report.findings import SourceObservation
from iotwx_watch.report.health import assess
from iotwx_watch.report.metrics import MetricsExporter, Snapshot, SourceCounters
from iotwx_watch.state.model import BlockedIpEntry, SinkRecord, State, TicketEntry

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "docs" / "alerts.yml"
DASHBOARD = ROOT / "docs" / "grafana-dashboard.json"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (Debian: apt-get install prometheus)")
NOW = 1_800_000_000.0


def exported_names() -> set[str]:
    """Every sample name the exporter writes for a deployment with one of everything."""
    state = State()
    state.suite("dkA").suite_ticket = TicketEntry("t", int(NOW - 60), NOW - 60)
    state.blocked_ips["1.2.3.4"] = BlockedIpEntry("provider", NOW - 10, NOW - 5)
    state.notifications.sinks["oncall"] = SinkRecord(delivered=1)
    config = Config(suites=(SuiteConfig("dkA"),),
                    notify=(NotifyConfig("webhook", "https://x", name="oncall"),))
    source = SourceObservation("/logs/receive.log", "callback", True, 10, NOW, 10)
    exporter = MetricsExporter(MetricsConfig())
    exporter.record_call(CallRecord("get_suite_token", 0, 0.2, 200))
    counters = SourceCounters("/logs/receive.log", "callback", {"events.suite_ticket": 1,
                                                                "rejects.bad_signature": 1}, {})
    exporter.update(Snapshot(assess(state, now=NOW, config=config, sources=[source]),
                             (counters,), NOW, 1, {"/logs/receive.log": NOW}))
    text = generate_latest(exporter.registry).decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines()
            if line and not line.startswith("#")}


def named_in(text: str) -> set[str]:
    return set(re.findall(r"\b(iotwx_watch_[a-z_]+)", text))


@pytest.mark.parametrize("path", [RULES, DASHBOARD], ids=["alerts.yml", "dashboard"])
def test_every_metric_named_is_exported(path: Path) -> None:
    """A rule or panel on a metric the code does not write would never fire or show."""
    assert set() == named_in(path.read_text(encoding="utf-8")) - exported_names()


def test_dashboard_is_grafana_json_with_the_main_panels() -> None:
    """The dashboard parses, every panel has a query, and the main questions have a panel."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    titles = [p["title"] for p in dashboard["panels"]]
    assert all(p["targets"] for p in dashboard["panels"])
    assert {"Health", "suite_ticket age", "Auth codes by status", "Notifications waiting",
            "Log lag (bytes not read yet)"} <= set(titles)


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    """`promtool check rules docs/alerts.yml` succeeds."""
    assert PROMTOOL is not None
    done = subprocess.run([PROMTOOL, "check", "rules", str(RULES)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert 0 == done.returncode, done.stdout + done.stderr


RULE_TESTS = """
rule_files: [{rules}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'iotwx_watch_ticket_age_seconds{{suite_id="dkA",instance="cb"}}'
        values: '1500x10'
      - series: 'iotwx_watch_ips_to_whitelist{{whitelist="provider",instance="cb"}}'
        values: '0 0 1x10'
      - series: 'iotwx_watch_notifications_total{{sink="oncall",outcome="expired",instance="cb"}}'
        values: '0 0 1x10'
      - series: 'iotwx_watch_last_batch_timestamp_seconds{{instance="cb"}}'
        values: '0x20'
    alert_rule_test:
      - eval_time: 5m
        alertname: IotwxWatchTicketStale
        exp_alerts:
          - exp_labels: {{severity: warning, suite_id: dkA, instance: cb}}
            exp_annotations:
              summary: "The suite_ticket of dkA is over 20 minutes old"
              description: "WeCom pushes one every 10 minutes. Check the callback server; \
刷新Ticket in the template's 回调配置 pushes one now."
      - eval_time: 5m
        alertname: IotwxWatchProviderIpRefused
        exp_alerts:
          - exp_labels: {{severity: critical, whitelist: provider, instance: cb}}
            exp_annotations:
              summary: "WeCom refuses iotwx-watch's own address (60020)"
              description: "Add it at 服务商管理后台 → 服务商信息 → 基本信息 → IP白名单; \
`iotwx-watch status` shows the address."
      - eval_time: 1m
        alertname: IotwxWatchProviderIpRefused
        exp_alerts: []
      - eval_time: 10m
        alertname: IotwxWatchNotRunning
        exp_alerts:
          - exp_labels: {{severity: critical, instance: cb}}
            exp_annotations:
              summary: "iotwx-watch on cb has not run a batch for 5 minutes"
              description: "Auth codes (valid 10 minutes) are not being redeemed. Check \
`systemctl status iotwx-watch` (or the timer: `systemctl list-timers iotwx-watch-once`) \
and `journalctl -u iotwx-watch`."
"""


@needs_promtool
def test_rules_fire_when_they_should(tmp_path: Path) -> None:
    """`promtool test rules`: a stale ticket, a refused provider address and a daemon that
    stopped batching fire their alerts (and not before)."""
    assert PROMTOOL is not None
    tests = tmp_path / "tests.yml"
    tests.write_text(RULE_TESTS.format(rules=RULES), encoding="utf-8")
    done = subprocess.run([PROMTOOL, "test", "rules", str(tests)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert 0 == done.returncode, done.stdout + done.stderr
