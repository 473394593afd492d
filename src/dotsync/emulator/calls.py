"""Counts of the calls the emulator received, per endpoint and status, for the admin API and the
benchmarks (which compare how many calls each strategy costs)."""

from __future__ import annotations

import threading
from collections import Counter


class CallCounter:
    """Calls per ``"METHOD template"`` (e.g. ``"PUT /contacts/v3/import"``) and status. Thread-safe.

    Keys use the route *template*, not the concrete path, so that a thousand lookups of different
    contacts count as one endpoint.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_status: dict[str, Counter[str]] = {}

    def record(self, method: str, template: str, status: int) -> None:
        key = f"{method.upper()} {template}"
        with self._lock:
            self._by_status.setdefault(key, Counter())[str(status)] += 1

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
