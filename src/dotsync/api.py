"""The Python API for orchestrators (Airflow, Dagster, Prefect, plain scripts).

    import dotsync
    result = dotsync.run_export("dotsync.toml", "newsletter")   # -> dotsync.RunResult
    print(result.status, result.counts.sent)

Every function takes the configuration as a path (``str`` or ``Path``) or as a :class:`Config`
already loaded with :func:`load_config`. Errors are :class:`dotsync.DotsyncError` subclasses,
grouped by what to do about them (``ConfigError``: fix the configuration;
``ConnectionCheckError``: fix the connection; ``SourceError``: fix the data or a segment query;
``TransientError``: retry later, nothing is lost; ``RunInProgressError``: another run holds the
lock; ``LimitExceededError``: the export is over ``max_profiles``; ``InterruptedRunError``: stopped
on request, the next run resumes); each has ``exit_code``. The README's "Python API reference"
lists them with their signatures.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from dotsync.config import Config, load_config
from dotsync.connect import explain_refusal
from dotsync.result import RunResult
from dotsync.runner import DryRun
from dotsync.runner import plan_export as _plan_export
from dotsync.runner import run_export as _run_export
from dotsync.verify import VerifyReport

if TYPE_CHECKING:
    from dotsync.pull import PullReport

ConfigSource = Config | str | Path
"""A loaded :class:`Config`, or the path of a ``dotsync.toml`` (``str`` or ``Path``)."""

Progress = Callable[[str, int, int], None]
"""Called as ``progress(stage, done, total)`` while a run advances (``stage`` is e.g. "send")."""


def _config(config: ConfigSource) -> Config:
    return config if isinstance(config, Config) else load_config(config)


def run_export(
    config: ConfigSource,
    name: str,
    *,
    full: bool = False,
    stop: threading.Event | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Run the export ``name`` once: only changes are sent, leavers leave; ``full`` resends every
    member. Setting ``stop`` (from another thread) ends the run at its next checkpoint and raises
    :class:`dotsync.InterruptedRunError`; the next run resumes. A run with rejected rows returns
    normally, with status ``partial`` and the counts in ``result.counts``.

    Raises a :class:`dotsync.DotsyncError` subclass when the run cannot finish (the run is
    recorded as failed and the next one resumes)."""
    loaded = _config(config)
    with _explained(loaded, name):
        return _run_export(loaded, name, full=full, stop=stop, progress=progress)


def plan_export(config: ConfigSource, name: str, *, full: bool = False) -> DryRun:
    """What a run of the export ``name`` would do (enter, change, leave, reject, with samples),
    reading DotDigital but writing nothing anywhere. Raises like :func:`run_export`."""
    loaded = _config(config)
    with _explained(loaded, name):
        return _plan_export(loaded, name, full=full)


def verify_export(
    config: ConfigSource,
    name: str,
    *,
    repair: bool = False,
    stop: threading.Event | None = None,
    progress: Progress | None = None,
) -> VerifyReport:
    """Compare the export's address book with what dotsync recorded (``report.counts``: missing,
    unknown, unsubscribed, suppressed; ``report.status``: clean, drift or repaired). ``repair``
    sends back the missing still in the segments and records the refusals. Raises like
    :func:`run_export`; drift is not an error."""
    from dotsync.verifier import verify_export as _verify_export

    loaded = _config(config)
    with _explained(loaded, name):
        return _verify_export(loaded, name, repair=repair, stop=stop, progress=progress)


def pull_export(
    config: ConfigSource, name: str, *, stop: threading.Event | None = None
) -> PullReport:
    """Bring back, since the last pull, the export's contacts that unsubscribed, bounced or were
    suppressed in DotDigital (and those who came back), into the table or Parquet file of
    ``[pull]`` (``report.counts.written``: rows by status). Raises like :func:`run_export`;
    nothing read is lost when it does (the next pull reads it again)."""
    from dotsync.pull import pull_export as _pull_export

    loaded = _config(config)
    with _explained(loaded, name):
        return _pull_export(loaded, name, stop=stop)


def _explained(config: Config, name: str) -> AbstractContextManager[None]:
    """DotDigital's refusal of the credentials, told as the commands tell it: naming the
    connection's key, its API user and where the password came from."""
    key = config.find_export(name).connection
    return explain_refusal(key, config.connections[key])
