"""``dotsync pull``: DotDigital's unsubscribes, bounces and suppressions back where the segments
are computed. The I/O around the pure core (``feeds``, ``statuses``, ``keys``), in order:

1. take the export's and the account's locks, as a run does (the export's member state is read,
   and the account's call limits are shared);
2. open the destination (created if missing) and read the export's rows from it;
3. find the account, then read the three status feeds (the account's suppressions and
   unsubscribes, the book's unsubscribes), each from its cursor, page by page, while the call
   budget allows; name each entry's profile key;
4. when a row (or an entry just read) says someone is not subscribed, read the account's changed
   contacts since then: one found subscribed again (and back in the book, if it had left the book
   only) came back, which no feed reports;
5. resolve the reports against the rows and write the changes in one step;
6. only then save the feeds' cursors: a pull killed before this point reads the same entries
   again next time (the destination's de-duplication makes that harmless), never skips one.

Nothing here e-mails anyone, and no e-mail address is kept: the feeds' addresses are hashed as
they arrive and matched with the hashes the state holds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import httpx

from dotsync.config import Config, require_privacy_ack
from dotsync.connect import open_client
from dotsync.dotdigital import CallStats, DotDigitalClient
from dotsync.errors import BookChangedError, DotsyncError, InterruptedRunError
from dotsync.pull import keys
from dotsync.pull.destination import Destination, open_destination
from dotsync.pull.feeds import (
    ACCOUNT_CHANGES,
    ACCOUNT_SUPPRESSIONS,
    ACCOUNT_UNSUBSCRIBES,
    BOOK_UNSUBSCRIBES,
    PAGE,
    STATUS_FEEDS,
    CallBudget,
    Feed,
    PassPlan,
    after_pass,
    capped,
    feed_key,
    in_turn,
    plan_pass,
)
from dotsync.pull.report import FeedRead, PullCounts, PullOutcome, PullReport
from dotsync.pull.statuses import Risk, StatusChange, at_risk, resolve
from dotsync.state import BookRef, FeedCursor, StateStore
from dotsync.state.locks import account_lock, run_locks
from dotsync.state.pulls import FeedKey

log = logging.getLogger(__name__)

Sink = Callable[[Sequence[Any], datetime], None]


@dataclass(frozen=True)
class _Page:
    items: Sequence[Any]
    last: bool  # nothing comes after it
    skip: int  # the offset after it (feeds paged by offset)
    marker: str | None  # the next page's marker (feeds paged by marker)


def pull_export(
    config: Config,
    name: str,
    *,
    stop: threading.Event | None = None,
    http_client: httpx.Client | None = None,
) -> PullReport:
    """Pull the export ``name`` once (see the module). Raises a DotsyncError when it cannot (the
    pull is recorded as failed; nothing it read is lost: the next pull reads it again)."""
    export = config.find_export(name)
    connection = config.connections[export.connection]
    require_privacy_ack(export.connection, connection)  # the feeds bring e-mails in, to hash
    locks = run_locks(name, str(connection.api_url), connection.api_user)
    destination = open_destination(config)
    try:
        with StateStore(config.state.url) as store:
            store.acquire_locks(locks, name, lease_seconds=config.serve.lease_seconds)
            try:
                job = _Pull(config, name, store, destination, stop or threading.Event())
                return job.run(http_client)
            finally:
                store.release_locks(locks)
    finally:
        destination.close()


class _Pull:
    def __init__(
        self,
        config: Config,
        export: str,
        store: StateStore,
        destination: Destination,
        stop: threading.Event,
    ) -> None:
        self.config, self.export, self.store = config, export, store
        self.destination, self.stop = destination, stop
        self.connection_name = config.exports[export].connection
        self.connection = config.connections[self.connection_name]
        self.book_id = int(self.connection.address_book_id)
        self.budget = CallBudget(config.pull.max_calls)
        self.stats = CallStats()
        self.account: str | None = None
        self.pull_id, self.started_at = store.pulls.start(export, self.book_id)

    def run(self, http_client: httpx.Client | None) -> PullReport:
        try:
            report = self._pull(http_client)
        except BaseException as exc:
            error = str(exc) if isinstance(exc, DotsyncError) else type(exc).__name__
            stopped = isinstance(exc, InterruptedRunError | KeyboardInterrupt)
            status = PullOutcome.INTERRUPTED if stopped else PullOutcome.FAILED
            self.store.pulls.finish(
                self.pull_id, status, account=self.account, report=None, error=error
            )
            raise
        finally:
            self.store.members.close()
        self.store.pulls.finish(
            self.pull_id, report.status, account=self.account, report=report.model_dump_json()
        )
        log.info(
            "pull of export %s: %s rows written %s, %d unchanged, %d unknown contacts, "
            "%d calls of %d",
            self.export,
            report.counts.rows_written,
            report.counts.written,
            report.counts.unchanged,
            report.counts.unknown_contacts,
            report.api_calls,
            report.budget,
        )
        return report

    def _report(self, status: PullOutcome, **fields: Any) -> PullReport:
        snap = self.stats.snapshot()
        return PullReport(
            pull_id=self.pull_id,
            export=self.export,
            address_book_id=self.book_id,
            account_id=self.account,
            status=status,
            started_at=self.started_at,
            finished_at=datetime.now(UTC),
            destination=self.destination.description,
            budget=self.budget.max_calls,
            api_calls=snap.total_calls - snap.total_retries,
            api_calls_by_endpoint=snap.calls,
            **fields,
        )

    def _pull(self, http_client: httpx.Client | None) -> PullReport:
        first_run = self.store.pulls.first_run_at(self.export)
        if first_run is None:
            # Nothing to read yet, but the table or file is made now, empty, so that segments
            # can name it before the first export.
            self.destination.write(self.export, self.book_id, [], datetime.now(UTC))
            return self._report(
                PullOutcome.SKIPPED,
                note=f"export {self.export!r} has not run yet: none of its contacts are in "
                f"DotDigital. The {self.destination.description} is ready (empty) for segments "
                "to name; the first pull after the first run starts there",
            )
        first_start = self.config.pull.start_date or first_run
        with open_client(
            self.connection,
            name=self.connection_name,
            http_client=http_client,
            stats=self.stats,
            stop=self.stop,
            config_path=self.config.path,
        ) as client:
            info = client.discover()
            fallback = account_lock(str(self.connection.api_url), self.connection.api_user)
            self.account = str(info.account_id or fallback.removeprefix("account:"))
            self._check_book(BookRef(self.account, self.book_id))
            current = self.destination.current(self.export)
            duck = duckdb.connect(":memory:")
            try:
                duck.execute("set TimeZone = 'UTC'")
                return self._read_and_write(client, duck, first_start, current)
            finally:
                self.store.members.close()
                duck.close()

    def _check_book(self, book: BookRef) -> None:
        bound = self.store.book_of(self.export)
        if bound is not None and bound != book:
            raise BookChangedError(
                f"export {self.export!r} wrote address book {bound.book_id} until now and is now "
                f"configured for address book {self.book_id}: its contacts are in the old book. "
                f"Run `dotsync export {self.export} --move-book` first (or set address_book_id "
                f"= {bound.book_id} again)",
                key=f"connections.{self.connection_name}.address_book_id",
            )

    def _read_and_write(
        self,
        client: DotDigitalClient,
        duck: duckdb.DuckDBPyConnection,
        first_start: datetime,
        current: dict[str, StatusChange],
    ) -> PullReport:
        assert self.account is not None
        self.store.members.register(duck, self.export, self.book_id)
        self.store.pulls.register_refused(duck, self.export, self.book_id)
        self.store.pulls.register_pulled(duck, self.export, self.book_id)
        keys.create_inputs(duck)
        cursors = self.store.pulls.cursors(self.export, self.account)
        now = client.server_now()

        reads, moved = self._read_statuses(client, duck, cursors, first_start, now)
        reports = keys.keyed_reports(duck)
        risk = at_risk(current, reports)
        complete = all(r.complete for r in reads)
        read, changes = self._read_changes(
            client, duck, cursors, moved, risk, first_start, now, statuses_complete=complete
        )
        reads.append(read)
        if changes is not None:
            moved[feed_key(ACCOUNT_CHANGES, self.book_id)] = changes
        reports += keys.resubscribed(duck, {key: r.scope for key, r in risk.items()})

        resolution = resolve(reports, current)
        self._check_stop()
        # The rows first, then the cursors: killed in between, the next pull reads these
        # entries again and finds them written.
        self.destination.write(
            self.export, self.book_id, resolution.changes, pulled_at=datetime.now(UTC)
        )
        written = keys.contacts_of(duck, {c.key for c in resolution.changes})
        self.store.pulls.save_pull(
            self.export, self.account, moved, book_id=self.book_id, keys=written
        )
        counts = PullCounts(
            entries=sum(r.items for r in reads if r.name != ACCOUNT_CHANGES.name),
            contacts_checked=read.items,
            written=resolution.written(),
            unchanged=resolution.unchanged,
            unknown_contacts=keys.unknown_contacts(duck),
        )
        note = None
        if not all(r.complete for r in reads):
            note = (
                f"the call budget ({self.budget.max_calls}, `pull.max_calls`) ran out before "
                "every feed was read to its end: the next pull goes on from there"
            )
        return self._report(PullOutcome.SUCCEEDED, feeds=reads, counts=counts, note=note)

    def _read_statuses(
        self,
        client: DotDigitalClient,
        duck: duckdb.DuckDBPyConnection,
        cursors: Mapping[FeedKey, FeedCursor],
        first_start: datetime,
        now: datetime,
    ) -> tuple[list[FeedRead], dict[FeedKey, FeedCursor]]:
        """The three status feeds, the one that waited longest first, into ``pull_entries``;
        their reads and the cursors that moved."""
        reads: list[FeedRead] = []
        moved: dict[FeedKey, FeedCursor] = {}
        for feed in in_turn(STATUS_FEEDS, cursors, self.book_id, first_start):
            key = feed_key(feed, self.book_id)
            plan = plan_pass(cursors.get(key), first_start, now)
            read, cursor = self._read(
                client, feed, plan, cursors.get(key), first_start, self._entries_sink(duck, feed)
            )
            reads.append(read)
            if cursor is not None:
                moved[key] = cursor
        return reads, moved

    def _read_changes(
        self,
        client: DotDigitalClient,
        duck: duckdb.DuckDBPyConnection,
        cursors: Mapping[FeedKey, FeedCursor],
        moved: Mapping[FeedKey, FeedCursor],
        risk: Mapping[str, Risk],
        first_start: datetime,
        now: datetime,
        *,
        statuses_complete: bool,
    ) -> tuple[FeedRead, FeedCursor | None]:
        """The account's changes into ``pull_observed``, when someone could have come back; the
        read and the feed's new cursor (None: unchanged), never ahead of the status feeds."""
        cursor = cursors.get(feed_key(ACCOUNT_CHANGES, self.book_id))
        if risk:
            # Only once every status is known can the read start at the earliest of them.
            earliest = min(r.since for r in risk.values()) if statuses_complete else None
            plan = plan_pass(cursor, first_start, now, not_before=earliest)
            read, after = self._read(
                client, ACCOUNT_CHANGES, plan, cursor, first_start, self._observed_sink(duck)
            )
        else:
            # Nobody could have come back: nothing to read, and nothing missed up to now once
            # the status feeds are read to their end.
            after = FeedCursor(now) if statuses_complete else None
            read = FeedRead(
                name=ACCOUNT_CHANGES.name,
                endpoint=ACCOUNT_CHANGES.endpoint,
                purpose=ACCOUNT_CHANGES.purpose,
                read=False,
                complete=statuses_complete,
            )
        if after is None:
            return read, None
        ceiling = min(
            (moved.get(k) or cursors.get(k) or FeedCursor(first_start)).watermark
            for k in (feed_key(f, self.book_id) for f in STATUS_FEEDS)
        )
        return read, capped(after, ceiling)

    def _read(
        self,
        client: DotDigitalClient,
        feed: Feed,
        plan: PassPlan,
        cursor: FeedCursor | None,
        first_start: datetime,
        sink: Sink,
    ) -> tuple[FeedRead, FeedCursor | None]:
        """Pages of ``feed`` from the plan's place while the budget allows one more call; the
        read, and the feed's cursor after it (None: unchanged)."""
        calls_before = self._calls(feed.endpoint)
        pages = self._pages(client, feed, plan)
        where = _Page((), last=False, skip=plan.skip, marker=plan.marker)
        items, complete = 0, False
        while self.budget.allows(self._used()):
            seen_at = client.server_now()  # before the call: what the page says held then
            page = next(pages, None)
            if page is None:
                complete = True
                break
            sink(page.items, seen_at)
            items += len(page.items)
            where = page
            if page.last:
                complete = True
                break
            self._check_stop()
        moved = None  # nothing read: the cursor stays where it was
        if complete or items:
            moved = after_pass(
                plan, cursor, first_start, complete=complete, skip=where.skip, marker=where.marker
            )
        read = FeedRead(
            name=feed.name,
            endpoint=feed.endpoint,
            purpose=feed.purpose,
            since=plan.since,
            skip=plan.skip,
            items=items,
            calls=self._calls(feed.endpoint) - calls_before,
            complete=complete,
        )
        return read, moved

    @staticmethod
    def _entries_sink(duck: duckdb.DuckDBPyConnection, feed: Feed) -> Sink:
        def sink(page: Sequence[Any], seen_at: datetime) -> None:
            keys.add_entries(duck, feed, page, seen_at)

        return sink

    def _observed_sink(self, duck: duckdb.DuckDBPyConnection) -> Sink:
        def sink(page: Sequence[Any], seen_at: datetime) -> None:
            keys.add_observed(duck, page, self.book_id, seen_at)

        return sink

    def _pages(self, client: DotDigitalClient, feed: Feed, plan: PassPlan) -> Iterator[_Page]:
        """The feed's pages from the plan's place, each with the place after it."""
        if feed.by_marker:
            assert feed is ACCOUNT_CHANGES
            for page in client.contact_pages(
                modified_since=plan.since, marker=plan.marker, with_lists=True
            ):
                yield _Page(page.items, page.next_marker is None, 0, page.next_marker)
            return
        skip = plan.skip
        for items in self._offset_pages(client, feed, plan):
            skip += len(items)
            yield _Page(items, len(items) < PAGE, skip, None)

    def _offset_pages(
        self, client: DotDigitalClient, feed: Feed, plan: PassPlan
    ) -> Iterator[Sequence[Any]]:
        since, skip = plan.since, plan.skip
        if feed is ACCOUNT_SUPPRESSIONS:
            return client.suppressed_since(since, skip=skip)
        if feed is ACCOUNT_UNSUBSCRIBES:
            return client.unsubscribed_since(since, skip=skip)
        assert feed is BOOK_UNSUBSCRIBES
        return client.book_unsubscribed_since(self.book_id, since, skip=skip)

    def _used(self) -> int:
        snap = self.stats.snapshot()
        return snap.total_calls - snap.total_retries

    def _calls(self, endpoint: str) -> int:
        snap = self.stats.snapshot()
        return snap.calls.get(endpoint, 0) - snap.retries.get(endpoint, 0)

    def _check_stop(self) -> None:
        if self.stop.is_set():
            raise InterruptedRunError(
                "pull stopped on request before writing anything; the next pull reads it all again"
            )
