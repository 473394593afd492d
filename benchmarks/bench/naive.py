"""The naive export, as per-record reverse-ETL tools do it: one
``POST /v2/address-books/{id}/contacts`` per profile, sequentially, on a keep-alive connection.

It runs on a sample and is extrapolated linearly to the segment (per-record cost does not depend
on how many came before). Two extrapolations: at the emulator's speed (the best case: no network
latency, no rate limit), and under DotDigital's limits, where the call budget, not speed, decides.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import SecretStr

from dotsync.dotdigital import DotDigitalClient

# Single-contact writes are in the medium tier; DotDigital publishes no number, so this is the
# emulator's guess (ratelimit.py). The legacy scheme allows 2,000 calls an hour whatever the call.
MEDIUM_TIER_PER_MINUTE = 600
LEGACY_PER_HOUR = 2000


@dataclass(frozen=True)
class NaiveResult:
    sample: int
    wall_s: float
    per_second: float
    extrapolated_to: int
    extrapolated_s: float  # at the emulator's speed
    tiered_limit_s: float  # at 600 single writes a minute
    legacy_limit_s: float  # at 2,000 calls an hour

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_naive(
    base_url: str,
    api_user: str,
    password: str,
    book_id: int,
    sample: list[dict[str, str | None]],
    extrapolate_to: int,
) -> NaiveResult:
    with DotDigitalClient(api_user, SecretStr(password), base_url) as client:
        client.discover()  # not timed: the bulk runs pay for it, but it is one call
        # A fresh account lacks the custom field (dotsync creates it when asked); not timed.
        if "LOYALTY_TIER" not in {f.name.upper() for f in client.data_fields()}:
            client.create_data_field("LOYALTY_TIER")
        started = time.perf_counter()
        for row in sample:
            fields = {k: v for k, v in row.items() if k != "email" and v is not None}
            client.add_contact_to_book(book_id, str(row["email"]), fields)
        wall = time.perf_counter() - started
    per_second = len(sample) / wall if wall else 0.0
    return NaiveResult(
        sample=len(sample),
        wall_s=wall,
        per_second=per_second,
        extrapolated_to=extrapolate_to,
        extrapolated_s=extrapolate_to / per_second if per_second else float("inf"),
        tiered_limit_s=extrapolate_to / MEDIUM_TIER_PER_MINUTE * 60,
        legacy_limit_s=extrapolate_to / LEGACY_PER_HOUR * 3600,
    )
