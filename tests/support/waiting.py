"""Waiting for what a real process does: poll until a condition holds, or fail saying what."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import httpx

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T | None], what: str, seconds: float = 60, every: float = 0.1
) -> T:
    """The condition's first truthy value; a server not listening yet (``httpx.TransportError``)
    counts as not yet."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            value = condition()
        except httpx.TransportError:
            value = None
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")
