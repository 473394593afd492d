"""Counts of the calls a client made, per endpoint template ("PUT /contacts/v3/import").

Thread-safe: several threads may share one client (and so one ``CallStats``). Templates, not
concrete paths, so the keys carry no ids and no e-mail addresses and stay few.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CallStatsSnapshot:
    calls: dict[str, int] = field(default_factory=dict)  # requests sent, retries included
    rate_limited: dict[str, int] = field(default_factory=dict)  # 429 / ERROR_APIUSAGE_EXCEEDED
    retries: dict[str, int] = field(default_factory=dict)  # requests sent again after a wait
    bytes_uploaded: int = 0  # request bodies sent, every attempt counted

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def total_retries(self) -> int:
        return sum(self.retries.values())


class CallStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._rate_limited: Counter[str] = Counter()
        self._retries: Counter[str] = Counter()
        self._bytes_uploaded = 0

    def record_call(self, endpoint: str, body_bytes: int = 0) -> None:
        with self._lock:
            self._calls[endpoint] += 1
            self._bytes_uploaded += body_bytes

    def record_rate_limited(self, endpoint: str) -> None:
        with self._lock:
            self._rate_limited[endpoint] += 1

    def record_retry(self, endpoint: str) -> None:
        with self._lock:
            self._retries[endpoint] += 1

    def snapshot(self) -> CallStatsSnapshot:
        with self._lock:
            return CallStatsSnapshot(
                calls=dict(self._calls),
                rate_limited=dict(self._rate_limited),
                retries=dict(self._retries),
                bytes_uploaded=self._bytes_uploaded,
            )

    # Shortcuts for RunCounts (api_calls, api_calls_by_endpoint, rate_limited_by_endpoint, ...).
    @property
    def calls(self) -> dict[str, int]:
        return self.snapshot().calls

    @property
    def rate_limited(self) -> dict[str, int]:
        return self.snapshot().rate_limited

    @property
    def retries(self) -> int:
        return self.snapshot().total_retries

    @property
    def bytes_uploaded(self) -> int:
        return self.snapshot().bytes_uploaded

    @property
    def total_calls(self) -> int:
        return self.snapshot().total_calls

    def __repr__(self) -> str:
        snap = self.snapshot()
        return (
            f"CallStats(calls={snap.total_calls}, retries={snap.total_retries}, "
            f"rate_limited={sum(snap.rate_limited.values())}, bytes={snap.bytes_uploaded})"
        )
