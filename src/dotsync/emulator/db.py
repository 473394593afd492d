"""SQLite holding every account's data: ``:memory:`` by default, a file with ``--state``.

Why SQLite rather than Python objects: a million contacts take ~200 bytes each in SQLite against
~600 as Python objects, the same code serves the in-memory and the persistent modes, and set-based
SQL processes a 500k-row import in seconds. One connection is shared by the HTTP handlers and the
import worker, serialised by ``lock`` (SQLite connections are not safe to use concurrently); each
mutation is one transaction, so a file-backed emulator loses nothing on restart.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id INTEGER PRIMARY KEY, api_user TEXT NOT NULL UNIQUE, password TEXT NOT NULL,
    region TEXT NOT NULL, contact_limit INTEGER);
CREATE TABLE IF NOT EXISTS data_fields (
    account_id INTEGER NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL,
    visibility TEXT NOT NULL, default_value TEXT, UNIQUE (account_id, name));
CREATE TABLE IF NOT EXISTS books (
    id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL, name TEXT NOT NULL,
    visibility TEXT NOT NULL, reserved TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS books_name ON books (account_id, name COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS contacts (
    id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL, email TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'Subscribed', opt_in TEXT NOT NULL DEFAULT 'Unknown',
    email_type TEXT NOT NULL DEFAULT 'Html', fields TEXT, created TEXT NOT NULL,
    modified TEXT NOT NULL, suppressed_at TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS contacts_email ON contacts (account_id, email);
CREATE TABLE IF NOT EXISTS members (
    book_id INTEGER NOT NULL, contact_id INTEGER NOT NULL,
    PRIMARY KEY (book_id, contact_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS book_unsubscribes (
    book_id INTEGER NOT NULL, contact_id INTEGER NOT NULL, at TEXT NOT NULL,
    PRIMARY KEY (book_id, contact_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS global_suppressions (email TEXT PRIMARY KEY, status TEXT NOT NULL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS domain_suppressions (
    account_id INTEGER NOT NULL, domain TEXT NOT NULL, PRIMARY KEY (account_id, domain))
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS imports (
    id TEXT PRIMARY KEY, account_id INTEGER NOT NULL, kind TEXT NOT NULL, book_id INTEGER,
    merge_option TEXT NOT NULL, status TEXT NOT NULL, created TEXT NOT NULL, finished TEXT,
    report TEXT, result TEXT, faults TEXT, payload BLOB, file_name TEXT);
CREATE TABLE IF NOT EXISTS deletions (
    id TEXT PRIMARY KEY, account_id INTEGER NOT NULL, status TEXT NOT NULL);
"""


class Database:
    def __init__(self, path: Path | None) -> None:
        target = str(path) if path is not None else ":memory:"
        self.path = path
        self.lock = threading.RLock()
        # Bumped (under ``lock``) by every write to a book's members (``book_versions``) or to
        # any book's (``members_version``): readers that remember positions in a book (the v2
        # paged listing) know by them that those positions may have moved.
        self.members_version = 0
        self.book_versions: dict[int, int] = {}
        # The files of queued imports of an in-memory database, kept here rather than copied
        # into and out of SQLite (22 MB a body); a file-backed one stores them in ``imports``
        # so that a restart resumes them. Guarded by ``lock``.
        self.payloads: dict[str, bytes] = {}
        # Likewise the replies of finished v3 imports (``imports.v3_status``), by import id.
        self.replies: dict[str, bytes] = {}
        self.conn = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        if path is not None:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA temp_store=MEMORY")
        self.conn.executescript(SCHEMA)

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One transaction under the lock: committed on success, rolled back on error."""
        with self.lock:
            self.conn.execute("BEGIN")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def members_changed(self, book_ids: Iterable[int] | None = None) -> None:
        """The members of ``book_ids`` changed (None: of any book, or unknown which)."""
        with self.lock:
            if book_ids is None:
                self.members_version += 1
                return
            for book_id in book_ids:
                self.book_versions[book_id] = self.book_versions.get(book_id, 0) + 1

    def book_version(self, book_id: int) -> tuple[int, int]:
        with self.lock:
            return self.members_version, self.book_versions.get(book_id, 0)

    def read(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: tuple[object, ...] = ()) -> sqlite3.Row | None:
        with self.lock:
            row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
            return row

    def open_scratch(self) -> None:
        """A private in-memory database ``scratch`` for one import's staging. Closing it frees
        its memory at once, where a dropped temporary table's pages stay with the connection."""
        with self.lock:
            self.close_scratch()
            self.conn.execute("ATTACH DATABASE ':memory:' AS scratch")

    def close_scratch(self) -> None:
        with self.lock:
            if any(row[1] == "scratch" for row in self.conn.execute("PRAGMA database_list")):
                self.conn.execute("DETACH DATABASE scratch")

    def wipe(self) -> None:
        with self.tx() as conn:
            for table in (
                "accounts",
                "data_fields",
                "books",
                "contacts",
                "members",
                "book_unsubscribes",
                "global_suppressions",
                "domain_suppressions",
                "imports",
                "deletions",
            ):
                conn.execute(f"DELETE FROM {table}")
            self.payloads.clear()
            self.replies.clear()
            self.members_changed()

    def close(self) -> None:
        with self.lock:
            self.conn.close()
