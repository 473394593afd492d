"""Everything one running emulator holds, shared by the gateway, the handlers and the admin API."""

from __future__ import annotations

from dataclasses import dataclass

from dotsync.emulator.calls import CallCounter
from dotsync.emulator.faults import FaultInjector
from dotsync.emulator.ratelimit import RateLimiter
from dotsync.emulator.settings import EmulatorSettings
from dotsync.emulator.store import Store


@dataclass
class Runtime:
    settings: EmulatorSettings
    store: Store
    limiter: RateLimiter
    injector: FaultInjector  # replaced as a whole when the admin API sets new faults
    calls: CallCounter
