"""The typed outcome of one export run, returned by :func:`dotsync.run_export`."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"  # every member confirmed by DotDigital, no row rejected
    PARTIAL = "partial"  # succeeded, but some rows were rejected or suppressed (see counts)
    FAILED = "failed"  # stopped by an error; the next run resumes where it stopped
    INTERRUPTED = "interrupted"  # stopped by a signal at a checkpoint; the next run resumes
    DRY_RUN = "dry_run"  # planned only, nothing written


PARTIAL_LEGEND = (
    "partial: finished, but some rows were rejected or suppressed; the other members are in the "
    "address book (`dotsync show-run RUN` says how many and why)"
)


class RunCounts(BaseModel):
    """What a run did, in numbers. Every field is a count of profiles (not of API calls)."""

    model_config = ConfigDict(frozen=True)

    profiles_in_segments: int = 0  # distinct profiles in the selected segments
    segment_sizes: dict[str, int] = Field(default_factory=dict)
    valid: int = 0  # mapped and validated, eligible to be members
    rejected: int = 0  # rows refused by validation before anything was sent
    rejected_by_reason: dict[str, int] = Field(default_factory=dict)
    entered: int = 0  # planned: new members
    changed: int = 0  # planned: values differ from what DotDigital last confirmed
    unchanged: int = 0  # planned: nothing to send
    left: int = 0  # planned: no longer in any selected segment (or their e-mail changed)
    sent: int = 0  # contacts sent in imports
    created: int = 0  # DotDigital created a new contact
    updated: int = 0  # DotDigital updated an existing contact
    suppressed: int = 0  # not added: unsubscribed, bounced, complained or suppressed
    failed: int = 0  # refused by DotDigital for another reason (see rejected rows)
    removed: int = 0  # taken out of the address book (on_segment_exit = remove)
    unsubscribed: int = 0  # unsubscribed from the address book (on_segment_exit = unsubscribe)
    # Leavers left in the book, by ownership: another export of the book still holds them, or
    # they were in the book before dotsync (found there by a read of the book, not added by it).
    kept_held_by_other_export: int = 0
    kept_found_in_book: int = 0
    suppressed_known: int = 0  # known as suppressed or unsubscribed: not sent again (see --full)
    suppressed_known_by_reason: dict[str, int] = Field(default_factory=dict)
    removed_from_previous_book: int = 0  # --move-book: taken out of the book written before
    book_contacts_read: int = 0  # contacts read from the book (baseline or changes)
    bytes_uploaded: int = 0
    imports: int = 0
    api_calls: int = 0
    api_calls_by_endpoint: dict[str, int] = Field(default_factory=dict)  # "PUT /contacts/v3/import"
    rate_limited_by_endpoint: dict[str, int] = Field(default_factory=dict)  # 429 / APIUSAGE replies
    retries: int = 0  # calls repeated after a transient error or a rate limit


class RunResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    run_id: int
    export: str
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None = None
    counts: RunCounts = Field(default_factory=RunCounts)
    error: str | None = None
    rejects_file: Path | None = None
    resumed_imports: int = 0  # imports of an interrupted run that this run polled to their end
    started_by: str | None = None  # "scheduler", a console user's name; none from the command line

    @property
    def status_note(self) -> str | None:
        """One line explaining a ``partial`` status, to print wherever the status is shown."""
        if self.status is not RunStatus.PARTIAL:
            return None
        c = self.counts
        parts = [
            f"{_rows(c.rejected)} rejected before sending (each with its key and reason in the "
            "rejected rows file)"
            if c.rejected
            else "",
            f"{_rows(c.failed)} refused by DotDigital" if c.failed else "",
            f"{_rows(c.suppressed)} not added: suppressed contacts (unsubscribed, bounced)"
            if c.suppressed
            else "",
        ]
        said = ", ".join(part for part in parts if part)
        return f"partial: finished, but {said}; the other members are in the address book"

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


def _rows(count: int) -> str:
    return f"{count:,} row was" if count == 1 else f"{count:,} rows were"
