"""The emulated rate limits: tier table, tiered minute windows, the flat rolling hour, usage."""

from __future__ import annotations

import threading

import pytest

from dotsync.emulator.ratelimit import (
    RateDecision,
    RateLimiter,
    RateLimitSettings,
    Tier,
    tier_of,
)

MINUTE_START = 60.0 * 28_333_334  # a whole minute on the epoch clock (2023-11-14)


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("method", "path", "tier"),
    [
        ("POST", "/v2/address-books/12/contacts/import", "low"),
        ("POST", "/v2/address-books/12/contacts/import/with-merge-option/Overwrite", "low"),
        ("POST", "/v2/contacts/import", "low"),
        ("PUT", "/contacts/v3/import", "low"),
        ("POST", "/v2/address-books/12/contacts/delete", "low"),
        ("POST", "/v2/address-books/12/contacts/delete-all", "low"),
        ("GET", "/v2/address-books/12/contacts", "low"),
        ("GET", "/v2/address-books/12/contacts/modified-since/2024-01-01", "low"),
        ("GET", "/v2/contacts/suppressed-since/2024-01-01T00:00:00", "low"),
        ("GET", "/v2/address-books", "low"),
        ("GET", "/v2/address-books/private", "low"),
        ("POST", "/v2/address-books/12/contacts", "medium"),
        ("DELETE", "/v2/address-books/12/contacts/99", "medium"),
        ("POST", "/v2/address-books", "medium"),
        ("PUT", "/v2/address-books/12", "medium"),
        ("DELETE", "/v2/address-books/12", "medium"),
        ("POST", "/v2/data-fields", "medium"),
        ("DELETE", "/v2/data-fields/AGE", "medium"),
        ("POST", "/v2/contacts/unsubscribe", "medium"),
        ("POST", "/v2/address-books/12/contacts/unsubscribe", "medium"),
        ("POST", "/v2/contacts", "medium"),
        ("GET", "/v2/account-info", "high"),
        ("GET", "/v2/address-books/12", "high"),
        ("GET", "/v2/contacts/ann@example.com", "high"),
        ("GET", "/v2/contacts/import/4f1c", "high"),
        ("GET", "/v2/contacts/import/4f1c/report", "high"),
        ("GET", "/v2/contacts/import/4f1c/report-faults", "high"),
        ("GET", "/v2/contacts/deletion/77", "high"),
        ("GET", "/contacts/v3/import/4f1c", "high"),
        ("GET", "/v2/data-fields", "high"),
    ],
    ids=lambda value: value if isinstance(value, str) and value.startswith("/") else None,
)
def test_tier_of_classifies_each_endpoint(method: str, path: str, tier: Tier) -> None:
    assert tier_of(method, path) == tier


@pytest.mark.parametrize(
    ("method", "path", "tier"),
    [
        ("PUT", "/r2/contacts/v3/import", "low"),
        ("get", "/r3/v2/address-books/", "low"),
        ("GET", "/r2/v2/Address-Books/12/Contacts?select=1000&skip=0", "low"),
        ("GET", "/r3/v2/account-info", "high"),
        ("post", "/r2/v2/address-books", "medium"),
    ],
    ids=["region-r2", "trailing-slash", "case-and-query", "r3-account-info", "lower-method"],
)
def test_tier_of_ignores_region_prefix_case_query_and_trailing_slash(
    method: str, path: str, tier: Tier
) -> None:
    assert tier_of(method, path) == tier


def tiered(clock: FakeClock, **limits: int) -> RateLimiter:
    return RateLimiter(RateLimitSettings(mode="tiered", **limits), clock=clock)


def test_off_mode_allows_everything_without_headers_but_counts_usage() -> None:
    limiter = RateLimiter(RateLimitSettings(flat_per_hour=10), clock=FakeClock(MINUTE_START))
    decisions = [limiter.check("a", "GET", "/v2/account-info") for _ in range(25)]
    assert all(d.allowed and d.status == 200 and d.headers == {} for d in decisions)
    assert limiter.usage("a") == (25, 0)


def test_tiered_allows_the_budget_then_answers_429_with_headers() -> None:
    clock = FakeClock(MINUTE_START + 15.2)
    limiter = tiered(clock, low_per_minute=3)
    replies = [limiter.check("a", "PUT", "/contacts/v3/import") for _ in range(4)]

    assert [r.allowed for r in replies] == [True, True, True, False]
    assert [r.headers["X-RateLimit-Remaining"] for r in replies] == ["2", "1", "0", "0"]
    for reply in replies:
        assert reply.headers["X-RateLimit-Limit"] == "3"
        assert reply.headers["X-RateLimit-Scope"] == "lowCallRate"
        assert reply.headers["X-RateLimit-Reset"] == "45"  # ceil(60 - 15.2)
    refused = replies[-1]
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "45"
    assert "Retry-After" not in replies[0].headers
    assert refused.body == {
        "errorCode": "contacts:tooManyRequests",
        "description": "Too Many Requests",
    }


def test_tiered_429_on_v2_uses_the_v2_message_envelope() -> None:
    limiter = tiered(FakeClock(MINUTE_START), high_per_minute=1)
    limiter.check("a", "GET", "/v2/account-info")
    refused = limiter.check("a", "GET", "/v2/account-info")
    assert (refused.status, refused.body) == (429, {"message": "Too Many Requests"})
    assert refused.headers["X-RateLimit-Scope"] == "highCallRate"


