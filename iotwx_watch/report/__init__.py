"""What operators see: ``health`` judges the state, ``metrics`` exports it for
Prometheus, ``notify`` delivers messages to sinks. Reporting reads the state and never
drives it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from iotwx_watch import lazy_face

if TYPE_CHECKING:
    from iotwx_watch.report.health import Health, Problem, deployment_health
    from iotwx_watch.report.metrics import MetricsExporter
    from iotwx_watch.report.notify import Notification, Notifier

_HOMES = {
    "Health": "health",
    "Problem": "health",
    "deployment_health": "health",
    "MetricsExporter": "metrics",
    "Notification": "notify",
    "Notifier": "notify",
}
__all__ = [
    "Health",
    "MetricsExporter",
    "Notification",
    "Notifier",
    "Problem",
    "deployment_health",
]
__getattr__ = lazy_face(__name__, _HOMES)
