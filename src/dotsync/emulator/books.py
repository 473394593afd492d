"""Address books of the store. ``Test`` and ``All Contacts`` are reserved in every account:
``All Contacts`` is virtual (every contact of the account is in it), ``Test`` cannot be written."""

from __future__ import annotations

import sqlite3
from typing import Any

from dotsync.emulator.base import Account, StoreBase
from dotsync.emulator.errors import BOOK_NOT_FOUND, ApiError, invalid

NOT_WRITABLE = "ERROR_ADDRESSBOOK_NOTWRITABLE"
# DotDigital does not document the status of NOTWRITABLE; a refused request is a 400 (inferred).
_NOT_WRITABLE_SENTENCE = "The address book cannot be written to"


class BooksMixin(StoreBase):
    def book_row(self, account: Account, book_id: int) -> sqlite3.Row:
        row = self.db.one(
            "SELECT id, name, visibility, reserved FROM books WHERE id = ? AND account_id = ?",
            (book_id, account.id),
        )
        if row is None:
            raise ApiError(404, BOOK_NOT_FOUND, "Address book not found")
        return row

    def writable_book(self, account: Account, book_id: int) -> sqlite3.Row:
        """The book contacts can be added to: any but ``Test``."""
        row = self.book_row(account, book_id)
        if row["reserved"] == "Test":
            raise ApiError(400, NOT_WRITABLE, _NOT_WRITABLE_SENTENCE)
        return row

    def _book_json(self, account: Account, row: sqlite3.Row) -> dict[str, Any]:
        if row["reserved"] == "All Contacts":
            count = self.db.one("SELECT count(*) FROM contacts WHERE account_id = ?", (account.id,))
        else:
            count = self.db.one("SELECT count(*) FROM members WHERE book_id = ?", (row["id"],))
        return {
            "id": row["id"],
            "name": row["name"],
            "visibility": row["visibility"],
            "contacts": int(count[0]) if count else 0,
        }

    def list_books(
        self, account: Account, visibility: str | None, select: int, skip: int
    ) -> list[dict[str, Any]]:
        sql = "SELECT id, name, visibility, reserved FROM books WHERE account_id = ?"
        params: tuple[object, ...] = (account.id,)
        if visibility is not None:
            sql += " AND visibility = ?"
            params += (visibility,)
        rows = self.db.read(sql + " ORDER BY id LIMIT ? OFFSET ?", (*params, select, skip))
        return [self._book_json(account, row) for row in rows]

    def get_book(self, account: Account, book_id: int) -> dict[str, Any]:
        return self._book_json(account, self.book_row(account, book_id))

    def create_book(self, account: Account, name: str, visibility: str) -> dict[str, Any]:
        name = _valid_name(name)
        try:
            with self.db.tx() as conn:
                cur = conn.execute(
                    "INSERT INTO books (account_id, name, visibility) VALUES (?, ?, ?)",
                    (account.id, name, visibility),
                )
                book_id = int(cur.lastrowid or 0)
        except sqlite3.IntegrityError as exc:
            raise _duplicate() from exc
        return self.get_book(account, book_id)

    def update_book(
        self, account: Account, book_id: int, name: str, visibility: str
    ) -> dict[str, Any]:
        if self.book_row(account, book_id)["reserved"]:
            raise ApiError(400, NOT_WRITABLE, _NOT_WRITABLE_SENTENCE)
        name = _valid_name(name)
        try:
            with self.db.tx() as conn:
                conn.execute(
                    "UPDATE books SET name = ?, visibility = ? WHERE id = ?",
                    (name, visibility, book_id),
                )
        except sqlite3.IntegrityError as exc:
            raise _duplicate() from exc
        return self.get_book(account, book_id)

    def delete_book(self, account: Account, book_id: int) -> None:
        if self.book_row(account, book_id)["reserved"]:
            raise ApiError(400, NOT_WRITABLE, _NOT_WRITABLE_SENTENCE)
        with self.db.tx() as conn:  # the contacts stay in the account
            conn.execute("DELETE FROM members WHERE book_id = ?", (book_id,))
            self.db.members_changed((book_id,))
            conn.execute("DELETE FROM book_unsubscribes WHERE book_id = ?", (book_id,))
            conn.execute("DELETE FROM books WHERE id = ?", (book_id,))

    def books_summary(self, account: Account) -> list[dict[str, Any]]:
        rows = self.db.read(
            "SELECT id, name, visibility, reserved FROM books WHERE account_id = ? ORDER BY id",
            (account.id,),
        )
        return [self._book_json(account, row) for row in rows]


def _valid_name(name: str) -> str:
    if not 1 <= len(name.strip()) <= 128:
        raise invalid("Address book name must be 1 to 128 characters", "ERROR_ADDRESSBOOK_INVALID")
    return name.strip()


def _duplicate() -> ApiError:
    return ApiError(
        400, "ERROR_ADDRESSBOOK_DUPLICATE", "That name is in use already, please choose another"
    )
