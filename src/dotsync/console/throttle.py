"""Login throttling: a sliding window of failed sign-ins per user name and per client address.

Pure (the clock is injected) and in memory: a restart forgets the counts, which costs an attacker
a restart they cannot cause. Per address the limit is higher, as an office behind one NAT address
holds many users. A throttled attempt is refused before its password is checked, so the answer
says nothing about the password.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

USER_LIMIT = 5  # failed sign-ins of one user name per window
ADDRESS_LIMIT = 20  # failed sign-ins from one client address per window
WINDOW_SECONDS = 15 * 60
_MAX_KEYS = 10_000  # bounds the memory a flood of made-up names can take


@dataclass
class LoginThrottle:
    user_limit: int = USER_LIMIT
    address_limit: int = ADDRESS_LIMIT
    window: float = WINDOW_SECONDS
    clock: Callable[[], float] = time.monotonic
    _failures: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def retry_after(self, user: str, address: str) -> int | None:
        """Seconds to wait before this user name or address may try again; None: it may now."""
        now = self.clock()
        waits = []
        with self._lock:
            for key, limit in self._keys(user, address):
                recent = self._recent(key, now)
                if len(recent) >= limit:
                    waits.append(recent[-limit] + self.window - now)
        return max(1, math.ceil(max(waits))) if waits else None

    def failed(self, user: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            if len(self._failures) > _MAX_KEYS:
                self._prune(now)
            for key, _ in self._keys(user, address):
                self._failures.setdefault(key, []).append(now)

    def succeeded(self, user: str) -> None:
        with self._lock:
            self._failures.pop(("user", user.lower()), None)

    def _keys(self, user: str, address: str) -> list[tuple[tuple[str, str], int]]:
        return [
            (("user", user.lower()), self.user_limit),
            (("address", address), self.address_limit),
        ]

    def _recent(self, key: tuple[str, str], now: float) -> list[float]:
        recent = [at for at in self._failures.get(key, []) if at > now - self.window]
        if recent:
            self._failures[key] = recent
        else:
            self._failures.pop(key, None)
        return recent

    def _prune(self, now: float) -> None:
        for key in list(self._failures):
            self._recent(key, now)
