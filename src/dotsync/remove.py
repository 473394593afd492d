"""Remove a destination: everything dotsync stores for an export, and optionally its members
from the address book (the contacts themselves stay in the DotDigital account)."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass

from dotsync.config import Config
from dotsync.connect import open_client
from dotsync.delivery import REMOVAL_CHUNK
from dotsync.ownership import purgeable
from dotsync.pull.destination import open_destination
from dotsync.state import BookRef, StateStore
from dotsync.state.locks import account_lock, run_locks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RemovalReport:
    export: str
    members_forgotten: int
    members_removed_from_book: int
    files_deleted: int
    kept_held_by_other_export: int = 0  # members another export of the book still holds
    kept_found_in_book: int = 0  # members that were in the book before dotsync
    statuses_deleted: int = 0  # rows of `dotsync pull` in the [pull] table or file


def remove_destination(config: Config, name: str, *, purge_members: bool) -> RemovalReport:
    export = config.find_export(name)
    connection = config.connections[export.connection]
    book_id = int(connection.address_book_id)
    locks = run_locks(name, str(connection.api_url), connection.api_user)
    with StateStore(config.state.url) as store:
        # never pull the state from under a running export
        store.acquire_locks(locks, name, lease_seconds=config.serve.lease_seconds)
        try:
            members = store.members.count(name)
            removed = held = found = 0
            book = store.book_of(name)
            if purge_members:
                if book is None or book.book_id != book_id:  # never run against this book
                    account = account_lock(str(connection.api_url), connection.api_user)
                    book = BookRef(account.removeprefix("account:"), book_id)
                ids, held, found = purgeable(store, name, book)
                with open_client(
                    connection, name=export.connection, config_path=config.path
                ) as client:
                    client.discover()
                    for start in range(0, len(ids), REMOVAL_CHUNK):
                        chunk = ids[start : start + REMOVAL_CHUNK]
                        client.wait_for_deletion(client.remove_contacts_from_book(book_id, chunk))
                        store.ledger.forget(book, chunk)
                        removed += len(chunk)
            if book is not None:
                store.ledger.release(book, name)
            files = store.remove_export(name)
            statuses = _forget_statuses(config, name)
            if book is not None and not store.exports_of(book):
                # No export writes the book any more: its ledger goes too (a new export of it
                # reads it again first).
                store.forget_book_reads(book)
                files += store.ledger.drop(book)
        finally:
            store.release_locks(locks)
    deleted = 0
    for path in files:
        if path.exists():
            path.unlink()
            deleted += 1
    for run_dir in (config.state.work_dir / "runs").glob(f"{name}-*"):
        shutil.rmtree(run_dir, ignore_errors=True)
        deleted += 1
    log.info(
        "export %s removed: %d members forgotten, %d removed from the book", name, members, removed
    )
    return RemovalReport(name, members, removed, deleted, held, found, statuses)


def _forget_statuses(config: Config, name: str) -> int:
    """The rows `dotsync pull` wrote for the export, in the [pull] table or file (if any)."""
    destination = open_destination(config, create=False)
    try:
        return destination.forget(name)
    finally:
        destination.close()
