"""Where each pass of a feed reads from, how it goes on after a budget cut, the budget (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dotsync.pull.feeds import (
    ACCOUNT_SUPPRESSIONS,
    ACCOUNT_UNSUBSCRIBES,
    BOOK_UNSUBSCRIBES,
    OVERLAP,
    RESUME_MARGIN,
    STATUS_FEEDS,
    CallBudget,
    after_pass,
    capped,
    feed_key,
    in_turn,
    plan_pass,
)
from dotsync.state import FeedCursor

FIRST = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)


def test_a_first_pass_starts_at_the_first_run_less_the_overlap() -> None:
    plan = plan_pass(None, FIRST, NOW)
    assert (plan.since, plan.skip, plan.marker, plan.started) == (FIRST - OVERLAP, 0, None, NOW)
    assert timedelta(hours=14) <= OVERLAP  # any time zone DotDigital may read {date} in


def test_a_complete_pass_moves_the_watermark_to_its_start_and_the_next_reads_from_there() -> None:
    plan = plan_pass(None, FIRST, NOW)
    cursor = after_pass(plan, None, FIRST, complete=True, skip=300)
    assert cursor == FeedCursor(watermark=NOW)
    assert plan_pass(cursor, FIRST, LATER).since == NOW - OVERLAP


def test_a_pass_cut_short_keeps_its_watermark_and_goes_on_from_its_place() -> None:
    plan = plan_pass(FeedCursor(watermark=FIRST + timedelta(days=3)), FIRST, NOW)
    cut = after_pass(plan, FeedCursor(FIRST + timedelta(days=3)), FIRST, complete=False, skip=2000)
    assert cut.watermark == FIRST + timedelta(days=3)
    assert (cut.pass_since, cut.pass_started, cut.skip) == (plan.since, NOW, 2000)

    resumed = plan_pass(cut, FIRST, LATER)  # the same date, a little before the same place
    assert (resumed.since, resumed.skip, resumed.started) == (plan.since, 2000 - RESUME_MARGIN, NOW)
    done = after_pass(resumed, cut, FIRST, complete=True, skip=2500)
    assert done == FeedCursor(watermark=NOW)  # when the pass began, not when it ended


def test_a_pass_by_marker_goes_on_from_its_marker() -> None:
    plan = plan_pass(None, FIRST, NOW)
    cut = after_pass(plan, None, FIRST, complete=False, marker="m-42")
    assert cut.watermark == FIRST  # a first pass cut short: still from the first run
    resumed = plan_pass(cut, FIRST, LATER)
    assert (resumed.marker, resumed.skip, resumed.since) == ("m-42", 0, FIRST - OVERLAP)


def test_not_before_starts_a_new_pass_later_but_never_moves_one_in_progress() -> None:
    mark = FIRST + timedelta(days=40)
    assert plan_pass(FeedCursor(FIRST), FIRST, NOW, not_before=mark).since == mark - OVERLAP
    assert plan_pass(FeedCursor(mark), FIRST, NOW, not_before=FIRST).since == mark - OVERLAP
    cut = FeedCursor(FIRST, pass_since=FIRST - OVERLAP, pass_started=NOW, skip=10)
    assert plan_pass(cut, FIRST, LATER, not_before=mark).since == FIRST - OVERLAP


def test_capped_keeps_a_watermark_at_most_at_the_ceiling() -> None:
    cursor = FeedCursor(NOW, pass_since=None)
    assert capped(cursor, FIRST).watermark == FIRST
    assert capped(FeedCursor(FIRST), NOW) == FeedCursor(FIRST)


def test_the_budget_allows_calls_below_its_maximum() -> None:
    budget = CallBudget(3)
    assert [budget.allows(n) for n in range(5)] == [True, True, True, False, False]


def test_the_feed_that_waited_longest_is_read_first() -> None:
    book = 7
    cursors = {
        feed_key(ACCOUNT_SUPPRESSIONS, book): FeedCursor(NOW),  # read to its end just now
        feed_key(BOOK_UNSUBSCRIBES, book): FeedCursor(FIRST, pass_since=FIRST, skip=1000),
    }
    order = in_turn(STATUS_FEEDS, cursors, book, FIRST)  # the cut pass and the unread first
    assert order == [ACCOUNT_UNSUBSCRIBES, BOOK_UNSUBSCRIBES, ACCOUNT_SUPPRESSIONS]
    assert in_turn(STATUS_FEEDS, {}, book, FIRST) == list(STATUS_FEEDS)


def test_a_feed_read_to_its_end_waits_whatever_the_clocks_say() -> None:
    """Watermarks are DotDigital's times; a first run's start is this machine's, which may be
    ahead of DotDigital's: a feed never read still goes before one read to its end."""
    book = 7
    ahead = NOW + timedelta(minutes=5)  # this machine's clock, ahead of DotDigital's
    cursors = {feed_key(ACCOUNT_SUPPRESSIONS, book): FeedCursor(NOW)}
    assert in_turn(STATUS_FEEDS, cursors, book, ahead)[-1] is ACCOUNT_SUPPRESSIONS
