"""Which report of a key wins, and when the table already says it (pure: no network, no disk)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dotsync.pull.statuses import (
    RESUBSCRIBED,
    PullStatus,
    Risk,
    Scope,
    StatusChange,
    at_risk,
    is_subscribed,
    latest,
    resolve,
    status_of,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
UNSUB, SUPP, SUB = PullStatus.UNSUBSCRIBED, PullStatus.SUPPRESSED, PullStatus.SUBSCRIBED


def report(
    key: str,
    status: PullStatus,
    minutes: int = 0,
    reason: str | None = None,
    scope: Scope = Scope.ACCOUNT,
) -> StatusChange:
    default = {UNSUB: "Unsubscribed", SUPP: "HardBounced", SUB: RESUBSCRIBED}[status]
    return StatusChange(key, status, reason or default, scope, T0 + timedelta(minutes=minutes))


@pytest.mark.parametrize(
    ("reason", "status"),
    [
        ("Unsubscribed", UNSUB),
        ("unsubscribed", UNSUB),
        ("HardBounced", SUPP),
        ("IspComplained", SUPP),
        ("DirectComplaint", SUPP),
        ("Suppressed", SUPP),
        ("SomethingNew", SUPP),
        (None, SUPP),
        ("Subscribed", SUB),
    ],
)
def test_dotdigitals_reasons_become_statuses(reason: str | None, status: PullStatus) -> None:
    assert status_of(reason) is status


@pytest.mark.parametrize(
    ("status", "subscribed"),
    [("Subscribed", True), ("subscribed", True), ("PendingOptIn", False), (None, False)],
)
def test_only_subscribed_counts_as_back(status: str | None, subscribed: bool) -> None:
    assert is_subscribed(status) is subscribed


def test_the_newest_report_of_a_key_wins_and_ties_go_to_the_most_restrictive() -> None:
    reports = [
        report("A", UNSUB, 0),
        report("A", SUPP, 5),
        report("B", UNSUB, 5, scope=Scope.BOOK),
        report("B", UNSUB, 5),
        report("C", UNSUB, 5),
        report("C", SUPP, 5),
    ]
    newest = latest(reports)
    assert newest["A"].status is SUPP
    assert newest["B"].scope is Scope.ACCOUNT
    assert newest["C"].status is SUPP


def test_new_reports_are_written_and_a_second_reading_changes_nothing() -> None:
    reports = [report("A", UNSUB), report("B", SUPP, 1), report("C", UNSUB, 2, scope=Scope.BOOK)]
    first = resolve(reports, {})
    assert [c.key for c in first.changes] == ["A", "B", "C"]
    assert first.written() == {"Subscribed": 0, "Unsubscribed": 2, "Suppressed": 1}
    table = {c.key: c for c in first.changes}

    again = resolve(reports, table)  # the overlap reads the same entries again

    assert again.changes == []
    assert again.unchanged == 3


def test_an_older_report_read_again_never_undoes_a_newer_row() -> None:
    table = {"A": report("A", SUB, 30)}  # resubscribed after its unsubscribe
    assert resolve([report("A", UNSUB, 0)], table).changes == []
    later = report("A", UNSUB, 60)  # and unsubscribed again later
    assert resolve([report("A", UNSUB, 0), later], table).changes == [later]


def test_a_resubscription_undoes_the_row_in_its_scope_and_is_not_written_alone() -> None:
    table = {"A": report("A", UNSUB, 0, scope=Scope.BOOK), "B": report("B", UNSUB, 0)}
    back = resolve([report("A", SUB, 10), report("B", SUB, 10), report("N", SUB, 10)], table)
    assert [(c.key, c.status, c.scope) for c in back.changes] == [
        ("A", SUB, Scope.BOOK),
        ("B", SUB, Scope.ACCOUNT),
    ]  # N was never anything but subscribed: nothing to undo
    table |= {c.key: c for c in back.changes}
    assert resolve([report("A", SUB, 20)], table).changes == []  # still back: no new row


def test_keys_at_risk_are_those_not_subscribed_since_their_earliest_report() -> None:
    table = {"A": report("A", UNSUB, 0), "B": report("B", SUB, 0)}
    risk = at_risk(
        table,
        [
            report("A", SUPP, 5),
            report("C", UNSUB, 7, scope=Scope.BOOK),
            report("C", UNSUB, 3),
        ],
    )
    # what it left is what its newest report says: C left the book only, last
    assert risk == {"A": Risk(T0, Scope.ACCOUNT), "C": Risk(T0 + timedelta(minutes=3), Scope.BOOK)}
    assert at_risk({}, [report("B", SUB, 1)]) == {}
