"""Imports of the store: v2 CSV files into a book, v3 JSON contact collections, their status,
report and faults. Submitting only checks and queues (``NotFinished``); a background worker thread
processes imports one at a time, and restarts pick up imports left ``NotFinished``."""

from __future__ import annotations

import csv
import io
import json
import logging
import queue
import threading
import uuid
from collections.abc import Callable
from typing import Any

from dotsync.emulator.apply import (
    Applied,
    InterruptedImportError,
    Job,
    apply_import,
    v2_report,
    v3_result,
)
from dotsync.emulator.base import Account
from dotsync.emulator.contacts import ContactsMixin
from dotsync.emulator.errors import ApiError, V3Error
from dotsync.emulator.importing import (
    MERGE_OPTIONS,
    InvalidFileError,
    ParsedImport,
    csv_header,
    csv_rows,
    email_column,
    parse_csv,
    parse_v3,
)
from dotsync.emulator.values import SUPPRESSIONS

log = logging.getLogger(__name__)
_FAULT_REASONS = {"invalid": "Invalid Email", "duplicate": "Duplicate", "failure": "Failures"}


class ImportsMixin(ContactsMixin):
    def __init__(self) -> None:
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._bodies: dict[str, dict[str, Any]] = {}  # parsed v3 bodies, to skip a second parse
        self._worker: threading.Thread | None = None
        self._stopping = threading.Event()
        self.next_import_failure: Callable[[], str | None] = lambda: None  # faults hook

    # --- submitting -----------------------------------------------------------------------
    def _check_capacity(self, account: Account, size: int, v3: bool) -> None:
        if size > self.settings.max_file_bytes:
            # No code is documented for an oversize file; ERROR_IMPORT_UNSUPPORTED_FORMAT is the
            # catalogue's nearest (assumption).
            if v3:
                raise V3Error(400, "contacts:importTooLarge", "The import exceeds 50 MB")
            raise ApiError(400, "ERROR_IMPORT_UNSUPPORTED_FORMAT", "The file exceeds 50 MB")
        if self.active_imports(account) >= self.settings.max_active_imports:
            if v3:
                raise V3Error(429, "contacts:tooManyActiveImports",
                              "Your import request cannot be accepted as too many imports are "
                              "being processed for you account")
            # v2 documents no status for it: 400, like its other refusals (inferred).
            raise ApiError(400, "ERROR_IMPORT_TOOMANYACTIVEIMPORTS",
                           "You currently have more than 25 imports running at the same time")

    def active_imports(self, account: Account) -> int:
        row = self.db.one("SELECT count(*) FROM imports WHERE account_id = ? AND "
                          "status = 'NotFinished'", (account.id,))
        return int(row[0]) if row else 0

    def submit_v2(self, account: Account, book_id: int, payload: bytes, file_name: str,
                  merge_option: str = "Overwrite") -> dict[str, str]:
        self.writable_book(account, book_id)
        merge = MERGE_OPTIONS.get(merge_option.lower())
        if merge is None:
            raise ApiError(400, "ERROR_PARAMETER_INVALID", "Merge option is not valid")
        self._check_capacity(account, len(payload), v3=False)
        # Excel files are accepted and end InvalidFileFormat: the emulator reads CSV only.
        is_excel = file_name.lower().endswith((".xls", ".xlsx"))
        if not is_excel and email_column(csv_header(payload)) is None:
            raise ApiError(400, "ERROR_NO_EMAIL_COLUMN", "The file has no Email column")
        return {"id": self._queue_import(account, "v2", book_id, merge, payload, file_name),
                "status": "NotFinished"}

    def submit_v3(self, account: Account, payload: bytes) -> dict[str, str]:
        try:
            body = json.loads(payload)
        except ValueError as exc:
            raise V3Error(400, "contacts:badJson", "The request JSON is badly formed") from exc
        lowered = {str(k).lower(): v for k, v in body.items()} if isinstance(body, dict) else {}
        contacts = lowered.get("contacts")
        if not isinstance(contacts, list) or not contacts:
            raise V3Error(400, "contacts:noContactsSpecified",
                          "You must specify 1 or more contacts")
        merge = MERGE_OPTIONS.get(str(lowered.get("mergeoption") or "overwrite").lower())
        if merge is None or str(lowered.get("mergeoption", "overwrite")).lower().startswith("only"):
            raise V3Error(400, "contacts:badJson", "mergeOption is not valid")
        self._check_lists(account, contacts)
        self._check_capacity(account, len(payload), v3=True)
        import_id = self._queue_import(account, "v3", None, merge, payload, None,
                                       body={"contacts": contacts})
        return {"importId": import_id}

    def _check_lists(self, account: Account, contacts: list[Any]) -> None:
        wanted = {int(i) for c in contacts if isinstance(c, dict)
                  for k, v in c.items() if k.lower() == "lists" and isinstance(v, list)
                  for i in v if isinstance(i, int)}
        for book_id in sorted(wanted):
            try:
                self.writable_book(account, book_id)
            except ApiError as exc:
                # v3 documents no code for a bad list id (assumption: invalidLists, 400).
                raise V3Error(400, "contacts:invalidLists",
                              f"List {book_id}: {exc.sentence}") from exc

    def _queue_import(self, account: Account, kind: str, book_id: int | None, merge: str,
                      payload: bytes, file_name: str | None,
                      body: dict[str, Any] | None = None) -> str:
        import_id = str(uuid.uuid4())
        with self.db.tx() as conn:
            conn.execute("INSERT INTO imports (id, account_id, kind, book_id, merge_option, "
                         "status, created, payload, file_name) VALUES (?, ?, ?, ?, ?, "
                         "'NotFinished', ?, ?, ?)",
                         (import_id, account.id, kind, book_id, merge, self.now(), payload,
                          file_name))
        if body is not None:
            self._bodies[import_id] = body
        self._queue.put(import_id)
        return import_id

    # --- reading --------------------------------------------------------------------------
    def _import_row(self, account: Account, import_id: str, kind: str) -> Any:
        row = self.db.one("SELECT id, status, report, result, faults FROM imports WHERE id = ? "
                          "AND account_id = ? AND kind = ?", (import_id.lower(), account.id, kind))
        if row is None and kind == "v3":
            raise V3Error(404, "contacts:importNotFound",
                          f"The import request '{import_id}' could not be found!")
        if row is None:
            raise ApiError(404, "ERROR_IMPORT_NOT_FOUND", "Import not found")
        return row

    def import_status(self, account: Account, import_id: str) -> dict[str, str]:
        row = self._import_row(account, import_id, "v2")
        return {"id": row["id"], "status": row["status"]}

    def _finished(self, account: Account, import_id: str) -> Any:
        row = self._import_row(account, import_id, "v2")
        if row["status"] != "Finished":
            raise ApiError(404, "ERROR_IMPORT_REPORT_NOT_FOUND",
                           "Import is not processed yet or completed with error")
        return row

    def import_report(self, account: Account, import_id: str) -> dict[str, int]:
        report: dict[str, int] = json.loads(self._finished(account, import_id)["report"])
        return report

    def import_faults(self, account: Account, import_id: str) -> str:
        return str(self._finished(account, import_id)["faults"])

    def v3_status(self, account: Account, import_id: str) -> dict[str, Any]:
        row = self._import_row(account, import_id, "v3")
        reply: dict[str, Any] = {"importId": row["id"], "status": row["status"]}
        if row["result"]:
            reply.update(json.loads(row["result"]))
        return reply

    # --- the worker -----------------------------------------------------------------------
    def start_worker(self) -> None:
        # A fresh queue: a worker stopped mid-import leaves its queue behind, sentinel included.
        self._queue = queue.Queue()
        for row in self.db.read("SELECT id FROM imports WHERE status = 'NotFinished' "
                                "ORDER BY created"):
            self._queue.put(row[0])  # left unfinished by a previous run: resume
        self._stopping.clear()
        self._worker = threading.Thread(target=self._work, name="emulator-imports", daemon=True)
        self._worker.start()

    def stop_worker(self) -> None:
        if self._worker is not None:
            self._stopping.set()
            self._queue.put(None)
            self._worker.join(timeout=30)
            self._worker = None

    def _work(self) -> None:
        while (import_id := self._queue.get()) is not None:
            try:
                self._process(import_id)
            except InterruptedImportError:
                break
            except Exception:
                log.exception("import %s failed in the emulator", import_id)
                self._finish(import_id, "Failed", None, None, None)

    def _process(self, import_id: str) -> None:
        row = self.db.one("SELECT i.kind, i.book_id, i.merge_option, i.payload, i.status, "
                          "a.api_user FROM imports i JOIN accounts a ON a.id = i.account_id "
                          "WHERE i.id = ?", (import_id,))
        if row is None or row["status"] != "NotFinished":
            return  # reset meanwhile
        account = self.account(row["api_user"])  # type: ignore[attr-defined]
        types = self.field_types(account)
        try:
            if row["kind"] == "v2":
                parsed = parse_csv(row["payload"], types)
            else:
                body = self._bodies.pop(import_id, None) or json.loads(row["payload"])
                parsed = parse_v3(body, types, row["merge_option"])
        except InvalidFileError:
            self._finish(import_id, "InvalidFileFormat", None, None, None)
            return
        virtual = [r[0] for r in self.db.read(
            "SELECT id FROM books WHERE account_id = ? AND reserved = 'All Contacts'",
            (account.id,))]
        books = [] if not row["book_id"] or row["book_id"] in virtual else [row["book_id"]]
        job = Job(account, books, virtual, row["merge_option"], self.now(),
                  want_ids=row["kind"] == "v3")
        applied = apply_import(self.db, job, parsed, rate=self.settings.import_rate,
                               max_bad_share=self.settings.watchdog_max_bad_share,
                               injected_failure=self.next_import_failure(),
                               wait=self._stopping.wait)
        if applied.status != "Finished":
            self._finish(import_id, applied.status, None, None, None)
        elif row["kind"] == "v2":
            self._finish(import_id, "Finished", v2_report(parsed, applied), None,
                         faults_csv(parsed, applied, row["payload"]))
        else:
            self._finish(import_id, "Finished", None, v3_result(parsed, applied), None)

    def _finish(self, import_id: str, status: str, report: dict[str, int] | None,
                result: dict[str, Any] | None, faults: str | None) -> None:
        with self.db.tx() as conn:
            conn.execute("UPDATE imports SET status = ?, finished = ?, report = ?, result = ?, "
                         "faults = ?, payload = NULL WHERE id = ? AND status = 'NotFinished'",
                         (status, self.now(), json.dumps(report) if report else None,
                          json.dumps(result) if result else None, faults, import_id))


def faults_csv(parsed: ParsedImport, applied: Applied, payload: bytes) -> str:
    """``report-faults``: a UTF-8 BOM, ``Reason,email,<the file's other columns>``, one row per
    contact not imported, in file order."""
    rows: list[tuple[int, list[str]]] = [
        (b.seq, [_FAULT_REASONS[b.kind], b.email, *b.cells]) for b in parsed.bad]
    suppressed = {seq: status for seq, _, _, status in applied.suppressed}
    if suppressed:
        email_at = email_column(csv_header(payload)) or 0
        for seq, cells in csv_rows(payload):
            if seq in suppressed:
                others = [c for i, c in enumerate(cells) if i != email_at]
                rows.append((seq, [SUPPRESSIONS[suppressed[seq]][1], cells[email_at], *others]))
    rows.sort(key=lambda item: item[0])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["Reason", "email", *parsed.columns])
    writer.writerows(cells for _, cells in rows)
    return "\ufeff" + out.getvalue()
