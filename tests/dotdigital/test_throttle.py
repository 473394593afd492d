"""The throttle: a budget per tier that reply headers can only lower."""

from __future__ import annotations

import pytest

from dotsync.dotdigital.throttle import Throttle, tier_of

WALL = 1_900_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("endpoint", "tier"),
    [
        ("PUT /contacts/v3/import", "low"),
        ("POST /v2/address-books/{id}/contacts/delete", "low"),
        ("GET /v2/address-books", "low"),
        ("GET /v2/account-info", "high"),
        ("GET /contacts/v3/import/{id}", "high"),
        ("POST /v2/data-fields", "medium"),
        ("POST /v2/address-books/{id}/contacts", "medium"),
    ],
)
def test_tier_of(endpoint: str, tier: str) -> None:
    assert tier_of(endpoint) == tier


def test_unknown_budget_never_waits() -> None:
    throttle = Throttle(Clock(), lambda: WALL)
    assert all(throttle.reserve("low") == 0 for _ in range(10_000))


def test_own_budget_waits_for_the_next_window() -> None:
    clock = Clock()
    throttle = Throttle(clock, lambda: WALL, {"low": 3})
    assert [throttle.reserve("low") for _ in range(3)] == [0, 0, 0]
    clock.now += 20
    assert throttle.reserve("low") == 40.0  # the minute started at the first call
    assert throttle.reserve("high") == 0  # tiers are separate
    clock.now += 40
    assert throttle.reserve("low") == 0


def test_headers_lower_the_budget_until_their_reset() -> None:
    clock = Clock()
    throttle = Throttle(clock, lambda: WALL, {"low": 100})
    assert throttle.reserve("low") == 0
    throttle.observe("low", {"x-ratelimit-remaining": "1", "x-ratelimit-reset": "12"})
    assert throttle.reserve("low") == 0
    assert throttle.reserve("low") == 12.0
    clock.now += 12
    assert throttle.reserve("low") == 0


def test_the_reply_that_spends_the_budget_sets_the_wait() -> None:
    # The reset is in whole seconds: replies of one window a moment apart can differ by one.
    throttle = Throttle(Clock(), lambda: WALL, {"low": 100})
    assert throttle.reserve("low") == 0
    throttle.observe("low", {"x-ratelimit-remaining": "1", "x-ratelimit-reset": "45"})
    assert throttle.reserve("low") == 0  # our count is 0 before the reply says so
    throttle.observe("low", {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "44"})
    assert throttle.reserve("low") == 44.0


def test_headers_never_raise_the_budget() -> None:
    clock = Clock()
    throttle = Throttle(clock, lambda: WALL, {"high": 2})
    throttle.reserve("high")
    throttle.observe("high", {"x-ratelimit-remaining": "500", "x-ratelimit-reset": "60"})
    throttle.reserve("high")
    assert throttle.reserve("high") > 0


def test_scope_header_names_the_tier_and_epoch_reset_is_understood() -> None:
    clock = Clock()
    throttle = Throttle(clock, lambda: WALL)
    throttle.observe(
        "high",
        {
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": str(int(WALL) + 30),
            "x-ratelimit-scope": "lowCallRate",
        },
    )
    assert throttle.reserve("high") == 0
    assert throttle.reserve("low") == 30.0


def test_headers_without_remaining_change_nothing() -> None:
    throttle = Throttle(Clock(), lambda: WALL, {"low": 1})
    throttle.observe("low", {"x-ratelimit-reset": "50"})
    assert throttle.reserve("low") == 0
