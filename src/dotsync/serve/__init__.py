"""``dotsync serve``: scheduled and requested runs, webhook alerts, and the HTTP app (the console,
``/healthz`` and ``/metrics``: :mod:`dotsync.console`) under uvicorn.

The parts take plain values (``Scheduler``, ``Service`` with an injected run function,
``MetricsRegistry``, ``AlertManager``); :mod:`dotsync.serve.app` builds them from the
configuration, :mod:`dotsync.serve.server` runs the HTTP side.
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
from dotsync.serve.outcome import RunOutcome
from dotsync.serve.service import RunFunction, Service

__all__ = [
    "Alert",
    "AlertManager",
    "AlertPolicy",
    "ExportAlertState",
    "MetricsRegistry",
    "Problem",
    "RunFunction",
    "RunOutcome",
    "Service",
    "evaluate",
]
