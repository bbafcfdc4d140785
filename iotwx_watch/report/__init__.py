"""What operators see: ``health`` judges the state, ``metrics`` exports it for
Prometheus, ``notify`` delivers messages to sinks. Reporting reads the state and never
drives it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from iotwx_watch import lazy_face

if TYPE_CHECKING:
    from iotwx_watch.report.health import HealthReport, Problem, assess_deployment
    from iotwx_watch.report.metrics import MetricsExporter
    from iotwx_watch.report.notify import Notification, NotificationFanout

_HOMES = {
    "HealthReport": "health",
    "Problem": "health",
    "assess_deployment": "health",
    "MetricsExporter": "metrics",
    "Notification": "notify",
    "NotificationFanout": "notify",
}
__all__ = [
    "HealthReport",
    "MetricsExporter",
    "Notification",
    "NotificationFanout",
    "Problem",
    "assess_deployment",
]
__getattr__ = lazy_face(__name__, _HOMES)
