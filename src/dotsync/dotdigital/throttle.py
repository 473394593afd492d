"""Throttle before sending, so a run spends its budget instead of bumping into 429s.

DotDigital's tiered limits count calls per account per tier per minute
(https://developer.dotdigital.com/docs/call-rate-limits). For each tier the throttle holds a window
end and the calls left in it. The budget starts from our own setting (``per_minute``, None:
unknown) and the ``X-RateLimit-Remaining``/``-Reset`` headers of each reply can only lower it (the
airbyte call_rate pattern): another process spending the same account's budget shows up in the
headers, and we slow down with it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from dotsync.dotdigital.retry import parse_reset_seconds

Tier = Literal["low", "medium", "high"]

_SCOPES: dict[str, Tier] = {
    "lowcallrate": "low",
    "mediumcallrate": "medium",
    "highcallrate": "high",
}
_WINDOW_SECONDS = 60.0

# Large reads and bulk writes: DotDigital's "low" tier ("data-heavy operations such as bulk
# imports and large data returns").
_LOW_TEMPLATES = frozenset(
    {
        "PUT /contacts/v3/import",
        "POST /v2/address-books/{id}/contacts/delete",
        "GET /v2/address-books",
        "GET /v2/address-books/{id}/contacts",
        "GET /contacts/v3",
        "GET /v2/address-books/{id}/contacts/modified-since/{id}",
        "GET /v2/address-books/{id}/contacts/unsubscribed-since/{id}",
        "GET /v2/contacts/suppressed-since/{id}",
        "GET /v2/contacts/unsubscribed-since/{id}",
    }
)


def tier_of(endpoint: str) -> Tier:
    """The tier of an endpoint template (``"GET /v2/address-books/{id}"``). An assumption: the
    documents list kinds of calls per tier, not endpoints; we follow the emulator's reading."""
    if endpoint in _LOW_TEMPLATES:
        return "low"
    if endpoint.startswith("GET "):
        return "high"
    return "medium"


def tier_of_scope(scope: str | None) -> Tier | None:
    return _SCOPES.get(scope.lower()) if scope else None


@dataclass
class _Window:
    ends_at: float
    remaining: float  # calls left until ends_at; inf when unknown


class Throttle:
    def __init__(
        self,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
        per_minute: Mapping[Tier, int] | None = None,
    ) -> None:
        self._clock = clock
        self._wall_clock = wall_clock
        self._per_minute = dict(per_minute or {})
        self._windows: dict[Tier, _Window] = {}
        self._lock = threading.Lock()

    def reserve(self, tier: Tier) -> float:
        """Take one call from the tier's budget and return 0, or return the seconds to wait
        before asking again (nothing taken)."""
        with self._lock:
            now = self._clock()
            window = self._current_window(tier, now)
            if window.remaining < 1:
                return max(window.ends_at - now, 0.001)
            window.remaining -= 1
            return 0.0

    def observe(self, tier: Tier, headers: Mapping[str, str]) -> None:
        """Lower the budget to what a reply's headers say is left (never raise it), and take the
        window's end from the newest reply that agrees with or lowers the count.

        A reply confirming the count we already hold (we took the call from the budget before
        sending) still brings the freshest reset: the reset is counted in whole seconds, so two
        replies of one window can differ by a second, and the reply that spent the budget is the
        one to wait on. A reply with more left than we hold keeps both: it may come from a window
        that has rolled over while our own calls are still in flight."""
        remaining = _int_or_none(headers.get("x-ratelimit-remaining"))
        if remaining is None:
            return
        tier = tier_of_scope(headers.get("x-ratelimit-scope")) or tier
        reset_in = parse_reset_seconds(headers.get("x-ratelimit-reset"), self._wall_clock())
        with self._lock:
            now = self._clock()
            window = self._current_window(tier, now)
            if remaining <= window.remaining:
                window.remaining = remaining
                if reset_in is not None:
                    window.ends_at = now + reset_in

    def _current_window(self, tier: Tier, now: float) -> _Window:
        window = self._windows.get(tier)
        if window is None or now >= window.ends_at:
            limit = self._per_minute.get(tier)
            window = _Window(now + _WINDOW_SECONDS, float("inf") if limit is None else limit)
            self._windows[tier] = window
        return window


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
