"""Imports of the store: v2 CSV files into a book, v3 JSON contact collections, their status,
report and faults. Submitting only checks and queues (``NotFinished``); a background worker thread
processes imports one at a time, in order, and restarts pick up imports left ``NotFinished``.

While the worker applies one v3 import (SQLite, which releases the GIL for its statements), a
helper thread decodes the next queued one (Python, ~7 µs a contact): a bulk client's imports go
through in about half the time, each still applied whole and in the order submitted."""

from __future__ import annotations

import csv
import ctypes
import io
import json
import logging
import queue
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
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
)
from dotsync.emulator.v3body import RepeatedContactsError, decode_body, parse_v3, read_envelope
from dotsync.emulator.values import SUPPRESSIONS

log = logging.getLogger(__name__)


@dataclass
class _Decoded:
    """A v3 import decoded ahead of its turn, with what it was decoded under: used only if the
    account's fields and the merge option are still those when its turn comes."""

    import_id: str | None  # None: the stop sentinel was next
    done: threading.Event = field(default_factory=threading.Event)
    field_types: dict[str, str] | None = None
    merge: str | None = None
    parsed: ParsedImport | None = None  # None: not decodable ahead (the worker decodes it)


_FAULT_REASONS = {"invalid": "Invalid Email", "duplicate": "Duplicate", "failure": "Failures"}


