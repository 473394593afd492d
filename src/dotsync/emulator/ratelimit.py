"""DotDigital's call rate limits, emulated: the tiered per-minute scheme and the legacy flat hour.

A pure core: the limiter takes an injected clock and decides; the app turns a ``RateDecision`` into
a reply. DotDigital describes the scheme in https://developer.dotdigital.com/docs/call-rate-limits;
choices where it is silent:

- Tiered windows are *fixed* one-minute windows aligned on the clock's minute (``floor(t / 60)``),
  per account and per tier, tracked independently as DotDigital says. Aligned windows make the
  budget refill at a predictable instant, the same for every tier, which keeps tests exact.
- ``X-RateLimit-Reset`` is the number of whole seconds until the window resets (at least 1), not an
  epoch time. DotDigital calls it an epoch time, clients in the field read it as seconds, and a
  client must accept both; seconds is what a client that sleeps on it needs and what
  ``Retry-After`` carries.
- Only *allowed* calls consume a budget and count as API calls: ERROR_APIUSAGE_EXCEEDED refuses
  calls "until the number of API calls made in the last hour goes below" the cap
  (https://marketing.developer.dotdigital.com/docs/error-response-types), which a client retrying
  while capped could never reach if refused calls counted too.
- The rolling hour counts calls in one-second buckets (so a call leaves the hour up to one second
  early): a fixed 3,600 buckets per account at most, whatever the call volume.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Tier = Literal["low", "medium", "high"]

ADMIN_PREFIX = "/_emulator"
WINDOW_SECONDS = 60
HOUR_SECONDS = 3600

SCOPE_OF_TIER: dict[Tier, str] = {
    "low": "lowCallRate",
    "medium": "mediumCallRate",
    "high": "highCallRate",
}

FLAT_CAP_MESSAGE = (
    "Your account has generated excess API activity and is being temporarily capped. "
    "Please contact support. ERROR_APIUSAGE_EXCEEDED"
)


class RateLimitSettings(BaseModel):
    # Frozen and strict about keys: the admin API replaces the whole object, and a typo in a key
    # must be an error rather than a silently ignored setting.
    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["off", "tiered", "flat"] = "off"
    # DotDigital publishes no numbers (they depend on the contract); the docs illustrate 150 for
    # the low tier, the other two are our guesses in the same spirit.
    low_per_minute: int = Field(default=150, ge=1)  # bulk imports and large reads
    medium_per_minute: int = Field(default=600, ge=1)  # single-record writes
    high_per_minute: int = Field(default=3000, ge=1)  # lookups, account-info, status checks
    flat_per_hour: int = Field(default=2000, ge=1)  # legacy scheme

    def limit_of(self, tier: Tier) -> int:
        match tier:
            case "low":
                return self.low_per_minute
            case "medium":
                return self.medium_per_minute
            case "high":
                return self.high_per_minute


@dataclass(frozen=True)
class RateDecision:
    """What to do with one call. ``status`` is 200 when allowed (the handler's own status wins)."""

    allowed: bool
    status: int
    headers: dict[str, str]
    body: dict[str, object] | None


# --- classification ------------------------------------------------------------------------------

_REGION_PREFIX = re.compile(r"^/r[23](?=/|$)")
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SEG = r"[^/]+"

# Bulk writes: the low tier whatever else the path looks like.
_LOW_WRITES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (method, re.compile(pattern))
    for method, pattern in (
        ("POST", rf"^/v2/address-books/{_SEG}/contacts/import(/with-merge-option/{_SEG})?$"),
        ("POST", rf"^/v2/contacts/import(/with-merge-option/{_SEG})?$"),
        ("POST", r"^/v2/contacts/import-collection$"),
        ("POST", rf"^/v2/contacts/transactional-data/import/{_SEG}$"),
        ("PUT", r"^/contacts/v3/import$"),
        ("POST", rf"^/v2/address-books/{_SEG}/contacts/(delete|delete-all)$"),
        # DELETE on a book's member collection removes many (or all) members at once.
        ("DELETE", rf"^/v2/address-books/{_SEG}/contacts$"),
        ("POST", r"^/contacts/v3/delete$"),
        ("PUT", r"^/v2/contacts/suppress-contacts$"),
    )
)

# Large reads: listings that page through many records.
_LOW_READS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern)
    for pattern in (
        r"^/v2/address-books(/private|/public)?$",
        rf"^/v2/address-books/{_SEG}/contacts$",
        rf"^/v2/address-books/{_SEG}/contacts/{_SEG}-since/{_SEG}$",
        r"^/v2/contacts$",
        rf"^/v2/contacts/{_SEG}-since/{_SEG}$",
        r"^/contacts/v3$",
    )
)


def normalise_path(path: str) -> str:
    """The path as the tier table sees it: no query, no region prefix, lower case, no final '/'."""
    path = path.split("?", 1)[0]
    path = _REGION_PREFIX.sub("", path)
    # DotDigital's routes are case-insensitive (ASP.NET); compare in lower case.
    return path.lower().rstrip("/") or "/"


