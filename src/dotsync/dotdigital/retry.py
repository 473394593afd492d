"""How long to wait before the next attempt: backoff schedules and rate-limit headers.

Pure functions over numbers and header values; the client does the sleeping.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

# X-RateLimit-Reset is documented as a "UTC epoch timestamp"
# (https://developer.dotdigital.com/docs/call-rate-limits) but clients in the field read it as
# seconds to wait, so accept both. A value above 10^9
# (2001-09-09 as an epoch, 31 years as a delay) can only be an epoch.
_EPOCH_THRESHOLD = 1e9


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of failed calls and waits on rate limits.

    - 5xx, timeouts and dropped connections: up to ``max_attempts`` attempts in all, waiting
      ``random() * min(cap, base * 2**n)`` before retry ``n`` (0-based): exponential backoff with
      full jitter, so clients sharing an account do not retry in lockstep.
    - 429 / ``ERROR_APIUSAGE_EXCEEDED``: wait what the headers say, or when they say nothing,
      ``rate_limit_backoff(n)``; give up (``RateLimitedError``) once the waits of one call would
      pass ``max_rate_limit_wait`` seconds.
    - 25 imports already active: wait ``busy_backoff(n)``, up to ``max_busy_wait`` seconds in all.

    ``random`` returns a float in [0, 1); inject a seeded ``random.Random().random`` in tests.
    """

    max_attempts: int = 6
    base: float = 0.5
    cap: float = 30.0
    max_rate_limit_wait: float = 3600.0
    # The flat limit counts calls over a rolling hour: retrying every few seconds would only spend
    # more of it, so its waits start at a minute (assumption: DotDigital does not say how long the
    # cap lasts).
    rate_limit_base: float = 60.0
    rate_limit_cap: float = 600.0
    # An import of a few hundred thousand contacts takes minutes on DotDigital's side.
    busy_base: float = 5.0
    busy_cap: float = 60.0
    max_busy_wait: float = 1800.0
    random: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def backoff(self, retry_index: int) -> float:
        """Full jitter: anything between 0 and the capped exponential delay."""
        return self.random() * _capped_exponential(self.base, self.cap, retry_index)

    def rate_limit_backoff(self, wait_index: int) -> float:
        """Half jitter: never less than half the delay, as a near-zero wait would waste a call."""
        return _half_jitter(self.random(), self.rate_limit_base, self.rate_limit_cap, wait_index)

    def busy_backoff(self, wait_index: int) -> float:
        return _half_jitter(self.random(), self.busy_base, self.busy_cap, wait_index)


@dataclass(frozen=True)
class PollPolicy:
    """Polling an import or a deletion until it ends: ``start`` seconds, times ``factor``, up to
    ``cap``; so a long import costs few calls (the flat limit is 2,000 calls an hour).
    ``max_wait`` bounds the whole poll (None: no bound)."""

    start: float = 0.5
    factor: float = 1.5
    cap: float = 30.0
    max_wait: float | None = 6 * 3600.0

    def delay(self, poll_index: int) -> float:
        return min(self.cap, self.start * self.factor**poll_index)


def _capped_exponential(base: float, cap: float, index: int) -> float:
    # min() before the power would overflow for large indexes; 2**60 is far past any cap.
    return min(cap, base * 2.0 ** min(index, 60))


def _half_jitter(draw: float, base: float, cap: float, index: int) -> float:
    delay = _capped_exponential(base, cap, index)
    return delay / 2 + draw * delay / 2


def parse_reset_seconds(value: str | None, now_epoch: float) -> float | None:
    """``X-RateLimit-Reset``: seconds to wait, or an epoch time when larger than 10^9."""
    number = _parse_number(value)
    if number is None:
        return None
    if number > _EPOCH_THRESHOLD:
        return max(0.0, number - now_epoch)
    return max(0.0, number)


def parse_retry_after(value: str | None, now_epoch: float) -> float | None:
    """``Retry-After``: delay-seconds or an HTTP date (RFC 9110 10.2.3)."""
    number = _parse_number(value)
    if number is not None:
        return max(0.0, number)
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - now_epoch)


def rate_limit_wait(headers: Mapping[str, str], now_epoch: float) -> float | None:
    """Seconds a 429 asks us to wait, from ``X-RateLimit-Reset`` or ``Retry-After`` (the longer
    of the two when both are present: waiting less would be refused again), else None."""
    waits = [
        wait
        for wait in (
            parse_reset_seconds(headers.get("x-ratelimit-reset"), now_epoch),
            parse_retry_after(headers.get("retry-after"), now_epoch),
        )
        if wait is not None
    ]
    return max(waits) if waits else None


def _parse_number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if number == number else None  # NaN is no number of seconds
