"""The Python API for orchestrators (Airflow, Dagster, Prefect, plain scripts).

    import dotsync
    result = dotsync.run_export("dotsync.toml", "newsletter")   # -> dotsync.RunResult
    print(result.status, result.counts.sent)

Errors are :class:`dotsync.DotsyncError` subclasses, grouped by what to do about them
(``ConfigError``: fix the configuration; ``ConnectionCheckError``: fix the connection;
``TransientError``: retry later, nothing is lost; ``RunInProgressError``: another run holds the
lock; ``LimitExceededError``: the export is over ``max_profiles``); each has ``exit_code``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from dotsync.config import Config, load_config
from dotsync.result import RunResult
from dotsync.runner import DryRun
from dotsync.runner import plan_export as _plan_export
from dotsync.runner import run_export as _run_export


def _config(config: Config | str | Path) -> Config:
    return config if isinstance(config, Config) else load_config(Path(config))


def run_export(
    config: Config | str | Path,
    name: str,
    *,
    full: bool = False,
    stop: threading.Event | None = None,
    **options: Any,
) -> RunResult:
    """Run one export now: only changes are sent, leavers leave. ``config`` is a loaded
    :class:`Config` or the path of a ``dotsync.toml``. Setting ``stop`` ends the run at its next
    checkpoint (it raises :class:`dotsync.InterruptedRunError`; the next run resumes)."""
    return _run_export(_config(config), name, full=full, stop=stop, **options)


def plan_export(config: Config | str | Path, name: str, *, full: bool = False) -> DryRun:
    """What a run would do (enter, change, leave, reject), writing nothing."""
    return _plan_export(_config(config), name, full=full)
