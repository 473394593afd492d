"""One run the service starts: which export, on which account's lane, for whom, and its own stop
event (set by a stop of the service or a cancel from the console)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

from dotsync.scheduler import AccountKey
from dotsync.serve.workers import Tick

SCHEDULER = "scheduler"  # who started a scheduled run, as recorded on the run


@dataclass(frozen=True)
class LiveRun:
    """A run going on in this process: who started it, when, and who asked to cancel it. (Where
    it stands is in its run folder's live.json, written by the runner: see ``dotsync.live``.)"""

    export: str
    started_by: str
    started_at: datetime | None
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
    tick: Tick | None = None  # the due tick it runs, claimed in the shared state (several workers)

    def cancel(self, by: str, request_id: int) -> None:
        self.cancelled_by, self.cancel_request_id = by, request_id
        self.stop.set()

    def live(self) -> LiveRun:
        return LiveRun(self.name, self.started_by, self.started_at, self.cancelled_by)
