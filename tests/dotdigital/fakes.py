"""Test doubles of the client's tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from dotsync.dotdigital import DotDigitalClient, RetryPolicy


class FakeTime:
    """``sleep`` records the wait and moves ``monotonic`` on; ``on_sleep`` hooks let a test act
    while the client waits (e.g. lift the emulator's rate limit, as a window reset would)."""

    def __init__(self) -> None:
        self.now = 10_000.0
        self.sleeps: list[float] = []
        self.on_sleep: list[Callable[[float], None]] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        for hook in self.on_sleep:
            hook(seconds)

    def monotonic(self) -> float:
        return self.now


class ClientFactory(Protocol):
    def __call__(
        self,
        base_url: str,
        credentials: tuple[str, str],
        *,
        retry: RetryPolicy = ...,
        **kwargs: Any,
    ) -> DotDigitalClient: ...
