"""A faithful local DotDigital API emulator: the v2 and v3 calls dotsync uses, with DotDigital's
shapes, errors, limits, asynchronous imports and suppression rules, plus an admin API under
``/_emulator/`` (see ``admin.py``) for tests and benchmarks."""

from __future__ import annotations

from dotsync.emulator.app import create_app
from dotsync.emulator.faults import FaultSettings
from dotsync.emulator.ratelimit import RateLimitSettings
from dotsync.emulator.server import serve
from dotsync.emulator.settings import AccountSettings, EmulatorSettings
from dotsync.emulator.testing import RunningEmulator, run_emulator

__all__ = [
    "AccountSettings",
    "EmulatorSettings",
    "FaultSettings",
    "RateLimitSettings",
    "RunningEmulator",
    "create_app",
    "run_emulator",
    "serve",
]
