"""``dotsync serve``: scheduled runs, ``/healthz`` and ``/metrics``, webhook alerts.

The parts take plain values (``Scheduler``, ``Service`` with an injected run function,
``MetricsRegistry``, ``AlertManager``, ``OpsServer``); :mod:`dotsync.serve.app` builds them from
the configuration.
"""

from __future__ import annotations

from dotsync.serve.alerts import (
    Alert,
    AlertManager,
    AlertPolicy,
    ExportAlertState,
    Problem,
    evaluate,
)
from dotsync.serve.metrics import MetricsRegistry
from dotsync.serve.ops_server import OpsServer
from dotsync.serve.outcome import RunOutcome
from dotsync.serve.service import RunFunction, Service

__all__ = [
    "Alert",
    "AlertManager",
    "AlertPolicy",
    "ExportAlertState",
    "MetricsRegistry",
    "OpsServer",
    "Problem",
    "RunFunction",
    "RunOutcome",
    "Service",
    "evaluate",
]
