"""``dotsync verify``: read the book, compare it with the state, record the result, and repair.

The I/O around :mod:`dotsync.verify`, in order:

1. take the export's and the account's locks (as a run does: nothing writes the book meanwhile);
2. find the account and the book's size (2 calls), and announce the call budget (``on_budget``)
   before reading anything;
3. read the whole book (``GET /contacts/v3`` with ``~listId``, 5,000 a call): the only way to see
   members removed by hand, since no feed reports a removal;
4. read the two change feeds since the last verify that recorded them (or since dotsync first
   read the book): ``/v2/address-books/{id}/contacts/unsubscribed-since/{date}`` (who left the
   book by unsubscribing: a full read cannot tell them from a removal) and
   ``/v2/contacts/suppressed-since/{date}`` (suppressions of the account, unsubscribes from it
   included, also of contacts no longer in the book). The full read already carries each
   member's status, so ``.../contacts/modified-since/{date}`` would only repeat it;
5. compare (pure), and record the verify in the state;
6. with ``repair``: record the unsubscribes and suppressions in the ledger (so that no run sends
   them again), record the unknown contacts as found there (never dotsync's to remove), forget
   the missing members' confirmations, release the locks and run the export: the missing still in
   the segments enter again, like any new member. Nobody is re-subscribed: imports never send a
   subscription status unless the export asks for one, and the refused are held back by the run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import duckdb
import httpx
import pyarrow as pa

from dotsync import tables
from dotsync.config import Config, require_privacy_ack
from dotsync.connect import open_client
from dotsync.dotdigital import CallStats, DotDigitalClient
from dotsync.errors import (
    BookChangedError,
    BudgetExceededError,
    DotsyncError,
    InterruptedRunError,
    NotFoundError,
)
from dotsync.identity import email_hash_sql, quote_literal
from dotsync.ownership import READ_OVERLAP, BookReader, presence_of, record_refusals
from dotsync.runner import ProgressFn, run_export
from dotsync.state import BookRef, StateStore, VerifyRecord
from dotsync.state.locks import account_lock, run_locks
from dotsync.verify import (
    FEED_PAGE,
    MEMBER_PAGE,
    SETUP_CALLS,
    CallBudget,
    Check,
    RepairReport,
    VerifyReport,
    VerifyStatus,
    call_budget,
    compare,
    create_inputs,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

_ACCOUNT = "GET /v2/account-info"
_BOOK = "GET /v2/address-books/{id}"
_MEMBERS = "GET /contacts/v3"
_UNSUBSCRIBES = "GET /v2/address-books/{id}/contacts/unsubscribed-since/{id}"
_SUPPRESSIONS = "GET /v2/contacts/suppressed-since/{id}"


def verify_export(
    config: Config,
    name: str,
    *,
    repair: bool = False,
    on_budget: Callable[[CallBudget], None] = lambda _b: None,
    progress: ProgressFn | None = None,
    stop: threading.Event | None = None,
    http_client: httpx.Client | None = None,
) -> VerifyReport:
    """Verify the book of export ``name`` (see the module). Raises a DotsyncError when it cannot
    (recorded as a failed verify); drift is not an error: it is in the report's status."""
    export = config.find_export(name)
    connection = config.connections[export.connection]
    require_privacy_ack(export.connection, connection)  # the read brings e-mails in, to hash
    book_id = int(connection.address_book_id)
    locks = run_locks(name, str(connection.api_url), connection.api_user)
    stats = CallStats()
    progress = progress or (lambda _s, _d, _t: None)
    store = StateStore(config.state.url)
    try:
        store.acquire_locks(locks, name, lease_seconds=config.serve.lease_seconds)
        try:
            record = store.start_verify(name, book_id, repair=repair)
            fallback = account_lock(str(connection.api_url), connection.api_user)
            job = _Verify(
                store,
                stats,
                name,
                record,
                connection_name=export.connection,
                fallback_account=fallback.removeprefix("account:"),
                progress=progress,
                stop=stop or threading.Event(),
            )
            with _failure_recorded(store, job):
                try:
                    with open_client(
                        connection,
                        name=export.connection,
                        http_client=http_client,
                        stats=stats,
                        stop=stop,
                        config_path=config.path,
                    ) as client:
                        report = job.check(client, book_id, on_budget)
                    repair_run = False
                    if repair and report.status == VerifyStatus.DRIFT:
                        report, repair_run = job.record_repair(report)
                finally:
                    job.close()
        finally:
            store.release_locks(locks)  # the repair's run takes them again
        if repair_run:
            with _failure_recorded(store, job):
                report = _run_repair(config, name, report, stop, progress, http_client)
        store.finish_verify(
            record.verify_id,
            report.status,
            account_id=job.account,
            report=report.model_dump_json(),
            error=report.error,
            # Every unsubscribe and suppression up to this verify's start is in the ledger: it
            # read the feeds whole and recorded what they held, or they held nothing new.
            statuses_recorded=job.feeds_complete
            and report.status in (VerifyStatus.CLEAN, VerifyStatus.REPAIRED),
        )
        return report
    finally:
        store.close()


