"""Bulk operations: v3 JSON imports (with contact ids), v2 CSV imports, bulk removals, and the
polling that follows each of them.

Starting an import (PUT/POST) is retried like any call even though it is not idempotent on the
wire: if a reply is lost after DotDigital accepted the body, a second import of the same contacts
runs. That is safe because imports are idempotent in effect: an address book is a set keyed by
e-mail, so importing a contact twice updates it and leaves one member (DESIGN.md, "Delivery
semantics"). Losing a batch would not be.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from dotsync.dotdigital.bodies import base64_file_body, json_body
from dotsync.dotdigital.core import ClientCore
from dotsync.dotdigital.models import (
    ContactsImport,
    CsvImport,
    CsvImportReport,
    Deletion,
    DeletionStatus,
    ImportStatus,
)
from dotsync.dotdigital.retry import PollPolicy
from dotsync.dotdigital.session import Call
from dotsync.errors import ImportFailedError, TransientError

log = logging.getLogger(__name__)
T = TypeVar("T")

# The extension tells DotDigital the file is CSV (it also takes Excel files).
_CSV_FILE_NAME = "contacts.csv"

_IMPORT_FAILURES: dict[str, str] = {
    ImportStatus.REJECTED_BY_WATCHDOG: "DotDigital's data watchdog rejected the whole file",
    ImportStatus.EXCEEDS_ALLOWED_CONTACT_LIMIT: (
        "the account would hold more contacts than its contract allows"
    ),
    ImportStatus.INVALID_FILE_FORMAT: "DotDigital could not read the file",
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

    # -- v2 CSV import ----------------------------------------------------------------------
    def start_csv_import(
        self, book_id: int, csv_body: bytes | Path, merge_option: str | None = None
    ) -> str:
        """``POST /v2/address-books/{id}/contacts/import`` of a CSV file with an ``Email`` column;
        ``merge_option``: Overwrite, OnlyOverwriteIfNotEmpty or
        OnlyOverwriteIfContactDataNotPopulated. Returns the import id."""
        template = "/v2/address-books/{id}/contacts/import"
        args: tuple[int | str, ...] = (book_id,)
        if merge_option is not None:
            template += "/with-merge-option/{id}"
            args = (book_id, merge_option)
        call = Call(
            "POST",
            template,
            args,
            body=base64_file_body(csv_body, _CSV_FILE_NAME),
            subject=f"address book {book_id}",
        )
        started = self._parse(call, CsvImport.model_validate)
        log.info("DotDigital accepted CSV import %s into book %d", started.id, book_id)
        return started.id

    def csv_import_status(self, import_id: str) -> CsvImport:
        call = Call(
            "GET", "/v2/contacts/import/{id}", (import_id,), subject=f"CSV import {import_id}"
        )
        return self._parse(call, CsvImport.model_validate)

    def wait_for_csv_import(
        self,
        import_id: str,
        *,
        poll: PollPolicy = PollPolicy(),  # noqa: B008 - frozen
    ) -> CsvImport:
        result = self._poll(
            lambda: self.csv_import_status(import_id),
            lambda imp: not imp.in_progress,
            f"CSV import {import_id}",
            poll,
        )
        _raise_unless_finished(import_id, result.status)
        return result

    def csv_import_report(self, import_id: str) -> CsvImportReport:
        call = Call(
            "GET",
            "/v2/contacts/import/{id}/report",
            (import_id,),
            subject=f"the report of CSV import {import_id}",
        )
        return self._parse(call, CsvImportReport.model_validate)

    def csv_import_faults(self, import_id: str) -> list[dict[str, str]]:
        """The contacts not imported: CSV rows (``Reason``, ``email``, data fields) as dicts."""
        call = Call(
            "GET",
            "/v2/contacts/import/{id}/report-faults",
            (import_id,),
            subject=f"the faults of CSV import {import_id}",
        )
        text = self._send(call).content.decode("utf-8-sig")  # it starts with a UTF-8 BOM
        return list(csv.DictReader(io.StringIO(text)))

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
