"""Settings of the emulator: accounts and the behaviour knobs (limits, speed, watchdog).

Rate limits and faults have their own settings models (``ratelimit.py``, ``faults.py``); they are
nested here so that one object describes a whole emulator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from dotsync.emulator.faults import FaultSettings
from dotsync.emulator.ratelimit import RateLimitSettings

Region = Literal["r1", "r2", "r3"]
REGIONS: tuple[Region, ...] = ("r1", "r2", "r3")

DEFAULT_API_USER = "demo@apiconnector.com"
DEFAULT_PASSWORD = "demo"  # noqa: S105 - the documented demo password of a local emulator


class AccountSettings(BaseModel):
    """One DotDigital API user with its own data."""

    model_config = ConfigDict(frozen=True)

    api_user: str = DEFAULT_API_USER
    password: SecretStr = SecretStr(DEFAULT_PASSWORD)
    region: Region = "r1"
    contact_limit: int | None = Field(default=None, ge=0)  # contract cap on contacts held


class EmulatorSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    accounts: list[AccountSettings] = Field(default_factory=lambda: [AccountSettings()])
    import_rate: float | None = Field(default=None, gt=0)  # contacts/s; None = as fast as it can
    max_active_imports: int = Field(default=25, ge=1)
    max_file_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    # Share (0..1) of bad rows in a file above which the whole file is RejectedByWatchdog.
    # DotDigital does not publish its watchdog's rule; a share of bad rows is our model of it.
    watchdog_max_bad_share: float | None = Field(default=None, ge=0, le=1)
    state_file: Path | None = None  # SQLite file; None keeps everything in memory
    seed_file: Path | None = None  # JSON, see seed.py
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    faults: FaultSettings = Field(default_factory=FaultSettings)
