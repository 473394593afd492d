"""The domain of the emulator: accounts, data fields, address books, contacts, suppressions and
imports, as one ``Store`` with methods; HTTP handlers stay thin around it.

The store is split by role into mixins (``books.py``, ``contacts.py``, ``imports.py``); this module
holds accounts, data fields and the clock.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Callable

from dotsync.emulator.base import Account, utc_now
from dotsync.emulator.db import Database
from dotsync.emulator.errors import ApiError
from dotsync.emulator.imports import ImportsMixin
from dotsync.emulator.reading import ReadingMixin
from dotsync.emulator.settings import AccountSettings, EmulatorSettings
from dotsync.emulator.values import (
    DEFAULT_FIELDS,
    FIELD_TYPES,
    ValueRejectedError,
    field_name,
    parse_value,
)

RESERVED_BOOKS = ("Test", "All Contacts")
__all__ = ["Account", "Store", "utc_now"]


class Store(ImportsMixin, ReadingMixin):
    def __init__(
        self, settings: EmulatorSettings, db: Database, clock: Callable[[], str] = utc_now
    ) -> None:
        self.settings = settings
        self.db = db
        self.now = clock
        ImportsMixin.__init__(self)
        ReadingMixin.__init__(self)

    # --- accounts -------------------------------------------------------------------------
    def add_account(self, spec: AccountSettings) -> Account:
        """Create an account with the reserved books and default data fields (idempotent)."""
        with self.db.tx() as conn:
            row = conn.execute(
                "SELECT id FROM accounts WHERE api_user = ?", (spec.api_user,)
            ).fetchone()
            if row is None:
                cur = conn.execute(
                    "INSERT INTO accounts (api_user, password, region, contact_limit) "
                    "VALUES (?, ?, ?, ?)",
                    (
                        spec.api_user,
                        spec.password.get_secret_value(),
                        spec.region,
                        spec.contact_limit,
                    ),
                )
                account_id = int(cur.lastrowid or 0)
                for name in RESERVED_BOOKS:
                    conn.execute(
                        "INSERT INTO books (account_id, name, visibility, reserved) "
                        "VALUES (?, ?, 'Private', ?)",
                        (account_id, name, name),
                    )
                conn.executemany(
                    "INSERT INTO data_fields VALUES (?, ?, ?, 'Private', NULL)",
                    [(account_id, name, kind) for name, kind in DEFAULT_FIELDS],
                )
        found = self.account(spec.api_user)
        assert found is not None
        return found

    def account(self, api_user: str) -> Account | None:
        row = self.db.one(
            "SELECT id, api_user, region, contact_limit FROM accounts WHERE api_user = ?",
            (api_user,),
        )
        return None if row is None else Account(row[0], row[1], row[2], row[3])

    def authenticate(self, api_user: str, password: str) -> Account | None:
        row = self.db.one("SELECT password FROM accounts WHERE api_user = ?", (api_user,))
        if row is None or not secrets.compare_digest(str(row[0]), password):
            return None
        return self.account(api_user)

    def accounts(self) -> list[Account]:
        rows = self.db.read("SELECT id, api_user, region, contact_limit FROM accounts ORDER BY id")
        return [Account(r[0], r[1], r[2], r[3]) for r in rows]

    # --- data fields ----------------------------------------------------------------------
    def list_data_fields(self, account: Account) -> list[dict[str, object]]:
        rows = self.db.read(
            "SELECT name, type, visibility, default_value FROM data_fields "
            "WHERE account_id = ? ORDER BY name",
            (account.id,),
        )
        return [
            {
                "name": r[0],
                "type": r[1],
                "visibility": r[2],
                "defaultValue": None if r[3] is None else json.loads(r[3]),
            }
            for r in rows
        ]

    def create_data_field(
        self, account: Account, name: str, kind: str, visibility: str, default: object
    ) -> dict[str, object]:
        if kind not in FIELD_TYPES or visibility not in ("Private", "Public"):
            raise ApiError(400, "ERROR_DATAFIELD_INVALID", "Data field type or visibility is wrong")
        try:
            upper = field_name(name)
            default_value = parse_value(kind, default)
        except ValueRejectedError as exc:
            raise ApiError(400, exc.code, exc.sentence) from exc
        try:
            with self.db.tx() as conn:
                conn.execute(
                    "INSERT INTO data_fields VALUES (?, ?, ?, ?, ?)",
                    (
                        account.id,
                        upper,
                        kind,
                        visibility,
                        None if default_value is None else json.dumps(default_value),
                    ),
                )
        except sqlite3.IntegrityError as exc:
            raise ApiError(400, "ERROR_NON_UNIQUE_DATAFIELD", "Field already exists") from exc
        return {
            "name": upper,
            "type": kind,
            "visibility": visibility,
            "defaultValue": default_value,
        }

    def delete_data_field(self, account: Account, name: str) -> None:
        with self.db.tx() as conn:
            cur = conn.execute(
                "DELETE FROM data_fields WHERE account_id = ? AND name = ?",
                (account.id, name.upper()),
            )
            if cur.rowcount == 0:
                raise ApiError(404, "ERROR_DATAFIELD_NOTFOUND", "Data field not found")
            # Values of a deleted field disappear from every contact, as in DotDigital.
            conn.execute(
                "UPDATE contacts SET fields = json_remove(fields, ?) "
                "WHERE account_id = ? AND fields IS NOT NULL",
                (f'$."{name.upper()}"', account.id),
            )

    # --- suppressions set from outside (seed, admin API) -----------------------------------
    def suppress(
        self, account: Account, email: str, status: str, scope: str, at: str | None = None
    ) -> None:
        """``scope``: ``account`` (the contact's status), ``global`` (every account) or
        ``domain`` (``email`` is a domain; every address there is suppressed). ``at``: when it
        happened (default now), as the suppressed-since feeds report it."""
        email = email.strip().lower()
        with self.db.tx() as conn:
            if scope == "global":
                conn.execute(
                    "INSERT OR REPLACE INTO global_suppressions VALUES (?, ?)", (email, status)
                )
            elif scope == "domain":
                conn.execute(
                    "INSERT OR IGNORE INTO domain_suppressions VALUES (?, ?)",
                    (account.id, email.split("@")[-1]),
                )
            else:
                now = at or self.now()
                conn.execute(
                    "INSERT INTO contacts (account_id, email, status, created, modified, "
                    "suppressed_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (account_id, email) "
                    "DO UPDATE SET status = excluded.status, modified = excluded.modified, "
                    "suppressed_at = excluded.suppressed_at",
                    (account.id, email, status, now, now, now),
                )
