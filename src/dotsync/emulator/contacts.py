"""Contacts of the store: one-by-one writes, book membership, unsubscribes and suppressions.
Removing a contact from a book never deletes the contact from the account."""

from __future__ import annotations

import json
import sqlite3
import uuid
from typing import Any

from dotsync.emulator.base import Account
from dotsync.emulator.books import BooksMixin
from dotsync.emulator.errors import CONTACT_NOT_FOUND, ApiError, invalid
from dotsync.emulator.values import (
    SUPPRESSIONS,
    StoredValue,
    ValueRejectedError,
    is_valid_email,
    normalize_email,
    parse_value,
)

CONTACT_COLUMNS = "id, email, status, opt_in, email_type, fields, suppressed_at"
_PREFIXED = ", ".join(f"c.{c.strip()}" for c in CONTACT_COLUMNS.split(","))


def contact_json(row: sqlite3.Row, fields: dict[str, str] | None) -> dict[str, Any]:
    """An ``ApiContact``. ``fields`` None: ``dataFields`` is null (lists without withFullData);
    otherwise every data field of the account, null where unset."""
    data: list[dict[str, Any]] | None = None
    if fields is not None:
        stored = json.loads(row["fields"]) if row["fields"] else {}
        data = [{"key": name, "value": stored.get(name)} for name in fields]
    return {
        "id": row["id"],
        "email": row["email"],
        "optInType": row["opt_in"],
        "emailType": row["email_type"],
        "dataFields": data,
        "status": row["status"],
    }