class ImportsMixin(ContactsMixin):
    def __init__(self) -> None:
        self._queue: queue.Queue[str | None] = queue.Queue()
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
                raise V3Error(
                    429,
                    "contacts:tooManyActiveImports",
                    "Your import request cannot be accepted as too many imports are "
                    "being processed for you account",
                )
            # v2 documents no status for it: 400, like its other refusals (inferred).
            raise ApiError(
                400,
                "ERROR_IMPORT_TOOMANYACTIVEIMPORTS",
                "You currently have more than 25 imports running at the same time",
            )

    def active_imports(self, account: Account) -> int:
        row = self.db.one(
            "SELECT count(*) FROM imports WHERE account_id = ? AND status = 'NotFinished'",
            (account.id,),
        )
        return int(row[0]) if row else 0

    def submit_v2(
        self,
        account: Account,
        book_id: int,
        payload: bytes,
        file_name: str,
        merge_option: str = "Overwrite",
    ) -> dict[str, str]:
        self.writable_book(account, book_id)
        merge = MERGE_OPTIONS.get(merge_option.lower())
        if merge is None:
            raise ApiError(400, "ERROR_PARAMETER_INVALID", "Merge option is not valid")
        self._check_capacity(account, len(payload), v3=False)
        # Excel files are accepted and end InvalidFileFormat: the emulator reads CSV only.
        is_excel = file_name.lower().endswith((".xls", ".xlsx"))
        if not is_excel and email_column(csv_header(payload)) is None:
            raise ApiError(400, "ERROR_NO_EMAIL_COLUMN", "The file has no Email column")
        return {
            "id": self._queue_import(account, "v2", book_id, merge, payload, file_name),
            "status": "NotFinished",
        }

    def submit_v3(self, account: Account, payload: bytes) -> dict[str, str]:
        """Checked here (JSON, envelope, lists), parsed by the worker: only the raw bytes wait
        in the queue."""
        envelope = read_envelope(payload)
        for book_id in sorted(envelope.list_ids):
            try:
                self.writable_book(account, book_id)
            except ApiError as exc:
                # v3 documents no code for a bad list id (assumption: invalidLists, 400).
                raise V3Error(
                    400, "contacts:invalidLists", f"List {book_id}: {exc.sentence}"
                ) from exc
        self._check_capacity(account, len(payload), v3=True)
        return {"importId": self._queue_import(account, "v3", None, envelope.merge, payload, None)}

    def _queue_import(
        self,
        account: Account,
        kind: str,
        book_id: int | None,
        merge: str,
        payload: bytes,
        file_name: str | None,
    ) -> str:
        import_id = str(uuid.uuid4())
        in_memory = self.db.path is None
        with self.db.tx() as conn:
            conn.execute(
                "INSERT INTO imports (id, account_id, kind, book_id, merge_option, "
                "status, created, payload, file_name) VALUES (?, ?, ?, ?, ?, "
                "'NotFinished', ?, ?, ?)",
                (
                    import_id,
                    account.id,
                    kind,
                    book_id,
                    merge,
                    self.now(),
                    None if in_memory else payload,
                    file_name,
                ),
            )
            if in_memory:
                self.db.payloads[import_id] = payload
        self._queue.put(import_id)
        return import_id

    # --- reading --------------------------------------------------------------------------
    def _import_row(self, account: Account, import_id: str, kind: str) -> Any:
        row = self.db.one(
            "SELECT id, status, report, result, faults FROM imports WHERE id = ? "
            "AND account_id = ? AND kind = ?",
            (import_id.lower(), account.id, kind),
        )
        if row is None and kind == "v3":
            raise V3Error(
                404,
                "contacts:importNotFound",
                f"The import request '{import_id}' could not be found!",
            )
        if row is None:
            raise ApiError(404, "ERROR_IMPORT_NOT_FOUND", "Import not found")
        return row

    def import_status(self, account: Account, import_id: str) -> dict[str, str]:
        row = self._import_row(account, import_id, "v2")
        return {"id": row["id"], "status": row["status"]}

    def _finished(self, account: Account, import_id: str) -> Any:
        row = self._import_row(account, import_id, "v2")
        if row["status"] != "Finished":
            raise ApiError(
                404,
                "ERROR_IMPORT_REPORT_NOT_FOUND",
                "Import is not processed yet or completed with error",
            )
        return row

    def import_report(self, account: Account, import_id: str) -> dict[str, int]:
        report: dict[str, int] = json.loads(self._finished(account, import_id)["report"])
        return report

    def import_faults(self, account: Account, import_id: str) -> str:
        return str(self._finished(account, import_id)["faults"])

    def v3_status(self, account: Account, import_id: str) -> bytes:
        """The reply's JSON, compact: the stored result is spliced in, never parsed again; an
        in-memory emulator keeps a finished import's whole reply as bytes, sent as they are."""
        row = self._import_row(account, import_id, "v3")
        with self.db.lock:
            if (kept := self.db.replies.get(row["id"])) is not None:
                return kept
        return _v3_reply(row["id"], row["status"], row["result"])

    # --- the worker -----------------------------------------------------------------------
    def start_worker(self) -> None:
        # A fresh queue: a worker stopped mid-import leaves its queue behind, sentinel included.
        self._queue = queue.Queue()
        for row in self.db.read(
            "SELECT id FROM imports WHERE status = 'NotFinished' ORDER BY created"
        ):
            self._queue.put(row[0])  # left unfinished by a previous run: resume
        self._stopping.clear()
        _keep_heap_between_imports()
        self._worker = threading.Thread(target=self._work, name="emulator-imports", daemon=True)
        self._worker.start()

    def stop_worker(self) -> None:
        if self._worker is not None:
            self._stopping.set()
            self._queue.put(None)
            self._worker.join(timeout=30)
            self._worker = None

    def _work(self) -> None:
        ahead: _Decoded | None = None
        while True:
            decoded, ahead = ahead, None
            import_id = decoded.import_id if decoded is not None else self._queue.get()
            if import_id is None:
                break
            ahead = self._decode_next()
            try:
                self._process(import_id, decoded)
            except InterruptedImportError:
                break  # a next import taken off the queue is queued again by start_worker
            except Exception:
                log.exception("import %s failed in the emulator", import_id)
                self._finish(import_id, "Failed", None, None, None)
            del decoded
            if ahead is None and self._queue.empty():
                _release_memory()  # idle: between imports of a batch, the heap is reused

    def _decode_next(self) -> _Decoded | None:
        """Start decoding the next queued import in a helper thread, if one is queued."""
        try:
            next_id = self._queue.get_nowait()
        except queue.Empty:
            return None
        ahead = _Decoded(next_id)
        if next_id is None:
            ahead.done.set()
            return ahead
        thread = threading.Thread(
            target=self._decode_ahead, args=(ahead,), name="emulator-decode", daemon=True
        )
        thread.start()
        return ahead

    def _decode_ahead(self, ahead: _Decoded) -> None:
        assert ahead.import_id is not None
        try:
            row = self.db.one(
                "SELECT i.kind, i.merge_option, a.api_user FROM imports i "
                "JOIN accounts a ON a.id = i.account_id WHERE i.id = ?",
                (ahead.import_id,),
            )
            if row is None or row["kind"] != "v3":
                return
            account = self.account(row["api_user"])  # type: ignore[attr-defined]
            types = self.field_types(account)
            parsed = parse_v3(decode_body(self._payload(ahead.import_id)), types, row[1])
            rows = list(parsed.good)  # fills parsed.bad
            parsed.good = iter(rows)
            ahead.field_types, ahead.merge, ahead.parsed = types, row[1], parsed
        except Exception:  # the worker decodes it again itself, and reports what fails
            log.debug("import %s not decoded ahead", ahead.import_id, exc_info=True)
        finally:
            ahead.done.set()

    def _process(self, import_id: str, decoded: _Decoded | None = None) -> None:
        row = self.db.one(
            "SELECT i.kind, i.book_id, i.merge_option, i.status, a.api_user "
            "FROM imports i JOIN accounts a ON a.id = i.account_id WHERE i.id = ?",
            (import_id,),
        )
        if row is None or row["status"] != "NotFinished":
            return  # reset meanwhile
        kind, merge = row["kind"], row["merge_option"]
        account = self.account(row["api_user"])  # type: ignore[attr-defined]
        virtual = [
            r[0]
            for r in self.db.read(
                "SELECT id FROM books WHERE account_id = ? AND reserved = 'All Contacts'",
                (account.id,),
            )
        ]
        books = [] if not row["book_id"] or row["book_id"] in virtual else [row["book_id"]]
        job = Job(account, books, virtual, merge, self.now(), want_ids=kind == "v3")
        if kind == "v2":
            self._process_v2(import_id, job)
            return
        types = self.field_types(account)
        if decoded is not None:
            decoded.done.wait()
        if (
            decoded is not None
            and decoded.parsed is not None
            and decoded.field_types == types
            and decoded.merge == merge
        ):
            applied, parsed = self._apply(job, decoded.parsed)
            decoded.parsed = None
        else:
            text = decode_body(self._payload(import_id))  # the bytes are dropped at once
            try:
                applied, parsed = self._apply(job, parse_v3(text, types, merge))
            except RepeatedContactsError:  # the last "contacts" wins: parse it all, as before
                body = json.loads(text)
                applied, parsed = self._apply(job, parse_v3(body, types, merge))
            del text
        if applied.status != "Finished":
            self._finish(import_id, applied.status, None, None, None)
        else:
            self._finish(import_id, "Finished", None, v3_result(parsed, applied), None)

    def _process_v2(self, import_id: str, job: Job) -> None:
        payload = self._payload(import_id)
        try:
            parsed = parse_csv(payload, self.field_types(job.account))
        except InvalidFileError:
            self._finish(import_id, "InvalidFileFormat", None, None, None)
            return
        applied, parsed = self._apply(job, parsed)
        if applied.status != "Finished":
            self._finish(import_id, applied.status, None, None, None)
        else:
            self._finish(
                import_id,
                "Finished",
                v2_report(parsed, applied),
                None,
                faults_csv(parsed, applied, payload),
            )

    def _payload(self, import_id: str) -> bytes:
        with self.db.lock:
            if (kept := self.db.payloads.get(import_id)) is not None:
                return kept
        row = self.db.one("SELECT payload FROM imports WHERE id = ?", (import_id,))
        return bytes(row[0]) if row is not None and row[0] is not None else b""

    def _apply(self, job: Job, parsed: ParsedImport) -> tuple[Applied, ParsedImport]:
        applied = apply_import(
            self.db,
            job,
            parsed,
            rate=self.settings.import_rate,
            max_bad_share=self.settings.watchdog_max_bad_share,
            injected_failure=self.next_import_failure(),
            wait=self._stopping.wait,
        )
        return applied, parsed

    def _finish(
        self,
        import_id: str,
        status: str,
        report: dict[str, int] | None,
        result: str | None,
        faults: str | None,
    ) -> None:
        # In memory, a v3 reply (~7 MB for 100k contacts) is kept as the bytes to send: no copy
        # into SQLite, out of it and spliced again at the poll that reads it.
        kept = result is not None and self.db.path is None
        with self.db.tx() as conn:
            finished = conn.execute(
                "UPDATE imports SET status = ?, finished = ?, report = ?, result = ?, "
                "faults = ?, payload = NULL WHERE id = ? AND status = 'NotFinished'",
                (
                    status,
                    self.now(),
                    json.dumps(report) if report else None,
                    None if kept else result,
                    faults,
                    import_id,
                ),
            ).rowcount
            self.db.payloads.pop(import_id, None)
            if kept and finished:
                self.db.replies[import_id] = _v3_reply(import_id, status, result)


