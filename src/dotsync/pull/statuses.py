"""What a pull writes for each profile key, and which of several reports of one key wins. Pure.

A row says, for one (export, profile key), the contact's status as DotDigital last reported it:

- ``Unsubscribed``: the person unsubscribed, from the whole account (``scope`` account) or from
  the export's address book only (``scope`` book);
- ``Suppressed``: DotDigital will not send to the address (hard bounce, complaint, block, the
  global or a domain's suppression list): ``reason`` says which, in DotDigital's words
  (``HardBounced``, ``IspComplained``, ...);
- ``Subscribed``: the contact came back (resubscribed) after an earlier row said otherwise.

One current row per key: a newer report replaces it, an older one read again (the feeds are read
with an overlap) changes nothing, and a report equal to the row changes nothing either, so a
second pull writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum


class PullStatus(StrEnum):
    SUBSCRIBED = "Subscribed"
    UNSUBSCRIBED = "Unsubscribed"
    SUPPRESSED = "Suppressed"


class Scope(StrEnum):
    ACCOUNT = "account"  # every book of the account
    BOOK = "book"  # the export's address book only


# The reason of a row that says a contact is subscribed again (no feed reports it: a read of the
# account's changes finds the contact subscribed, and in the book when it had left the book only).
RESUBSCRIBED = "Resubscribed"

# Reports of one key at the same moment: the most restrictive wins, the account's before the book's.
_WEIGHT = {PullStatus.SUPPRESSED: 2, PullStatus.UNSUBSCRIBED: 1, PullStatus.SUBSCRIBED: 0}


def status_of(reason: str | None) -> PullStatus:
    """The row's status for one of DotDigital's contact statuses (``ApiContactStatuses``), as a
    feed gives it in ``reason``."""
    text = (reason or "").strip().lower()
    if text == "unsubscribed":
        return PullStatus.UNSUBSCRIBED
    if text == "subscribed":
        return PullStatus.SUBSCRIBED
    return PullStatus.SUPPRESSED


def is_subscribed(contact_status: str | None) -> bool:
    """A contact DotDigital sends to again. ``PendingOptIn`` (a resubscription waiting for its
    double opt-in) is not yet."""
    return (contact_status or "").strip().lower() == "subscribed"


@dataclass(frozen=True)
class StatusChange:
    """One report of a key's status (or a row of the table, read back)."""

    key: str
    status: PullStatus
    reason: str
    scope: Scope
    changed_at: datetime  # when it happened, in DotDigital's clock

    @property
    def _order(self) -> tuple[datetime, int, int]:
        return (self.changed_at, _WEIGHT[self.status], self.scope == Scope.ACCOUNT)

    def same_as(self, other: StatusChange) -> bool:
        return (self.status, self.reason, self.scope) == (other.status, other.reason, other.scope)


@dataclass(frozen=True)
class Resolution:
    changes: list[StatusChange] = field(default_factory=list)  # rows to write
    unchanged: int = 0  # keys whose reports the table already says (or said later)

    def written(self) -> dict[str, int]:
        counts = {str(status): 0 for status in PullStatus}
        for change in self.changes:
            counts[str(change.status)] += 1
        return counts


def latest(reports: Iterable[StatusChange]) -> dict[str, StatusChange]:
    """The newest report of each key (ties: the most restrictive, the account's first)."""
    newest: dict[str, StatusChange] = {}
    for report in reports:
        known = newest.get(report.key)
        if known is None or report._order > known._order:
            newest[report.key] = report
    return newest


@dataclass(frozen=True)
class Risk:
    """A key a resubscription would concern: what it left (``scope``, from its newest report
    saying so) and since when (the earliest such report: a resubscription before it would be
    older than every report it could undo)."""

    since: datetime
    scope: Scope


def at_risk(
    current: Mapping[str, StatusChange], reports: Iterable[StatusChange]
) -> dict[str, Risk]:
    """Keys the table or this pull's reports say are not subscribed."""
    refused = [r for r in (*current.values(), *reports) if r.status is not PullStatus.SUBSCRIBED]
    newest = latest(refused)
    earliest: dict[str, datetime] = {}
    for report in refused:
        known = earliest.get(report.key)
        if known is None or report.changed_at < known:
            earliest[report.key] = report.changed_at
    return {key: Risk(since, newest[key].scope) for key, since in earliest.items()}


def resolve(reports: Iterable[StatusChange], current: Mapping[str, StatusChange]) -> Resolution:
    """The rows to write: for each key, its newest report, unless the table already says it, or
    says something newer (an older report read again), or the key was never anything but
    subscribed (nothing to undo)."""
    changes: list[StatusChange] = []
    unchanged = 0
    for key, report in sorted(latest(reports).items()):
        row = current.get(key)
        if row is None:
            if report.status is not PullStatus.SUBSCRIBED:
                changes.append(report)
            continue
        if report.status is PullStatus.SUBSCRIBED:
            # Back in what it had left: the account, or the book.
            report = replace(report, scope=row.scope)
        if report.same_as(row) or report.changed_at < row.changed_at:
            unchanged += 1
            continue
        changes.append(report)
    return Resolution(changes, unchanged)
