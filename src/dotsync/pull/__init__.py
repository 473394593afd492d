"""``dotsync pull``: DotDigital's unsubscribes, bounces and suppressions (and resubscriptions)
back into the database or files where the segments are computed, one current row per profile key.

The pure core: ``feeds`` (which feeds, from where, the call budget), ``statuses`` (which report
wins), ``keys`` (feed entries to profile keys, in DuckDB). The I/O: ``puller`` (DotDigital, the
state), ``destination`` (the table or the Parquet file).
"""

from __future__ import annotations

from dotsync.config import Config
from dotsync.pull.puller import pull_export
from dotsync.pull.report import FeedRead, PullCounts, PullOutcome, PullReport
from dotsync.pull.statuses import PullStatus, Scope
from dotsync.state import StateStore


def last_pulls(config: Config) -> dict[str, PullReport]:
    """The last finished pull of each export that has one, from the state (for dashboards:
    the console, ``/metrics``). A failed pull has no counts: its report says only the error."""
    with StateStore(config.state.url) as store:
        return last_pull_reports(store)


def last_pull_reports(store: StateStore) -> dict[str, PullReport]:
    """``last_pulls`` from a state already open."""
    reports: dict[str, PullReport] = {}
    for export, record in sorted(store.pulls.last_pulls().items()):
        if record.report is not None:
            reports[export] = PullReport.model_validate_json(record.report)
        else:
            reports[export] = PullReport(
                pull_id=record.pull_id,
                export=export,
                address_book_id=record.address_book_id,
                status=PullOutcome(record.status),
                started_at=record.started_at,
                finished_at=record.finished_at,
                error=record.error,
            )
    return reports


__all__ = [
    "FeedRead",
    "PullCounts",
    "PullOutcome",
    "PullReport",
    "PullStatus",
    "Scope",
    "last_pull_reports",
    "last_pulls",
    "pull_export",
]
