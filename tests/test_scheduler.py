"""The scheduler's pure core, driven by explicit times (the clock is whatever the test says)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dotsync.errors import ConfigError
from dotsync.scheduler import AccountKey, ScheduledExport, Scheduler, next_slot

ACCOUNT_A = ("https://r1-api.dotdigital.com", "a@apiconnector.com")
ACCOUNT_B = ("https://r1-api.dotdigital.com", "b@apiconnector.com")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def export(
    name: str, cron: str = "0 6 * * *", tz: str = "UTC", account: AccountKey = ACCOUNT_A
) -> ScheduledExport:
    return ScheduledExport(name, cron, tz, account)


@pytest.mark.parametrize(
    ("cron", "tz", "after", "expected"),
    [
        ("0 6 * * *", "UTC", utc(2026, 1, 10, 5, 0), utc(2026, 1, 10, 6, 0)),
        ("0 6 * * *", "UTC", utc(2026, 1, 10, 6, 0), utc(2026, 1, 11, 6, 0)),  # strictly after
        ("0 6 * * *", "Europe/Paris", utc(2026, 1, 10, 0, 0), utc(2026, 1, 10, 5, 0)),  # CET
        ("0 6 * * *", "Europe/Paris", utc(2026, 7, 10, 0, 0), utc(2026, 7, 10, 4, 0)),  # CEST
        ("*/15 * * * *", "UTC", utc(2026, 1, 10, 6, 1), utc(2026, 1, 10, 6, 15)),
        ("0 9 * * 1", "America/New_York", utc(2026, 3, 4, 0, 0), utc(2026, 3, 9, 13, 0)),  # EDT
    ],
    ids=["utc", "strictly-after", "paris-winter", "paris-summer", "every-15-min", "monday-ny"],
)
def test_next_slot_in_the_exports_timezone(
    cron: str, tz: str, after: datetime, expected: datetime
) -> None:
    assert next_slot(export("x", cron, tz), after) == expected


def test_spring_forward_runs_a_skipped_time_once_after_the_gap() -> None:
    # 2026-03-29 in Paris: 02:00 jumps to 03:00, so 02:30 does not exist that day.
    daily = export("x", "30 2 * * *", "Europe/Paris")
    first = next_slot(daily, utc(2026, 3, 28, 12, 0))
    second = next_slot(daily, first)
    assert first == utc(2026, 3, 29, 1, 0)  # 03:00 CEST: once, right after the gap
    assert second == utc(2026, 3, 30, 0, 30)  # back to 02:30 CEST the next day


def test_fall_back_runs_a_fixed_time_once_though_it_happens_twice() -> None:
    # 2026-10-25 in Paris: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice.
    daily = export("x", "30 2 * * *", "Europe/Paris")
    first = next_slot(daily, utc(2026, 10, 24, 12, 0))
    assert first == utc(2026, 10, 25, 0, 30)  # 02:30 CEST
    assert next_slot(daily, first) == utc(2026, 10, 26, 1, 30)  # not 02:30 CET an hour later


def test_cron_macros_are_understood() -> None:
    daily = export("x", "@daily", "America/New_York")
    first = next_slot(daily, utc(2026, 11, 1, 3, 0))  # 23:00 EDT the day before
    assert first == utc(2026, 11, 1, 4, 0)  # midnight EDT
    assert next_slot(daily, first) == utc(2026, 11, 2, 5, 0)  # midnight EST


def test_fall_back_keeps_every_slot_of_an_hourly_schedule() -> None:
    hourly = export("x", "0 * * * *", "Europe/Paris")
    slots = [utc(2026, 10, 24, 22, 30)]  # 00:30 CEST
    for _ in range(4):
        slots.append(next_slot(hourly, slots[-1]))
    # 01:00 CEST, 02:00 CEST, 02:00 CET, 03:00 CET: one hour apart in real time.
    assert slots[1:] == [
        utc(2026, 10, 24, 23),
        utc(2026, 10, 25, 0),
        utc(2026, 10, 25, 1),
        utc(2026, 10, 25, 2),
    ]


def test_never_run_export_is_due_at_once() -> None:
    scheduler = Scheduler([export("news")])
    assert [e.name for e in scheduler.due(utc(2026, 1, 10, 12, 0))] == ["news"]


def test_not_due_before_its_slot_and_due_from_it() -> None:
    scheduler = Scheduler([export("news")], {"news": utc(2026, 1, 10, 6, 0, 5)})
    assert scheduler.due(utc(2026, 1, 11, 5, 59, 59)) == []
    assert [e.name for e in scheduler.due(utc(2026, 1, 11, 6, 0))] == ["news"]
    assert scheduler.due_time("news") == utc(2026, 1, 11, 6, 0)


def test_runs_missed_while_down_collapse_into_one_run_at_start() -> None:
    # Last ran five days ago: five slots were missed.
    scheduler = Scheduler([export("news")], {"news": utc(2026, 1, 5, 6, 0, 1)})
    start = utc(2026, 1, 10, 12, 0)
    assert [e.name for e in scheduler.due(start)] == ["news"]
    scheduler.record_run("news", start)
    assert scheduler.due(start + timedelta(minutes=1)) == []
    assert scheduler.due_time("news") == utc(2026, 1, 11, 6, 0)


def test_an_interrupted_run_left_unrecorded_stays_due() -> None:
    scheduler = Scheduler([export("news", "* * * * *")], {"news": utc(2026, 1, 10, 6, 0)})
    now = utc(2026, 1, 10, 6, 5, 30)
    assert scheduler.take_due(now) != []
    # The service does not record an interrupted run: a restart finds it due again.
    restarted = Scheduler(scheduler.exports, scheduler.last_runs)
    assert [e.name for e in restarted.due(now + timedelta(seconds=10))] == ["news"]


def test_exports_sharing_an_account_are_handed_out_one_at_a_time() -> None:
    exports = [
        export("a1", account=ACCOUNT_A),
        export("a2", account=ACCOUNT_A),
        export("b1", account=ACCOUNT_B),
    ]
    scheduler = Scheduler(exports, {"a1": utc(2026, 1, 9, 6, 0, 1)})  # a1 least overdue
    now = utc(2026, 1, 10, 12, 0)
    first = scheduler.take_due(now)
    # One per account; a2 and b1 never ran so they go first; a1 waits for a2.
    assert [e.name for e in first] == ["a2", "b1"]
    assert scheduler.take_due(now, busy_accounts={ACCOUNT_A, ACCOUNT_B}) == []
    scheduler.record_run("a2", now)
    scheduler.record_run("b1", now)
    assert [e.name for e in scheduler.take_due(now, busy_accounts=set())] == ["a1"]


def test_most_overdue_first_within_an_account() -> None:
    exports = [export("late", account=ACCOUNT_A), export("later", account=ACCOUNT_A)]
    scheduler = Scheduler(
        exports, {"late": utc(2026, 1, 8, 6, 0, 1), "later": utc(2026, 1, 6, 6, 0, 1)}
    )
    assert [e.name for e in scheduler.take_due(utc(2026, 1, 10, 12))] == ["later"]


def test_next_wake_is_the_earliest_due_time_of_an_idle_account() -> None:
    exports = [
        export("a", "0 6 * * *", account=ACCOUNT_A),
        export("b", "0 7 * * *", account=ACCOUNT_B),
    ]
    last = {"a": utc(2026, 1, 10, 6, 0, 1), "b": utc(2026, 1, 10, 7, 0, 1)}
    scheduler = Scheduler(exports, last)
    now = utc(2026, 1, 10, 12)
    assert scheduler.next_wake(now) == utc(2026, 1, 11, 6)
    assert scheduler.next_wake(now, busy_accounts={ACCOUNT_A}) == utc(2026, 1, 11, 7)


def test_last_runs_of_unknown_exports_are_ignored() -> None:
    scheduler = Scheduler([export("news")], {"gone": utc(2026, 1, 1)})
    assert scheduler.last_runs == {}


@pytest.mark.parametrize(
    ("cron", "tz", "key"),
    [("61 * * * *", "UTC", "schedule"), ("0 6 * * *", "Mars/Olympus", "timezone")],
    ids=["bad-cron", "bad-timezone"],
)
def test_invalid_schedule_names_the_key(cron: str, tz: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ScheduledExport("news", cron, tz, ACCOUNT_A)
    assert caught.value.key == f"exports.news.{key}"


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_slot(export("x"), datetime(2026, 1, 1))