def tier_of(method: str, path: str) -> Tier:
    """The call-rate tier of a concrete call such as ``("GET", "/r2/v2/address-books/7")``.

    Low: bulk imports, bulk deletes and large reads. Medium: every other write (one contact, book,
    data field, unsubscribe). High: every other read (one thing, account-info, import and deletion
    status, import reports, the data-field list, which is small and unpaged). DotDigital does not
    publish its per-endpoint table; this follows its descriptions of the tiers.
    """
    method = method.upper()
    path = normalise_path(path)
    if any(method == m and pattern.match(path) for m, pattern in _LOW_WRITES):
        return "low"
    if method in _WRITE_METHODS:
        return "medium"
    if method == "GET" and any(pattern.match(path) for pattern in _LOW_READS):
        return "low"
    return "high"


def is_admin_path(path: str) -> bool:
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


# --- replies -------------------------------------------------------------------------------------


def is_v3_path(path: str) -> bool:
    return normalise_path(path).startswith("/contacts/v3")


def throttled_body(path: str) -> dict[str, object]:
    """The body of a tiered 429.

    DotDigital documents the status and headers but no body, and names the reply "Too Many
    Requests"; we wrap it in the framework's error envelope: v2's ``{"message"}`` (with no
    ERROR_ code, as none is documented for it) and v3's ``errorResponse``, which v3-contacts
    documents for the 429 of PUT /contacts/v3/import (the ``errorCode`` is our invention).
    """
    if is_v3_path(path):
        return {"errorCode": "contacts:tooManyRequests", "description": "Too Many Requests"}
    return {"message": "Too Many Requests"}


def tier_headers(tier: Tier, limit: int, remaining: int, reset_seconds: int) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(max(0, remaining)),
        "X-RateLimit-Reset": str(reset_seconds),
        "X-RateLimit-Scope": SCOPE_OF_TIER[tier],
    }


def throttled(method: str, path: str, limit: int, reset_seconds: int) -> RateDecision:
    """A 429 as the tiered limiter gives it; also used by scripted "429" faults."""
    headers = tier_headers(tier_of(method, path), limit, 0, reset_seconds)
    headers["Retry-After"] = str(reset_seconds)
    return RateDecision(False, 429, headers, throttled_body(path))


_ALLOWED_PLAIN = RateDecision(True, 200, {}, None)


# --- the limiter ---------------------------------------------------------------------------------


class _RollingHour:
    """Calls in the last hour, counted per second."""

    def __init__(self) -> None:
        self._buckets: deque[list[int]] = deque()  # [second, calls], oldest first
        self._total = 0

    def count(self, now: float) -> int:
        oldest_kept = math.floor(now) - HOUR_SECONDS + 1
        while self._buckets and self._buckets[0][0] < oldest_kept:
            self._total -= self._buckets.popleft()[1]
        return self._total

    def add(self, now: float) -> None:
        second = math.floor(now)
        if self._buckets and self._buckets[-1][0] == second:
            self._buckets[-1][1] += 1
        else:
            self._buckets.append([second, 1])
        self._total += 1


class RateLimiter:
    """Counts calls per account and says whether each may proceed. Thread-safe."""

    def __init__(self, settings: RateLimitSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._hours: dict[str, _RollingHour] = {}
        self._windows: dict[tuple[str, Tier], tuple[int, int]] = {}  # -> (window index, calls)

    def update(self, settings: RateLimitSettings) -> None:
        """New limits apply at once to the calls already counted."""
        with self._lock:
            self.settings = settings

    def check(self, account: str, method: str, path: str) -> RateDecision:
        """Decide on one call and count it if allowed; admin paths are exempt and uncounted."""
        if is_admin_path(path):
            return _ALLOWED_PLAIN
        with self._lock:
            now = self._clock()
            settings = self.settings
            hour = self._hours.setdefault(account, _RollingHour())
            match settings.mode:
                case "off":
                    hour.add(now)
                    return _ALLOWED_PLAIN
                case "flat":
                    if hour.count(now) >= settings.flat_per_hour:
                        return RateDecision(False, 400, {}, {"message": FLAT_CAP_MESSAGE})
                    hour.add(now)
                    return _ALLOWED_PLAIN
                case "tiered":
                    return self._check_tier(account, method, path, now, hour)

    def _check_tier(
        self, account: str, method: str, path: str, now: float, hour: _RollingHour
    ) -> RateDecision:
        tier = tier_of(method, path)
        limit = self.settings.limit_of(tier)
        window = math.floor(now / WINDOW_SECONDS)
        reset_seconds = max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
        seen_window, calls = self._windows.get((account, tier), (window, 0))
        if seen_window != window:
            calls = 0
        if calls >= limit:
            return throttled(method, path, limit, reset_seconds)
        calls += 1
        self._windows[(account, tier)] = (window, calls)
        hour.add(now)
        headers = tier_headers(tier, limit, limit - calls, reset_seconds)
        return RateDecision(True, 200, headers, None)

    def usage(self, account: str) -> tuple[int, int]:
        """(calls in the last rolling hour, calls remaining) for account-info.

        Remaining is measured against the flat hourly cap in every mode: it is the figure
        account-info's ``ApiCallsRemaining`` has always meant, and tiered budgets are per minute.
        """
        with self._lock:
            hour = self._hours.get(account)
            calls = hour.count(self._clock()) if hour else 0
            return calls, max(0, self.settings.flat_per_hour - calls)
