"""Reads of many contacts: the v3 contact listing (marker paging), the v2 paged member listing,
and the v2 change feeds (modified, unsubscribed, suppressed since a date).

Cost per page must not grow with the page's position: a 1M-member book is read in seconds.
v3 pages are keyset reads by contact id. v2 pages are addressed by ``skip``, whose meaning is an
offset; we keep that meaning exactly (a member removed before the cursor shifts the next page,
as on DotDigital) but remember where each page ended, so that the next page of an unchanged book
continues from the last contact id instead of counting ``skip`` rows again. A change to a
book's members (``Database.book_version``) forgets its positions and its next page counts.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

from dotsync.emulator.base import Account
from dotsync.emulator.contacts import ContactsMixin, contact_json
from dotsync.emulator.errors import V3Error
from dotsync.emulator.v3query import CONTACT_STATUS, EMAIL_STATUS, ContactsQuery

_V3_COLUMNS = "c.id, c.email, c.status, c.opt_in, c.email_type, c.created, c.modified"
_V2_COLUMNS = "c.id, c.email, c.status, c.opt_in, c.email_type, c.fields, c.suppressed_at"
_CURSORS_KEPT = 1024
# The account's contacts in id order: "+" keeps SQLite off the (account, email) index, which
# would read every contact of the account and sort them for each page.
_ACCOUNT = "+c.account_id = ?"


class ReadingMixin(ContactsMixin):
    def __init__(self) -> None:
        # (book id, skip) -> (book version, last contact id of the page that ended there)
        self._cursors: OrderedDict[tuple[int, int], tuple[tuple[int, int], int]] = OrderedDict()
        self._cursor_lock = threading.Lock()

    # --- GET /contacts/v3 -----------------------------------------------------------------
    def list_contacts_v3(self, account: Account, query: ContactsQuery) -> tuple[str, int | None]:
        """One page as the JSON text of ``_items``, and the id after which the next page starts
        (None: this was the last). Items are written as text straight from the rows (a 5,000
        contact page in milliseconds); data fields and lists come as JSON from SQLite."""
        if query.segment_id is not None:
            # Segments are not emulated: none exists, so any id is unknown.
            raise V3Error(
                400,
                "contacts:invalidFilter",
                f"The filter value '{query.segment_id}' is invalid for '~segmentId'",
            )
        extra, params = self._optional_columns(account, query)
        if query.list_id is None or self._is_all_contacts(account, query.list_id):
            source, where, key = "contacts c", f"{_ACCOUNT} AND c.id > ?", "c.id"
            params += [account.id, query.after_id]
        else:
            source = "members m JOIN contacts c ON c.id = m.contact_id"
            where, key = "m.book_id = ? AND m.contact_id > ?", "m.contact_id"
            params += [query.list_id, query.after_id]
        if query.modified_from is not None:
            where += " AND c.modified >= ?"
            params.append(query.modified_from)
        if query.created_from is not None:
            where += " AND c.created >= ?"
            params.append(query.created_from)
        rows = self.db.read(
            f"SELECT {_V3_COLUMNS}{extra} FROM {source} WHERE {where} ORDER BY {key} LIMIT ?",
            (*params, query.limit + 1),
        )
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        channel = "channelProperties" in query.include
        items = ",".join(_v3_item(row, channel) for row in rows)
        return f"[{items}]", (int(rows[-1]["id"]) if more else None)

    def _is_all_contacts(self, account: Account, list_id: int) -> bool:
        row = self.db.one(
            "SELECT reserved FROM books WHERE id = ? AND account_id = ?", (list_id, account.id)
        )
        if row is None:
            # The document shows 400 contacts:invalidFilter for a bad filter value; an unknown
            # list is one (assumption: no 404 is documented for this operation).
            raise V3Error(
                400,
                "contacts:invalidFilter",
                f"The filter value '{list_id}' is invalid for '~listId'",
            )
        return bool(row["reserved"] == "All Contacts")

    def _optional_columns(self, account: Account, query: ContactsQuery) -> tuple[str, list[object]]:
        """``data_fields`` and ``lists`` columns (JSON text) when the query asks for them."""
        columns = ""
        params: list[object] = []
        if query.data_fields is not None:
            types = self.field_types(account)
            names = (
                list(types) if query.all_fields else [n for n in query.data_fields if n in types]
            )
            # Names are validated at creation (letters, digits, '_' and '-'): safe in SQL text.
            # ``->`` gives a value's JSON text, so numbers come back exactly as stored.
            fields = ", ".join(f"'{n}', json(c.fields -> '$.\"{n}\"')" for n in names)
            columns += f", json_object({fields}) AS data_fields"
        if "lists" in query.include:
            # The account's books holding the contact: one primary-key probe per book.
            columns += (
                ", (SELECT json_group_array(json_object('id', b.id, 'name', b.name, "
                "'status', 'subscribed')) FROM (SELECT b.id, b.name FROM books b WHERE "
                "b.account_id = ? AND b.reserved IS NULL AND EXISTS (SELECT 1 FROM members x "
                "WHERE x.book_id = b.id AND x.contact_id = c.id) ORDER BY b.id) b) AS lists"
            )
            params.append(account.id)
        return columns, params

    # --- GET /v2/address-books/{id}/contacts[/modified-since/{date}] -------------------------
    def list_book_contacts(
        self,
        account: Account,
        book_id: int,
        full: bool,
        select: int,
        skip: int,
        modified_since: str | None = None,
    ) -> list[dict[str, Any]]:
        book = self.book_row(account, book_id)
        every_contact = book["reserved"] == "All Contacts"
        if every_contact:
            source, key, owner = "contacts c", "c.id", _ACCOUNT
            owner_id = account.id
        else:
            source = "members m JOIN contacts c ON c.id = m.contact_id"
            key, owner, owner_id = "m.contact_id", "m.book_id = ?", book_id
        where = owner
        params: list[object] = [owner_id]
        if modified_since is not None:
            # A change feed: few rows, read by offset (no cursor is kept for filtered reads).
            where += " AND c.modified >= ?"
            params.append(modified_since)
            rows = self.db.read(
                f"SELECT {_V2_COLUMNS} FROM {source} WHERE {where} ORDER BY {key} LIMIT ? OFFSET ?",
                (*params, select, skip),
            )
        else:
            rows = self._page_by_cursor(source, key, where, owner_id, book_id, select, skip)
        fields = self.field_types(account) if full else None
        return [contact_json(row, fields) for row in rows]

    def _page_by_cursor(
        self, source: str, key: str, where: str, owner_id: int, book_id: int, select: int, skip: int
    ) -> list[sqlite3.Row]:
        with self.db.lock:  # the version read and the page read see the same book
            version = self.db.book_version(book_id)
            with self._cursor_lock:
                cached = self._cursors.get((book_id, skip))
            after = 0 if skip == 0 else None
            if cached is not None and cached[0] == version:
                after = cached[1]
            if after is not None:
                rows = self.db.read(
                    f"SELECT {_V2_COLUMNS} FROM {source} WHERE {where} AND {key} > ? "
                    f"ORDER BY {key} LIMIT ?",
                    (owner_id, after, select),
                )
            else:
                # No page ended here since the book last changed: count, on the key alone.
                rows = self.db.read(
                    f"SELECT {_V2_COLUMNS} FROM {source} WHERE {where} AND {key} IN "
                    f"(SELECT {key} FROM {source} WHERE {where} ORDER BY {key} LIMIT ? OFFSET ?) "
                    f"ORDER BY {key}",
                    (owner_id, owner_id, select, skip),
                )
        if rows:
            with self._cursor_lock:
                cursors = self._cursors
                cursors[(book_id, skip + len(rows))] = (version, int(rows[-1]["id"]))
                cursors.move_to_end((book_id, skip + len(rows)))
                while len(cursors) > _CURSORS_KEPT:
                    cursors.popitem(last=False)
        return rows

    # --- change feeds ------------------------------------------------------------------------
    def book_unsubscribed_since(
        self, account: Account, book_id: int, since: str, select: int, skip: int
    ) -> list[dict[str, Any]]:
        """Contacts unsubscribed from this book at or after ``since`` (the book's own
        unsubscribes; an unsubscribe from the whole account is in ``/v2/contacts/...``:
        DotDigital does not say whether the book's feed repeats those, we assume not)."""
        self.book_row(account, book_id)
        rows = self.db.read(
            f"SELECT {_V2_COLUMNS}, b.at FROM book_unsubscribes b "
            "JOIN contacts c ON c.id = b.contact_id WHERE b.book_id = ? AND b.at >= ? "
            "ORDER BY b.at, c.id LIMIT ? OFFSET ?",
            (book_id, since, select, skip),
        )
        return [_suppression(row, row["at"], "Unsubscribed") for row in rows]

    def unsubscribed_since(
        self, account: Account, since: str, select: int, skip: int
    ) -> list[dict[str, Any]]:
        """Contacts of the account that unsubscribed (from everything) at or after ``since``."""
        rows = self.db.read(
            f"SELECT {_V2_COLUMNS} FROM contacts c WHERE c.account_id = ? AND "
            "c.status = 'Unsubscribed' AND c.suppressed_at >= ? "
            "ORDER BY c.suppressed_at, c.id LIMIT ? OFFSET ?",
            (account.id, since, select, skip),
        )
        return [_suppression(row, row["suppressed_at"], row["status"]) for row in rows]

    def suppressed_since(
        self, account: Account, since: str, select: int, skip: int
    ) -> list[dict[str, Any]]:
        """Every suppression (unsubscribes, bounces, complaints, blocks) at or after ``since``."""
        rows = self.db.read(
            f"SELECT {_V2_COLUMNS} FROM contacts c WHERE c.account_id = ? AND "
            "c.suppressed_at >= ? ORDER BY c.suppressed_at, c.id LIMIT ? OFFSET ?",
            (account.id, since, select, skip),
        )
        return [_suppression(row, row["suppressed_at"], row["status"]) for row in rows]


def _v3_item(row: sqlite3.Row, channel: bool) -> str:
    """A ``contact`` of the v3 document as JSON text. Only the e-mail is free text (escaped);
    ids, timestamps and statuses are ours."""
    status = CONTACT_STATUS.get(row["status"], "suppressed")
    text = (
        f'{{"contactId":{row["id"]},"status":"{status}","created":"{row["created"]}",'
        f'"updated":"{row["modified"]}","identifiers":{{"email":{_quote(row["email"])}}}'
    )
    keys = row.keys()
    if "data_fields" in keys:
        text += f',"dataFields":{row["data_fields"]}'
    if channel:
        text += (
            f',"channelProperties":{{"email":{{"emailType":"{row["email_type"]}",'
            f'"optInType":"{row["opt_in"]}",'
            f'"status":"{EMAIL_STATUS.get(row["status"], "suppressed")}"}}}}'
        )
    if "lists" in keys:
        text += f',"lists":{row["lists"]}'
    return text + "}"


def _suppression(row: sqlite3.Row, when: str, reason: str) -> dict[str, Any]:
    """An ``ApiContactSuppression``: the contact (``dataFields`` null), when and why."""
    return {"suppressedContact": contact_json(row, None), "dateRemoved": when, "reason": reason}
