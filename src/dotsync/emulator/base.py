"""What the store's mixins share: the account value, the clock, the database handle."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from dotsync.emulator.db import Database
from dotsync.emulator.settings import EmulatorSettings


@dataclass(frozen=True)
class Account:
    id: int
    api_user: str
    region: str
    contact_limit: int | None


def timestamp(moment: datetime) -> str:
    """Timestamps are stored as sortable ISO strings ending in Z (milliseconds): valid OpenAPI
    date-times. A naive ``moment`` is UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def utc_now() -> str:
    return timestamp(datetime.now(UTC))


class StoreBase:
    settings: EmulatorSettings
    db: Database
    now: Callable[[], str]

    def field_types(self, account: Account) -> dict[str, str]:
        """Data field name -> type, in creation order (the order of ``dataFields`` replies)."""
        rows = self.db.read(
            "SELECT name, type FROM data_fields WHERE account_id = ? ORDER BY rowid", (account.id,)
        )
        return {r[0]: r[1] for r in rows}
