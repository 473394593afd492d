"""Pure rules of the pages' forms: each validation problem beside its field, and Connect's checks
as passed, failed or not run."""

from __future__ import annotations

from dotsync.connect import Check
from dotsync.console.pages._support import errors_by_field
from dotsync.console.pages.connections import check_lines


def test_problems_go_beside_their_fields_and_the_rest_above_the_form() -> None:
    general: list[str] = []
    by_field = errors_by_field(
        [
            ("exports.news.schedule", "not a cron expression"),
            ("exports.news.mapping.email", "field required: add this key"),
            ("exports.news.mapping.email", "another"),
            ("exports.newsletter.schedule", "of another export"),
            (None, "TOML syntax error"),
        ],
        "exports.news",
        general,
    )
    assert by_field == {
        "schedule": "not a cron expression",
        "mapping.email": "field required: add this key; another",
    }
    assert general == ["exports.newsletter.schedule: of another export", "TOML syntax error"]


def test_the_first_check_not_passed_is_the_one_that_failed() -> None:
    lines = check_lines([Check.CREDENTIALS, Check.REGION], "no address book 9")
    assert [(line.check, line.state, line.message) for line in lines] == [
        (Check.CREDENTIALS, "passed", ""),
        (Check.REGION, "passed", ""),
        (Check.ADDRESS_BOOK, "failed", "no address book 9"),
        (Check.DATA_FIELDS, "not_run", ""),
    ]
    assert {line.state for line in check_lines(list(Check), None)} == {"passed"}
