"""One run the service starts: which export, on which account's lane, for whom, and its own stop
event (set by a stop of the service or a cancel from the console)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from dotsync.scheduler import AccountKey

SCHEDULER = "scheduler"  # who started a scheduled run, as recorded on the run
ProgressFn = Callable[[str, int, int], None]  # (stage, done, total), as the runner reports it


@dataclass(frozen=True)
class LiveRun:
    """What a page shows of a run going on."""

    export: str
    started_by: str
    started_at: datetime | None
    stage: str
    done: int
    total: int
    cancelled_by: str | None


@dataclass(eq=False)
class Job:
    name: str
    account_key: AccountKey
    started_by: str = SCHEDULER
    request_id: int | None = None  # the "run now" request it answers
    stop: threading.Event = field(default_factory=threading.Event)
    started_at: datetime | None = None
    cancelled_by: str | None = None
    cancel_request_id: int | None = None
    _progress: tuple[str, int, int] = ("", 0, 0)

    def record_progress(self, stage: str, done: int, total: int) -> None:
        self._progress = (stage, done, total)  # one tuple: readers see a whole value

    def cancel(self, by: str, request_id: int) -> None:
        self.cancelled_by, self.cancel_request_id = by, request_id
        self.stop.set()

    def live(self) -> LiveRun:
        stage, done, total = self._progress
        return LiveRun(
            self.name, self.started_by, self.started_at, stage, done, total, self.cancelled_by
        )
