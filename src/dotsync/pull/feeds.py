"""The change feeds a pull reads, from where each pass reads, and the call budget. Pure: dates and
counts in, dates and counts out.

A feed is read in passes. A pass starts at the feed's watermark less ``OVERLAP`` and pages through
the feed (the v2 feeds by ``select``/``skip``, 1,000 entries a call; the account's changes by v3
marker, 5,000 a call); when it reaches the end, the feed's watermark becomes the moment the pass
started, in DotDigital's clock. A pass the call budget cuts short keeps its date and goes on at
the next pull from where it stopped (an offset less ``RESUME_MARGIN``, or the marker), so a
backlog larger than the budget is read over several pulls instead of never.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from dotsync.pull.statuses import Scope
from dotsync.state.pulls import FeedCursor, FeedKey

PAGE = 1000  # the v2 feeds: select 1..1000
V3_PAGE = 5000  # GET /contacts/v3: limit 1..5000
# DotDigital does not document the time zone in which it reads ``{date}``: a date sent as UTC may
# be read in the account's zone, anywhere from UTC-12 to UTC+14. Each pass starts a day earlier
# than the watermark, so no zone can make it skip an entry; entries read twice are de-duplicated.
OVERLAP = timedelta(hours=24)
# A pass resumed by offset reads again this many entries before where it stopped: an entry that
# leaves the feed meanwhile (a resubscription takes a contact out of the suppressions) shifts the
# later ones back. An assumption (DotDigital documents no order or stability for these offsets):
# fewer than 100 such departures between two pulls of a pass.
RESUME_MARGIN = 100


@dataclass(frozen=True)
class Feed:
    name: str
    endpoint: str  # the call's template, as CallStats counts it
    scope: Scope
    purpose: str
    by_marker: bool = False  # paged by v3 marker (else by v2 offset)


ACCOUNT_SUPPRESSIONS = Feed(
    "account_suppressions",
    "GET /v2/contacts/suppressed-since/{id}",
    Scope.ACCOUNT,
    "suppressions of the account, with DotDigital's reason (bounces, complaints, unsubscribes)",
)
ACCOUNT_UNSUBSCRIBES = Feed(
    "account_unsubscribes",
    "GET /v2/contacts/unsubscribed-since/{id}",
    Scope.ACCOUNT,
    "unsubscribes from the whole account",
)
BOOK_UNSUBSCRIBES = Feed(
    "book_unsubscribes",
    "GET /v2/address-books/{id}/contacts/unsubscribed-since/{id}",
    Scope.BOOK,
    "unsubscribes from the export's address book",
)
# The account's changed contacts, with their status and their lists now (v3, by marker, 5,000 a
# call): each comes with the date DotDigital last changed it (``updated``), which dates a
# resubscription in DotDigital's clock, comparable with the feeds' dates (v2's modified-since
# gives no date). The whole account, not the export's book: a contact the segments left out
# after it unsubscribed has left the book too, and comes back in the account first.
ACCOUNT_CHANGES = Feed(
    "account_changes",
    "GET /contacts/v3",
    Scope.ACCOUNT,
    "the account's changed contacts, with their status and lists now: resubscriptions, which no "
    "feed reports (read only when someone could have come back)",
    by_marker=True,
)
# Read before the account's changes, so that a contact seen subscribed there is subscribed later
# than anything these said of it.
STATUS_FEEDS = (ACCOUNT_SUPPRESSIONS, ACCOUNT_UNSUBSCRIBES, BOOK_UNSUBSCRIBES)


def feed_key(feed: Feed, book_id: int) -> FeedKey:
    """Where the feed's cursor is kept: per account, and per book for the book's feeds."""
    return feed.name, (book_id if feed.scope is Scope.BOOK else 0)


def in_turn(
    feeds: tuple[Feed, ...],
    cursors: Mapping[FeedKey, FeedCursor],
    book_id: int,
    first_start: datetime,
) -> list[Feed]:
    """The feeds in the order a pull reads them: the one whose watermark is oldest first (a
    feed never read, or in a pass cut short, before one read to its end lately), so that when the
    budget runs out every pull, each feed gets its turn instead of the first one every time."""

    def waited(feed: Feed) -> tuple[bool, datetime]:
        # Feeds never read or in a pass cut short first, then those read to their end: the
        # watermark of a feed never read is the first run's start, in this machine's clock,
        # which need not agree with DotDigital's (the other watermarks).
        cursor = cursors.get(feed_key(feed, book_id))
        if cursor is None:
            return False, first_start
        return cursor.pass_since is None, cursor.watermark

    return sorted(feeds, key=waited)  # stable: ties keep their order


@dataclass(frozen=True)
class PassPlan:
    since: datetime  # the ``{date}`` sent
    started: datetime  # when the pass began: the feed's watermark once the pass ends
    skip: int = 0  # the first entry to read (offset feeds)
    marker: str | None = None  # the first page to read (marker feeds)


def plan_pass(
    cursor: FeedCursor | None,
    first_start: datetime,
    now: datetime,
    *,
    not_before: datetime | None = None,
) -> PassPlan:
    """The pass a pull reads: the one in progress, or a new one from the watermark (the first
    pull's: ``first_start``) less the overlap. ``not_before``: nothing before it matters (the
    account's changes: a resubscription older than every unsubscribe it could undo)."""
    if cursor is not None and cursor.pass_since is not None:
        return PassPlan(
            cursor.pass_since,
            cursor.pass_started or now,
            skip=max(0, cursor.skip - RESUME_MARGIN),
            marker=cursor.marker,
        )
    watermark = cursor.watermark if cursor is not None else first_start
    if not_before is not None and not_before > watermark:
        watermark = not_before
    return PassPlan(watermark - OVERLAP, now)


def after_pass(
    plan: PassPlan,
    cursor: FeedCursor | None,
    first_start: datetime,
    *,
    complete: bool,
    skip: int = 0,
    marker: str | None = None,
) -> FeedCursor:
    """The feed's cursor once the pass read up to offset ``skip`` (or the page ``marker``): a
    complete pass moves the watermark to when it started; a pass cut short keeps it, and its
    place."""
    if complete:
        return FeedCursor(watermark=plan.started)
    watermark = cursor.watermark if cursor is not None else first_start
    return FeedCursor(
        watermark, pass_since=plan.since, pass_started=plan.started, skip=skip, marker=marker
    )


def capped(cursor: FeedCursor, ceiling: datetime) -> FeedCursor:
    """The cursor with its watermark no later than ``ceiling``. The account's changes never get
    ahead of the status feeds: an unsubscribe those have not read yet may have been followed by
    a resubscription that only the account's changes can tell."""
    if cursor.watermark <= ceiling:
        return cursor
    return FeedCursor(ceiling, cursor.pass_since, cursor.pass_started, cursor.skip, cursor.marker)


@dataclass(frozen=True)
class CallBudget:
    """The most DotDigital calls a pull of one export makes (retries after a transient error or
    a rate limit are extra, as in any run). A feed is read while the budget allows one more
    call; what is left is read by the next pull."""

    max_calls: int

    def allows(self, used: int) -> bool:
        return used < self.max_calls