class ContactsMixin(BooksMixin):
    def contact_row(self, account: Account, id_or_email: str) -> sqlite3.Row:
        if id_or_email.isdigit():
            row = self.db.one(
                f"SELECT {CONTACT_COLUMNS} FROM contacts WHERE id = ? AND account_id = ?",
                (int(id_or_email), account.id),
            )
        else:
            row = self.db.one(
                f"SELECT {CONTACT_COLUMNS} FROM contacts WHERE account_id = ? AND email = ?",
                (account.id, normalize_email(id_or_email)),
            )
        if row is None:
            raise ApiError(404, CONTACT_NOT_FOUND, "Contact not found")
        return row

    def get_contact(self, account: Account, id_or_email: str) -> dict[str, Any]:
        return contact_json(self.contact_row(account, id_or_email), self.field_types(account))

    def typed_fields(
        self, account: Account, pairs: list[tuple[str, object]]
    ) -> dict[str, StoredValue]:
        """Validate ``(key, value)`` pairs of a single write against the account's fields."""
        types = self.field_types(account)
        out: dict[str, StoredValue] = {}
        for key, raw in pairs:
            name = key.upper()
            if name not in types:
                raise ApiError(
                    400, "ERROR_DATAFIELD_NOTFOUND", f"Data field '{key}' does not exist"
                )
            try:
                out[name] = parse_value(types[name], raw)
            except ValueRejectedError as exc:
                raise ApiError(400, exc.code, exc.sentence) from exc
        return out

    def upsert_contact(
        self,
        account: Account,
        email: str,
        opt_in: str,
        email_type: str,
        fields: dict[str, StoredValue],
    ) -> sqlite3.Row:
        """Create the contact or overwrite the data given (a null value clears a field)."""
        email = normalize_email(email)
        if not is_valid_email(email):
            raise invalid("Email is not a valid email address")
        now = self.now()
        with self.db.tx() as conn:
            conn.execute(
                "INSERT INTO contacts (account_id, email, opt_in, email_type, fields, created, "
                "modified) VALUES (?, ?, ?, ?, json_patch('{}', ?), ?, ?) "
                "ON CONFLICT (account_id, email) DO UPDATE SET opt_in = excluded.opt_in, "
                "email_type = excluded.email_type, modified = excluded.modified, "
                "fields = json_patch(coalesce(contacts.fields, '{}'), ?)",
                (
                    account.id,
                    email,
                    opt_in,
                    email_type,
                    json.dumps(fields),
                    now,
                    now,
                    json.dumps(fields),
                ),
            )
        return self.contact_row(account, email)

    def add_to_book(
        self,
        account: Account,
        book_id: int,
        email: str,
        opt_in: str,
        email_type: str,
        fields: dict[str, StoredValue],
    ) -> dict[str, Any]:
        book = self.writable_book(account, book_id)
        existing = self.db.one(
            "SELECT id, status FROM contacts WHERE account_id = ? AND email = ?",
            (account.id, normalize_email(email)),
        )
        if existing is not None and existing["status"] in SUPPRESSIONS:
            raise invalid("Contact is suppressed", "ERROR_CONTACT_SUPPRESSED")
        if existing is not None and self.db.one(
            "SELECT 1 FROM book_unsubscribes WHERE book_id = ? AND contact_id = ?",
            (book_id, existing["id"]),
        ):
            raise invalid(
                "Contact is suppressed for this address book",
                "ERROR_CONTACT_SUPPRESSEDFORADDRESSBOOK",
            )
        # Adding a contact to a book sets its modified date (upsert_contact always does, even
        # when no value changes). DotDigital does not document this; we assume it so that a
        # reader of ``~modified`` / ``modified-since`` sees the contacts added to a book.
        row = self.upsert_contact(account, email, opt_in, email_type, fields)
        if book["reserved"] is None:
            with self.db.tx() as conn:
                conn.execute("INSERT OR IGNORE INTO members VALUES (?, ?)", (book_id, row["id"]))
                self.db.members_changed((book_id,))
        return contact_json(row, self.field_types(account))

    def remove_from_book(self, account: Account, book_id: int, contact_id: int) -> None:
        self.writable_book(account, book_id)
        with self.db.tx() as conn:
            cur = conn.execute(
                "DELETE FROM members WHERE book_id = ? AND contact_id = ?", (book_id, contact_id)
            )
            self.db.members_changed((book_id,))
        if cur.rowcount == 0:
            raise ApiError(404, CONTACT_NOT_FOUND, "Contact not found in this address book")

    def bulk_remove(self, account: Account, book_id: int, ids: list[int] | None) -> dict[str, str]:
        """Remove ``ids`` (every member when None). DotDigital runs this as a job; ours is done
        at once but, like DotDigital, the reply says ``Started`` and the status says the rest."""
        self.writable_book(account, book_id)
        deletion = str(uuid.uuid4())
        with self.db.tx() as conn:
            if ids is None:
                conn.execute("DELETE FROM members WHERE book_id = ?", (book_id,))
            else:
                conn.executemany(
                    "DELETE FROM members WHERE book_id = ? AND contact_id = ?",
                    [(book_id, i) for i in ids],
                )
            conn.execute("INSERT INTO deletions VALUES (?, ?, 'Completed')", (deletion, account.id))
            self.db.members_changed((book_id,))
        return {"id": deletion, "status": "Started"}

    def deletion_status(self, account: Account, deletion_id: str) -> dict[str, str]:
        row = self.db.one(
            "SELECT id, status FROM deletions WHERE id = ? AND account_id = ?",
            (deletion_id.lower(), account.id),
        )
        if row is None:
            raise ApiError(404, "ERROR_NOT_FOUND", "Deletion request not found")
        return {"id": row[0], "status": row[1]}

    def unsubscribe(
        self, account: Account, book_id: int | None, email: str, at: str | None = None
    ) -> dict[str, Any]:
        """From one book (the contact stays subscribed elsewhere) or, without a book, from the
        account (status Unsubscribed: no import adds it to any book again). ``at``: when (the
        admin API back-dates; default now), as the unsubscribed-since feeds report it."""
        row = self.contact_row(account, email)
        now = at or self.now()
        if book_id is not None:
            self.writable_book(account, book_id)
        with self.db.tx() as conn:
            if book_id is not None:
                conn.execute(
                    "DELETE FROM members WHERE book_id = ? AND contact_id = ?", (book_id, row["id"])
                )
                conn.execute(
                    "INSERT OR REPLACE INTO book_unsubscribes VALUES (?, ?, ?)",
                    (book_id, row["id"], now),
                )
                self.db.members_changed((book_id,))
            else:
                conn.execute(
                    "UPDATE contacts SET status = 'Unsubscribed', suppressed_at = ?, "
                    "modified = ? WHERE id = ?",
                    (now, now, row["id"]),
                )
        contact = contact_json(self.contact_row(account, email), None)
        return {"suppressedContact": contact, "dateRemoved": now, "reason": "Unsubscribed"}

    def resubscribe(
        self, account: Account, book_id: int | None, email: str, challenge: bool
    ) -> dict[str, Any]:
        """Only a contact that unsubscribed itself can come back; bounces and complaints
        cannot (``ContactCannotBeUnsuppressed``). A challenge leaves it ``PendingOptIn``."""
        row = self.contact_row(account, email)
        if row["status"] in SUPPRESSIONS and row["status"] != "Unsubscribed":
            return {"contact": contact_json(row, None), "status": "ContactCannotBeUnsuppressed"}
        new_status = "PendingOptIn" if challenge else "Subscribed"
        now = self.now()
        if book_id is not None:
            self.writable_book(account, book_id)
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE contacts SET status = ?, suppressed_at = NULL, modified = ? WHERE id = ?",
                (new_status, now, row["id"]),
            )
            if book_id is not None:
                conn.execute(
                    "DELETE FROM book_unsubscribes WHERE book_id = ? AND contact_id = ?",
                    (book_id, row["id"]),
                )
                conn.execute("INSERT OR IGNORE INTO members VALUES (?, ?)", (book_id, row["id"]))
                self.db.members_changed((book_id,))
        result = "ContactChallenged" if challenge else "ContactAdded"
        return {"contact": contact_json(self.contact_row(account, email), None), "status": result}

    def book_members(self, account: Account, book_id: int) -> list[dict[str, Any]]:
        """Every member with its data fields as an object (admin API, tests)."""
        rows = self.db.read(
            f"SELECT {_PREFIXED} FROM members m "
            "JOIN contacts c ON c.id = m.contact_id "
            "WHERE m.book_id = ? ORDER BY c.id",
            (book_id,),
        )
        return [
            {
                "id": r["id"],
                "email": r["email"],
                "status": r["status"],
                "dataFields": json.loads(r["fields"]) if r["fields"] else {},
            }
            for r in rows
        ]
