"""Bulk operations: v3 JSON imports (with contact ids), bulk removals, and the polling that
follows each of them.

Starting an import (PUT/POST) is retried like any call even though it is not idempotent on the
wire: if a reply is lost after DotDigital accepted the body, a second import of the same contacts
runs. That is safe because imports are idempotent in effect: an address book is a set keyed by
e-mail, so importing a contact twice updates it and leaves one member. Losing a batch would not be:
dotsync delivers at least once, never at most once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from dotsync.dotdigital.bodies import json_body
from dotsync.dotdigital.core import ClientCore
from dotsync.dotdigital.models import (
    ContactsImport,
    Deletion,
    DeletionStatus,
    ImportProgress,
    ImportStatus,
)
from dotsync.dotdigital.retry import PollPolicy
from dotsync.dotdigital.session import Call
from dotsync.errors import ImportFailedError, TransientError

log = logging.getLogger(__name__)
T = TypeVar("T")

_IMPORT_FAILURES: dict[str, str] = {
    ImportStatus.REJECTED_BY_WATCHDOG: "DotDigital's data watchdog rejected the whole file",
    ImportStatus.EXCEEDS_ALLOWED_CONTACT_LIMIT: (
        "the account would hold more contacts than its contract allows"
    ),
    ImportStatus.FAILED: "DotDigital reported the import as failed",
}


class BulkOperations(ClientCore):
    # -- v3 JSON import ---------------------------------------------------------------------
    def start_contacts_import(self, body: bytes | Path) -> str:
        """``PUT /contacts/v3/import`` of a prepared JSON body (≤ 50 MB); returns the importId.
        A ``Path`` is streamed from disk, never read into memory."""
        call = Call(
            "PUT",
            "/contacts/v3/import",
            body=json_body(body),
            subject="a contacts import",
        )
        import_id = self._parse(call, lambda data: str(data["importId"]))
        log.info("DotDigital accepted contacts import %s", import_id)
        return import_id

    def contacts_import(self, import_id: str) -> ContactsImport:
        call = Call(
            "GET", "/contacts/v3/import/{id}", (import_id,), subject=f"contacts import {import_id}"
        )
        return self._parse(call, ContactsImport.model_validate)

    def contacts_import_progress(self, import_id: str) -> tuple[ImportProgress, bytes]:
        """The import's status, summary and failures, and the reply's bytes: a finished import
        lists the contacts it created or updated (100,000 an import), for the caller to read in
        bulk (``delivery`` reads them with DuckDB's ``read_json``: 0.09 s of CPU for 100,000,
        against 0.24 s and 54 MB of Python objects through ``json.loads``)."""
        call = Call(
            "GET", "/contacts/v3/import/{id}", (import_id,), subject=f"contacts import {import_id}"
        )
        response = self._send(call)
        # pydantic reads the status, summary and failures from the bytes and skips the lists.
        progress = self._read(call, response, ImportProgress.model_validate_json, raw=True)
        return progress, response.content

    def wait_for_contacts_import(
        self,
        import_id: str,
        *,
        poll: PollPolicy = PollPolicy(),  # noqa: B008 - frozen
    ) -> ContactsImport:
        """Poll until the import ends; ``ImportFailedError`` unless it ended ``Finished``."""
        result = self._poll(
            lambda: self.contacts_import(import_id),
            lambda imp: not imp.in_progress,
            f"contacts import {import_id}",
            poll,
        )
        _raise_unless_finished(import_id, result.status)
        return result

    # -- removals ---------------------------------------------------------------------------
    def remove_contacts_from_book(self, book_id: int, contact_ids: Sequence[int]) -> str:
        """``POST /v2/address-books/{id}/contacts/delete``: the contacts stay in the account.
        Returns the deletion id to poll. Idempotent, so retried like any call."""
        call = Call(
            "POST",
            "/v2/address-books/{id}/contacts/delete",
            (book_id,),
            json=[int(contact_id) for contact_id in contact_ids],
            subject=f"address book {book_id}",
        )
        return self._parse(call, Deletion.model_validate).id

    def deletion(self, deletion_id: str) -> Deletion:
        call = Call(
            "GET", "/v2/contacts/deletion/{id}", (deletion_id,), subject=f"removal {deletion_id}"
        )
        return self._parse(call, Deletion.model_validate)

    def wait_for_deletion(
        self,
        deletion_id: str,
        *,
        poll: PollPolicy = PollPolicy(),  # noqa: B008 - frozen
    ) -> None:
        result = self._poll(
            lambda: self.deletion(deletion_id),
            lambda d: d.status != DeletionStatus.STARTED,
            f"removal {deletion_id}",
            poll,
        )
        if result.status != DeletionStatus.COMPLETED:
            raise TransientError(
                f"DotDigital reported the removal of contacts {deletion_id} as {result.status}; "
                "run again later to remove them",
                detail=f"GET /v2/contacts/deletion/{{id}} -> {result.status}",
            )

    # -- polling ----------------------------------------------------------------------------
    def _poll(
        self, fetch: Callable[[], T], done: Callable[[T], bool], what: str, poll: PollPolicy
    ) -> T:
        started = self.clock()
        index = 0
        while True:
            result = fetch()
            if done(result):
                return result
            delay = poll.delay(index)
            if poll.max_wait is not None and self.clock() - started + delay > poll.max_wait:
                raise TransientError(
                    f"DotDigital's {what} was still in progress after {poll.max_wait:.0f} s; "
                    "run again later to resume polling it"
                )
            index += 1
            self._wait(delay)


def _raise_unless_finished(import_id: str, status: str) -> None:
    if status == ImportStatus.FINISHED:
        return
    reason = _IMPORT_FAILURES.get(status)  # StrEnum keys match plain strings
    raise ImportFailedError(
        f"DotDigital import {import_id} ended {status}: {reason or 'DotDigital did not say why'}",
        import_id=import_id,
        status=status,
    )