def _v3_reply(import_id: str, status: str, result: str | None) -> bytes:
    """``GET /contacts/v3/import/{id}``'s body: the id, the status, then the stored result's
    members (summary, created, updated, failures) when there is one."""
    head = f'{{"importId":{json.dumps(import_id)},"status":{json.dumps(status)}'
    text = str(result or "").strip()
    if text.startswith("{") and text != "{}":
        return (head + "," + text[1:]).encode()
    return (head + "}").encode()


def _release_memory() -> None:
    """Hand the heap the imports freed back to the system once the worker is idle (between the
    imports of a batch it is reused): glibc keeps it otherwise, and the emulator's memory would
    read as the peak of its largest import (glibc only; a no-op elsewhere)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _load_libc() -> Any:
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


_LIBC = _load_libc()


def _keep_heap_between_imports() -> None:
    """An import's large buffers (its body's bytes and text, ~22 MB each for 100k contacts,
    SQLite's copies) come from the heap and stay there for the next import, rather than being
    mapped and unmapped by glibc each time: each new page costs a fault, 15% of an import's CPU
    before. ``_release_memory`` still hands the heap back once the worker is idle. Process-wide
    glibc settings, set once the worker starts (glibc only; a no-op elsewhere)."""
    if _LIBC is not None and hasattr(_LIBC, "mallopt"):
        _LIBC.mallopt(-3, 32 * 1024 * 1024)  # M_MMAP_THRESHOLD: its maximum on 64-bit
        _LIBC.mallopt(-1, 512 * 1024 * 1024)  # M_TRIM_THRESHOLD


def faults_csv(parsed: ParsedImport, applied: Applied, payload: bytes) -> str:
    """``report-faults``: a UTF-8 BOM, ``Reason,email,<the file's other columns>``, one row per
    contact not imported, in file order."""
    rows: list[tuple[int, list[str]]] = [
        (b.seq, [_FAULT_REASONS[b.kind], b.email, *b.cells]) for b in parsed.bad
    ]
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
