"""Remove a destination: everything dotsync stores for an export, and optionally its members
from the address book (the contacts themselves stay in the DotDigital account)."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass

from dotsync.config import Config
from dotsync.connect import open_client
from dotsync.delivery import REMOVAL_CHUNK
from dotsync.state import StateStore
from dotsync.state.locks import run_locks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RemovalReport:
    export: str
    members_forgotten: int
    members_removed_from_book: int
    files_deleted: int


def remove_destination(config: Config, name: str, *, purge_members: bool) -> RemovalReport:
    export = config.find_export(name)
    connection = config.connections[export.connection]
    book_id = int(connection.address_book_id)
    locks = run_locks(name, str(connection.api_url), connection.api_user)
    with StateStore(config.state.url) as store:
        store.acquire_locks(locks, name)  # never pull the state from under a running export
        try:
            members = store.members.count(name)
            removed = 0
            if purge_members:
                ids = sorted(set(store.members.contact_ids(name, book_id)))
                with open_client(connection, name=export.connection) as client:
                    client.discover()
                    for start in range(0, len(ids), REMOVAL_CHUNK):
                        chunk = ids[start : start + REMOVAL_CHUNK]
                        client.wait_for_deletion(client.remove_contacts_from_book(book_id, chunk))
                        removed += len(chunk)
            files = store.remove_export(name)
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
    return RemovalReport(name, members, removed, deleted)
