"""dotsync: keep DotDigital address books in sync with customer segments.

The Python API: :func:`run_export`, :func:`plan_export`, :func:`load_config`, the typed
:class:`RunResult` and :class:`DryRun`, and the error tree rooted at :class:`DotsyncError` (see
``dotsync.api`` and the README's "Python API reference"). Paths are ``str`` or ``Path``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dotsync.errors import (
    ConfigError,
    ConnectionCheckError,
    DotDigitalError,
    DotsyncError,
    ExitCode,
    InterruptedRunError,
    LimitExceededError,
    RunInProgressError,
    SourceError,
    TransientError,
)
from dotsync.result import RunCounts, RunResult, RunStatus

if TYPE_CHECKING:
    from dotsync.api import plan_export, pull_export, run_export, verify_export
    from dotsync.config import Config, load_config
    from dotsync.pull import PullReport
    from dotsync.runner import DryRun
    from dotsync.verify import VerifyReport

__version__ = "0.1.0"

_LAZY = {
    "run_export": "dotsync.api",
    "plan_export": "dotsync.api",
    "load_config": "dotsync.config",
    "Config": "dotsync.config",
    "DryRun": "dotsync.runner",
    "verify_export": "dotsync.api",
    "VerifyReport": "dotsync.verify",
    "pull_export": "dotsync.api",
    "PullReport": "dotsync.pull",
}


def __getattr__(name: str) -> Any:
    """The heavy parts (DuckDB, httpx) load on first use, so ``import dotsync`` stays cheap."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dotsync' has no attribute {name!r}")


__all__ = [
    "Config",
    "ConfigError",
    "ConnectionCheckError",
    "DotDigitalError",
    "DotsyncError",
    "DryRun",
    "ExitCode",
    "InterruptedRunError",
    "LimitExceededError",
    "PullReport",
    "RunCounts",
    "RunInProgressError",
    "RunResult",
    "RunStatus",
    "SourceError",
    "TransientError",
    "VerifyReport",
    "load_config",
    "plan_export",
    "pull_export",
    "run_export",
    "verify_export",
]
