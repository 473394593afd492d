"""Progress of a run: a bar per stage on a terminal; with no terminal (cron, a pipe, a CI log) or
with JSON output, a log line every few seconds instead, never one per row."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from dotsync.errors import ConfigError
from dotsync.logs import PROGRESS_LOGGER

if TYPE_CHECKING:
    from dotsync.runner import ProgressFn

STAGES = {
    "connect": "Connecting",
    "resume": "Resuming imports",
    "read": "Reading segments",
    "validate": "Validating",
    "read book": "Reading the address book",
    "read book changes": "Reading the address book's changes",
    "send": "Sending contacts",
    "remove": "Removing leavers",
    "unsubscribe": "Unsubscribing leavers",
}
EVERY_ENV = "DOTSYNC_PROGRESS_SECONDS"
DEFAULT_EVERY = 5.0


def stage_label(stage: str) -> str:
    return STAGES.get(stage, stage)


def progress_interval() -> float:
    """Seconds between progress lines in the log: ``DOTSYNC_PROGRESS_SECONDS``, default 5."""
    raw = os.environ.get(EVERY_ENV, "").strip()
    if not raw:
        return DEFAULT_EVERY
    try:
        every = float(raw)
    except ValueError:
        every = 0.0
    if every <= 0:
        raise ConfigError(f"{EVERY_ENV} must be a positive number of seconds, not {raw!r}")
    return every


@contextmanager
def run_progress(*, bar: bool, console: Console, export: str | None = None) -> Iterator[ProgressFn]:
    """``bar``: rich bars on ``console`` (a terminal); otherwise a :class:`ProgressLog`."""
    if bar:
        with _bars(console) as update:
            yield update
        return
    with ProgressLog(progress_interval(), export=export) as ticker:
        yield ticker.update


@contextmanager
def _bars(console: Console) -> Iterator[ProgressFn]:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        yield StageBars(progress).update


class StageBars:
    """One bar per stage. Stages run one after another, so a new stage means the earlier ones are
    over: their bars complete then, those that report only their start (one query, one
    resumed import) included."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def update(self, stage: str, done: int, total: int) -> None:
        if stage not in self.tasks:
            for task_id in self.tasks.values():
                self._complete(task_id)
            self.tasks[stage] = self.progress.add_task(stage_label(stage), total=total or None)
        self.progress.update(self.tasks[stage], completed=done, total=total or None)

    def _complete(self, task_id: TaskID) -> None:
        task = next(t for t in self.progress.tasks if t.id == task_id)
        total = task.total or 1
        self.progress.update(task_id, total=total, completed=total)


class ProgressLog:
    """Writes where a run stands to the ``dotsync.progress`` logger every ``every`` seconds, from
    a thread of its own: a stage that waits (an import DotDigital is still processing) still shows
    the run is alive. Nothing is written for a run shorter than ``every``."""

    def __init__(
        self,
        every: float,
        *,
        export: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger | None = None,
    ) -> None:
        self.every = every
        self.export = export
        self._clock = clock
        self._log = logger or logging.getLogger(PROGRESS_LOGGER)
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = clock()
        self._state: tuple[str, int, int] | None = None

    def update(self, stage: str, done: int, total: int) -> None:
        with self._lock:
            self._state = (stage, done, total)

    def write(self) -> None:
        """One line for where the run stands now (called by the thread, or directly)."""
        with self._lock:
            state = self._state
        if state is None:
            return
        stage, done, total = state
        elapsed = self._clock() - self._started
        share = f" ({done / total:.0%})" if total > 1 else ""
        amount = f"{done:,}/{total:,}{share}" if total > 1 else ("done" if done else "running")
        prefix = f"export {self.export}: " if self.export else ""
        self._log.info(
            "%s%s %s, %.0fs",
            prefix,
            stage_label(stage).lower(),
            amount,
            elapsed,
            extra={
                "event": "progress",
                "export": self.export,
                "stage": stage,
                "done": done,
                "total": total,
                "elapsed_seconds": round(elapsed, 1),
            },
        )

    def _loop(self) -> None:
        while not self._stopped.wait(self.every):
            self.write()

    def __enter__(self) -> ProgressLog:
        self._started = self._clock()
        self._thread = threading.Thread(target=self._loop, name="progress-log", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
