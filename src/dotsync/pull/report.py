"""What a pull did: counts, each feed read and its cost. Stored as JSON in the state (``pulls``),
printed by ``dotsync pull``, read by ``/metrics`` and the console. Holds no e-mail address and
no profile key."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from dotsync.pull.statuses import PullStatus


class PullOutcome(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    SKIPPED = "skipped"  # nothing to pull yet (the export never ran): nothing read or written
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # stopped (a signal, or killed): nothing written, read again next


class FeedRead(BaseModel):
    """One feed's read in this pull."""

    model_config = ConfigDict(frozen=True)

    name: str
    endpoint: str
    purpose: str
    read: bool = True  # False: not needed this time (the account's changes: nobody to check)
    since: datetime | None = None  # the {date} sent
    skip: int = 0  # where the read started (a pass going on from an earlier pull)
    items: int = 0
    calls: int = 0
    complete: bool = True  # False: the budget ran out; the next pull goes on from here


def _by_status() -> dict[str, int]:
    return {str(status): 0 for status in PullStatus}


class PullCounts(BaseModel):
    model_config = ConfigDict(frozen=True)

    entries: int = 0  # entries the status feeds returned (an overlap read again included)
    contacts_checked: int = 0  # contacts of the account's changes read for resubscriptions
    written: dict[str, int] = Field(default_factory=_by_status)  # rows written, by status
    unchanged: int = 0  # keys whose status the table already held
    unknown_contacts: int = 0  # contacts no key of the export names: counted, never written

    @property
    def rows_written(self) -> int:
        return sum(self.written.values())


class PullReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    pull_id: int
    export: str
    address_book_id: int
    account_id: str | None = None
    status: PullOutcome
    started_at: datetime
    finished_at: datetime | None = None
    destination: str = ""  # the table or file the rows went to
    budget: int = 0
    api_calls: int = 0
    api_calls_by_endpoint: dict[str, int] = Field(default_factory=dict)
    feeds: list[FeedRead] = Field(default_factory=list)
    counts: PullCounts = Field(default_factory=PullCounts)
    note: str | None = None
    error: str | None = None

    @property
    def complete(self) -> bool:
        return all(feed.complete for feed in self.feeds)
