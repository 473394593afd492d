"""Schedules in words (English, French) and their next three runs in the export's time zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dotsync.console.schedule_text import describe_cron, describe_schedule


@pytest.mark.parametrize(
    ("cron", "locale", "text"),
    [
        ("0 6 * * *", "en", "At 06:00"),
        ("0 6 * * 1-5", "en", "At 06:00, Monday through Friday"),
        ("0 6 * * 1-5", "fr", "À 06:00, de lundi à vendredi"),
        ("0 0 1 1 *", "fr", "À 00:00, le 1 du mois, uniquement en janvier"),
        ("*/15 * * * *", "fr", "Toutes les 15 minutes"),
        ("@daily", "en", "At 00:00"),
    ],
    ids=["daily", "weekdays", "weekdays-fr", "yearly-fr", "quarter-hours-fr", "macro"],
)
def test_a_cron_expression_in_words(cron: str, locale: str, text: str) -> None:
    assert describe_cron(cron, locale) == text


def test_the_next_three_runs_follow_the_time_zone_across_a_clock_change() -> None:
    # Paris moves to summer time on 2026-03-29: 06:00 local is 05:00 UTC before, 04:00 after.
    view = describe_schedule(
        "0 6 * * *", "Europe/Paris", now=datetime(2026, 3, 27, 12, tzinfo=UTC), locale="en"
    )
    assert [run.isoformat() for run in view.next_runs] == [
        "2026-03-28T06:00:00+01:00",
        "2026-03-29T06:00:00+02:00",
        "2026-03-30T06:00:00+02:00",
    ]
    assert view.description == "At 06:00"
