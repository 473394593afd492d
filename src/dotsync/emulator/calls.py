"""Counts of the calls the emulator received, per endpoint and status, for the admin API and the
benchmarks (which compare how many calls each strategy costs)."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass
from typing import Any

TIMELINE_SIZE = 100_000  # the latest calls kept with their times


@dataclass(frozen=True)
class TimedCall:
    """One call with when it started and ended (the emulator's clock, seconds since the epoch),
    the API user, and the run that made it (dotsync's ``X-Dotsync-Run`` header, if sent)."""

    call: str
    api_user: str
    run: str | None
    started: float
    ended: float


class CallCounter:
    """Calls per ``"METHOD template"`` (e.g. ``"PUT /contacts/v3/import"``) and status. Thread-safe.

    Keys use the route *template*, not the concrete path, so that a thousand lookups of different
    contacts count as one endpoint.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_status: dict[str, Counter[str]] = {}
        self._timeline: deque[TimedCall] = deque(maxlen=TIMELINE_SIZE)

    def record(
        self,
        method: str,
        template: str,
        status: int,
        *,
        api_user: str = "",
        run: str | None = None,
        started: float | None = None,
    ) -> None:
        key = f"{method.upper()} {template}"
        ended = time.time()
        with self._lock:
            self._by_status.setdefault(key, Counter())[str(status)] += 1
            self._timeline.append(
                TimedCall(key, api_user, run, ended if started is None else started, ended)
            )

    def timeline(self) -> list[dict[str, Any]]:
        """The latest calls in the order they ended: which runs overlapped on an account."""
        with self._lock:
            return [asdict(call) for call in self._timeline]

    def snapshot(self) -> dict[str, int]:
        """Calls per endpoint, sorted by key for stable reports."""
        with self._lock:
            return {key: sum(counts.values()) for key, counts in sorted(self._by_status.items())}

    def by_status(self) -> dict[str, dict[str, int]]:
        """Calls per endpoint, per status code (as a string, for JSON)."""
        with self._lock:
            return {
                key: dict(sorted(counts.items())) for key, counts in sorted(self._by_status.items())
            }

    def total(self) -> int:
        with self._lock:
            return sum(sum(counts.values()) for counts in self._by_status.values())

    def reset(self) -> None:
        with self._lock:
            self._by_status.clear()
            self._timeline.clear()