def test_tiered_window_resets_exactly_at_the_minute_boundary() -> None:
    clock = FakeClock(MINUTE_START)
    limiter = tiered(clock, medium_per_minute=2)

    def call() -> RateDecision:
        return limiter.check("a", "POST", "/v2/address-books")

    assert call().headers["X-RateLimit-Reset"] == "60"  # first instant of a window
    assert call().allowed
    clock.now = MINUTE_START + 59.999
    late = call()
    assert not late.allowed
    assert late.headers["X-RateLimit-Reset"] == "1"  # never 0: a client sleeping 0 s would spin
    clock.now = MINUTE_START + 60.0
    fresh = call()
    assert fresh.allowed
    assert fresh.headers["X-RateLimit-Remaining"] == "1"
    assert fresh.headers["X-RateLimit-Reset"] == "60"


def test_tiers_are_tracked_independently() -> None:
    limiter = tiered(FakeClock(MINUTE_START), low_per_minute=1, medium_per_minute=1)
    assert limiter.check("a", "GET", "/v2/address-books").allowed
    assert not limiter.check("a", "GET", "/v2/address-books/1/contacts").allowed
    medium = limiter.check("a", "POST", "/v2/address-books")
    high = limiter.check("a", "GET", "/v2/account-info")
    assert medium.allowed and medium.headers["X-RateLimit-Scope"] == "mediumCallRate"
    assert high.allowed and high.headers["X-RateLimit-Limit"] == "3000"


def test_accounts_have_their_own_budgets() -> None:
    limiter = tiered(FakeClock(MINUTE_START), low_per_minute=2)
    for _ in range(2):
        assert limiter.check("alice", "PUT", "/contacts/v3/import").allowed
    assert not limiter.check("alice", "PUT", "/contacts/v3/import").allowed
    bob = limiter.check("bob", "PUT", "/contacts/v3/import")
    assert bob.allowed and bob.headers["X-RateLimit-Remaining"] == "1"
    assert limiter.usage("alice") == (2, 1998)
    assert limiter.usage("bob") == (1, 1999)


def test_flat_caps_a_rolling_hour_with_dotdigitals_400() -> None:
    clock = FakeClock(MINUTE_START)
    limiter = RateLimiter(RateLimitSettings(mode="flat", flat_per_hour=5), clock=clock)
    for _ in range(3):
        assert limiter.check("a", "GET", "/v2/account-info").allowed
    clock.now = MINUTE_START + 1800
    for _ in range(2):
        assert limiter.check("a", "PUT", "/contacts/v3/import").allowed

    capped = limiter.check("a", "GET", "/v2/address-books/1")
    assert (capped.allowed, capped.status) == (False, 400)
    assert capped.body == {
        "message": "Your account has generated excess API activity and is being temporarily "
        "capped. Please contact support. ERROR_APIUSAGE_EXCEEDED"
    }
    assert capped.headers == {}
    assert limiter.usage("a") == (5, 0)  # the refused call did not count

    clock.now = MINUTE_START + 3599
    assert not limiter.check("a", "GET", "/v2/account-info").allowed
    clock.now = MINUTE_START + 3600  # the three calls of t=0 have left the hour
    assert limiter.usage("a") == (2, 3)
    assert [limiter.check("a", "GET", "/v2/account-info").allowed for _ in range(4)] == [
        True,
        True,
        True,
        False,
    ]
    clock.now = MINUTE_START + 5400  # and now the two of t=1800 as well
    assert limiter.usage("a") == (3, 2)


def test_update_applies_new_settings_to_calls_already_counted() -> None:
    clock = FakeClock(MINUTE_START)
    limiter = tiered(clock, high_per_minute=10)
    for _ in range(4):
        limiter.check("a", "GET", "/v2/account-info")
    limiter.update(RateLimitSettings(mode="tiered", high_per_minute=4))
    assert limiter.settings.high_per_minute == 4
    assert not limiter.check("a", "GET", "/v2/account-info").allowed
    limiter.update(RateLimitSettings(mode="off"))
    assert limiter.check("a", "GET", "/v2/account-info").allowed


def test_admin_paths_are_neither_limited_nor_counted() -> None:
    limiter = tiered(FakeClock(MINUTE_START), high_per_minute=1)
    for _ in range(3):
        reply = limiter.check("a", "GET", "/_emulator/calls")
        assert reply.allowed and reply.headers == {}
    assert limiter.usage("a") == (0, 2000)
    assert limiter.check("a", "GET", "/v2/account-info").allowed


def test_concurrent_calls_never_exceed_the_budget() -> None:
    limiter = tiered(FakeClock(MINUTE_START), medium_per_minute=50)
    allowed: list[bool] = []
    lock = threading.Lock()

    def hammer() -> None:
        for _ in range(20):
            ok = limiter.check("a", "POST", "/v2/address-books").allowed
            with lock:
                allowed.append(ok)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 160
    assert sum(allowed) == 50
    assert limiter.usage("a")[0] == 50


def test_settings_reject_unknown_keys_and_non_positive_limits() -> None:
    with pytest.raises(ValueError, match="low_per_minut"):
        RateLimitSettings.model_validate({"mode": "tiered", "low_per_minut": 5})
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        RateLimitSettings(high_per_minute=0)
    with pytest.raises(ValueError, match="mode"):
        RateLimitSettings.model_validate({"mode": "hourly"})