@contextmanager
def _failure_recorded(store: StateStore, job: _Verify) -> Iterator[None]:
    """A verify that raises is recorded as failed, with its error (never e-mails: none reach
    an error message), and the error goes on."""
    try:
        yield
    except BaseException as exc:
        error = str(exc) if isinstance(exc, DotsyncError) else type(exc).__name__
        store.finish_verify(
            job.verify_id, VerifyStatus.FAILED, account_id=job.account, report=None, error=error
        )
        raise


class _Verify:
    def __init__(
        self,
        store: StateStore,
        stats: CallStats,
        export: str,
        record: VerifyRecord,
        *,
        connection_name: str,
        fallback_account: str,
        progress: ProgressFn,
        stop: threading.Event,
    ) -> None:
        self.store, self.stats, self.export = store, stats, export
        self.verify_id, self.started_at = record.verify_id, record.started_at
        self.progress = progress
        # Without an account id from DotDigital, the API user and host stand for the account
        # (as in a run).
        self.fallback_account = fallback_account
        self.connection_name = connection_name
        self.account: str | None = None
        self.book: BookRef | None = None
        self.feeds_complete = False
        self.stop = stop  # set: stop between two pages (serve is stopping)
        self.duck = duckdb.connect(":memory:")
        self.duck.execute("set preserve_insertion_order = false")

    def close(self) -> None:
        self.store.members.close()
        self.store.ledger.close()
        self.duck.close()

    # --- the check ----------------------------------------------------------------------------

    def check(
        self,
        client: DotDigitalClient,
        book_id: int,
        on_budget: Callable[[CallBudget], None],
    ) -> VerifyReport:
        info = client.discover()
        try:
            size = client.address_book(book_id).contacts
        except NotFoundError as exc:
            raise NotFoundError(
                f"export {self.export!r}: the account has no address book {book_id} (deleted, or "
                "address_book_id changed); see `dotsync address-books CONNECTION`",
                status=exc.status,
                code=exc.code,
            ) from None
        account = str(info.account_id or self.fallback_account)
        self.account = account
        self.book = book = BookRef(account, book_id)
        bound = self.store.book_of(self.export)
        if bound is not None and bound != book:
            raise BookChangedError(
                f"export {self.export!r} wrote address book {bound.book_id} until now and is now "
                f"configured for address book {book_id}: its members are in the old book, so "
                f"there is nothing to verify in the new one yet. Run `dotsync export "
                f"{self.export} --move-book` first (or set address_book_id = {bound.book_id} "
                "again)",
                key=f"connections.{self.connection_name}.address_book_id",
            )
        since = self._feeds_from(book)
        budget = call_budget(size, feeds=2 if since is not None else 0)
        on_budget(budget)
        log.info("verify of export %s: %s", self.export, budget.describe())

        create_inputs(self.duck)
        BookReader(
            store=self.store,
            duck=self.duck,
            export=self.export,
            book=book,
            run_id=0,
            read_book=None,
        ).register()
        self._possible_hashes(book)
        checks = [
            Check(
                name="setup",
                endpoint=f"{_ACCOUNT}, {_BOOK}",
                purpose="the account's id and the book's size, for the budget",
                calls=self._calls(_ACCOUNT) + self._calls(_BOOK),
                budget=SETUP_CALLS,
            ),
            self._read_members(client, book_id, budget),
        ]
        if since is not None:
            checks.append(self._read_unsubscribes(client, book_id, since, budget.feed_pages))
            checks.append(self._read_suppressions(client, since, budget.feed_pages))
        self.feeds_complete = all(c.complete for c in checks)
        counts, samples = compare(self.duck)
        calls = self.stats.snapshot()
        return VerifyReport(
            verify_id=self.verify_id,
            export=self.export,
            address_book_id=book_id,
            status=VerifyStatus.DRIFT if counts.drift else VerifyStatus.CLEAN,
            started_at=self.started_at,
            finished_at=datetime.now(UTC),
            budget=budget.total,
            api_calls=calls.total_calls - calls.total_retries,
            api_calls_by_endpoint=calls.calls,
            checks=checks,
            counts=counts,
            samples=samples,
        )

    def _feeds_from(self, book: BookRef) -> datetime | None:
        """The feeds start where the last recording verify started, or where dotsync first read
        the book (before that, nothing in it was dotsync's); less an overlap for clocks."""
        since = self.store.statuses_recorded_at(book) or self.store.book_read(book).baseline_at
        return None if since is None else since - READ_OVERLAP

    def _possible_hashes(self, book: BookRef) -> None:
        files = [
            p.batch_file
            for p in self.store.possible_imports(self.store.exports_of(book), book.book_id)
            if p.batch_file.exists()
        ]
        self.duck.execute(
            f"create or replace temp table {tables.POSSIBLE_HASHES}(email_hash varchar)"
        )
        if files:
            listing = ", ".join(quote_literal(str(f)) for f in files)
            self.duck.execute(
                f"insert into {tables.POSSIBLE_HASHES} "
                f"select distinct email_hash from read_parquet([{listing}])"
            )

    def _read_members(self, client: DotDigitalClient, book_id: int, budget: CallBudget) -> Check:
        read = 0
        self.progress("read book", 0, budget.book_contacts)
        pages = client.book_members(book_id, page_size=MEMBER_PAGE)
        for number, page in enumerate(pages, start=1):
            page_rows = pa.table(  # noqa: F841 - read by name in the SQL below
                {
                    "contact_id": pa.array([int(c.contact_id) for c in page], pa.int64()),
                    "email": pa.array([c.email for c in page], pa.string()),
                    "status": pa.array([presence_of(c.status) for c in page], pa.string()),
                }
            )
            self.duck.execute(
                f"insert into book_now select case when email is null then null else "
                f"{email_hash_sql('email')} end, contact_id, status from page_rows"
            )
            read += len(page)
            self.progress("read book", read, budget.book_contacts)
            self._check_stop()
            if number >= budget.member_pages and len(page) >= MEMBER_PAGE:
                raise BudgetExceededError(
                    f"address book {book_id} grew during the read (it had {budget.book_contacts:,} "
                    f"members; {read:,} read in the {budget.member_pages:,} calls of the budget): "
                    "the verify stopped before comparing anything; run it again"
                )
        return Check(
            name="members",
            endpoint=_MEMBERS,
            purpose="every member of the book (the only way to see removals made by hand)",
            calls=self._calls(_MEMBERS),
            budget=budget.member_pages,
            items=read,
        )

    def _read_unsubscribes(
        self, client: DotDigitalClient, book_id: int, since: datetime, max_pages: int
    ) -> Check:
        items, complete = self._feed(
            client.book_unsubscribed_since(book_id, since), "feed_unsubscribed", max_pages
        )
        return Check(
            name="book_unsubscribes",
            endpoint=_UNSUBSCRIBES,
            purpose="who unsubscribed from the book (a full read cannot tell them from removals)",
            calls=self._calls(_UNSUBSCRIBES),
            budget=max_pages,
            items=items,
            since=since,
            complete=complete,
        )

    def _read_suppressions(
        self, client: DotDigitalClient, since: datetime, max_pages: int
    ) -> Check:
        items, complete = self._feed(client.suppressed_since(since), "feed_suppressed", max_pages)
        return Check(
            name="account_suppressions",
            endpoint=_SUPPRESSIONS,
            purpose="suppressions of the account (unsubscribes, bounces, complaints)",
            calls=self._calls(_SUPPRESSIONS),
            budget=max_pages,
            items=items,
            since=since,
            complete=complete,
        )

    def _feed(self, pages: Iterator[Sequence[Any]], table: str, max_pages: int) -> tuple[int, bool]:
        """Reads at most ``max_pages`` pages (each one call). Complete unless the last page read
        was full (a further page may exist: it is left for the next verify)."""
        items = 0
        for number, page in enumerate(pages, start=1):
            rows = pa.table(  # noqa: F841 - read by name in the SQL below
                {
                    "contact_id": pa.array([c.contact_id for c in page], pa.int64()),
                    "email": pa.array([c.email for c in page], pa.string()),
                }
            )
            self.duck.execute(
                f"insert into {table} select case when email is null then null else "
                f"{email_hash_sql('email')} end, contact_id from rows"
            )
            items += len(page)
            self._check_stop()
            if number >= max_pages and len(page) >= FEED_PAGE:
                log.warning(
                    "more than %d entries in %s since the last verify: the rest is read next time",
                    items,
                    table,
                )
                return items, False
        return items, True

    def _check_stop(self) -> None:
        if self.stop.is_set():
            raise InterruptedRunError(
                "verify stopped on request before comparing anything; run it again"
            )

    def _calls(self, endpoint: str) -> int:
        snap = self.stats.snapshot()
        return snap.calls.get(endpoint, 0) - snap.retries.get(endpoint, 0)

    # --- the repair -----------------------------------------------------------------------------

    def record_repair(self, report: VerifyReport) -> tuple[VerifyReport, bool]:
        """Writes what the ledger and the member store must learn; returns the report and
        whether the export must run to send the missing back."""
        assert self.book is not None
        store, duck, book = self.store, self.duck, self.book
        statuses = record_refusals(
            store, duck, book, "select email_hash, contact_id, status from drift_status", 0
        )
        found = store.ledger.merge(
            duck,
            book,
            "select email_hash, contact_id, 'found', status from drift_unknown "
            "where email_hash is not null",
            0,
        )
        keys = [str(k) for (k,) in duck.execute("select key from drift_missing").fetchall()]
        reason = None
        if keys and not self.feeds_complete:
            reason = (
                "the change feeds had more entries than the budget allows: an unsubscribe may be "
                "among those not read yet; run verify --repair again"
            )
            keys = []
        if keys:
            store.members.forget_keys(self.export, book.book_id, keys)
        repair = RepairReport(
            statuses_recorded=statuses,
            unknown_recorded_found=found,
            confirmations_forgotten=len(keys),
            missing_not_sent_back=reason,
        )
        updated = report.model_copy(update={"status": VerifyStatus.REPAIRED, "repair": repair})
        return updated, bool(keys)


def _run_repair(
    config: Config,
    name: str,
    report: VerifyReport,
    stop: threading.Event | None,
    progress: ProgressFn | None,
    http_client: httpx.Client | None,
) -> VerifyReport:
    """The export's normal run, now that the missing are no longer confirmed: it takes the locks
    again (released just before; a run that slips in between does the same work)."""
    result = run_export(config, name, stop=stop, progress=progress, http_client=http_client)
    assert report.repair is not None
    repair = report.repair.model_copy(
        update={
            "run_id": result.run_id,
            "run_status": str(result.status.value),
            "run_entered": result.counts.entered,
            "run_sent": result.counts.sent,
        }
    )
    return report.model_copy(update={"repair": repair, "finished_at": datetime.now(UTC)})


def load_report(text: str | None) -> VerifyReport | None:
    return None if not text else VerifyReport.model_validate_json(text)
