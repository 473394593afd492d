"""Backoff schedules and rate-limit header parsing, with a fixed random generator."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from dotsync.dotdigital.retry import (
    PollPolicy,
    RetryPolicy,
    parse_reset_seconds,
    parse_retry_after,
    rate_limit_wait,
)

NOW = 1_900_000_000.0  # an epoch in 2030


def test_backoff_is_full_jitter_under_a_capped_exponential() -> None:
    draws = random.Random(7)  # noqa: S311 - jitter, not secrets
    policy = RetryPolicy(base=0.5, cap=4.0, random=random.Random(7).random)  # noqa: S311
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert [policy.backoff(n) for n in range(6)] == [draws.random() * c for c in ceilings]


def test_backoff_with_the_top_draw_is_the_exponential_itself() -> None:
    policy = RetryPolicy(random=lambda: 1.0)
    assert [policy.backoff(n) for n in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert policy.backoff(10_000) == 30  # no overflow on absurd indexes


def test_rate_limit_and_busy_backoff_never_fall_below_half() -> None:
    policy = RetryPolicy(random=lambda: 0.0)
    assert [policy.rate_limit_backoff(n) for n in range(5)] == [30, 60, 120, 240, 300]
    assert [policy.busy_backoff(n) for n in range(5)] == [2.5, 5, 10, 20, 30]


def test_poll_policy_grows_by_half_up_to_its_cap() -> None:
    delays = [PollPolicy().delay(n) for n in range(12)]
    assert delays[:4] == [0.5, 0.75, 1.125, 1.6875]
    assert delays[-1] == 30.0
    assert delays == sorted(delays)
    # A ten-minute import costs few status calls.
    total, calls = 0.0, 0
    while total < 600:
        total += PollPolicy().delay(calls)
        calls += 1
    assert calls < 30


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("12", 12.0, id="seconds"),
        pytest.param("0.5", 0.5, id="fraction"),
        pytest.param(str(int(NOW) + 42), 42.0, id="epoch"),
        pytest.param(str(int(NOW) - 5), 0.0, id="epoch-past"),
        pytest.param("-3", 0.0, id="negative"),
        pytest.param("soon", None, id="garbage"),
        pytest.param("nan", None, id="nan"),
        pytest.param(None, None, id="absent"),
    ],
)
def test_parse_reset_seconds(value: str | None, expected: float | None) -> None:
    assert parse_reset_seconds(value, NOW) == expected


def test_parse_retry_after_accepts_an_http_date() -> None:
    later = datetime.fromtimestamp(NOW + 90, tz=UTC)
    assert parse_retry_after(format_datetime(later, usegmt=True), NOW) == 90.0
    assert parse_retry_after("7", NOW) == 7.0
    assert parse_retry_after("Someday", NOW) is None


def test_rate_limit_wait_takes_the_longer_of_both_headers() -> None:
    headers = {"x-ratelimit-reset": str(int(NOW) + 20), "retry-after": "5"}
    assert rate_limit_wait(headers, NOW) == 20.0
    assert rate_limit_wait({"retry-after": "5"}, NOW) == 5.0
    assert rate_limit_wait({"x-ratelimit-remaining": "0"}, NOW) is None
