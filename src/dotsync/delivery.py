"""Deliver batches to DotDigital and commit what it confirms: the I/O half of a run.

Checkpoints, in order, each one transaction of the state store:
1. a batch is *prepared* (its member file written) before it is sent;
2. it is *submitted* as soon as DotDigital answers 202 with an import id;
3. it is *committed* (its members written to the state) only when the import has finished and its
   results are read.
A process killed anywhere resumes from the last checkpoint: submitted imports are polled, not sent
again; prepared ones are abandoned and their members, still pending, are planned again.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from dotsync import tables
from dotsync.dotdigital import DotDigitalClient, ImportProgress, ImportStatus
from dotsync.dotdigital.retry import PollPolicy
from dotsync.encode import Batch
from dotsync.errors import ImportFailedError, InterruptedRunError, RejectedDataError
from dotsync.identity import email_hash_sql, quote_literal
from dotsync.ownership import record_refusals
from dotsync.state import BookRef, PendingImport, StateStore

log = logging.getLogger(__name__)

# Import statuses that mean "still working". Everything else is an end.
IN_PROGRESS = frozenset({ImportStatus.NOT_FINISHED.value})
# v3 failure codes that mean the person chose not to receive mail (or the address cannot): they are
# counted as suppressed and never re-subscribed. Matching by substring keeps us robust to the
# exact spelling, which DotDigital's documents do not list exhaustively (assumption).
_SUPPRESSION_HINTS = ("suppress", "unsubscrib", "bounce", "complain", "blocked", "optout")


# Contact ids per bulk removal request: DotDigital documents no maximum (assumption); a 1M purge
# is then 100 calls.
REMOVAL_CHUNK = 10_000
# Contacts per recorded unsubscribe chunk: two calls each (the contact's e-mail, the unsubscribe),
# so a chunk is a checkpoint every few minutes at worst.
UNSUBSCRIBE_CHUNK = 500


@dataclass
class DeliveryTotals:
    sent: int = 0
    created: int = 0
    updated: int = 0
    suppressed: int = 0
    failed: int = 0
    imports: int = 0
    bytes_uploaded: int = 0
    failure_reasons: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class InFlight:
    row_id: int
    import_id: str
    members_file: Path
    contacts: int
    # With a shared state, a resumed batch is read from a copy of the state's; the file its
    # run wrote, when that run was on this machine, goes too once committed.
    sent_file: Path | None = None


@dataclass
class _Poll:
    item: InFlight
    next_at: float
    index: int  # polls made so far
    order: int = 0  # submission order


# The client's one poll policy, tuned for imports in flight side by side: quick at first, then
# every few seconds. The cap bounds the time lost after an import ends (measured: 2.6 s of a 1M
# export slept with a 30 s cap); a 1M export still polls a few dozen times, far within any rate
# limit. No overall bound: a run resumes its imports whatever their age.
IMPORT_POLL = PollPolicy(start=0.25, factor=1.6, cap=5.0, max_wait=None)


class Deliverer:
    def __init__(
        self,
        *,
        client: DotDigitalClient,
        store: StateStore,
        duck: duckdb.DuckDBPyConnection,
        export: str,
        book_id: int,
        run_id: int,
        totals: DeliveryTotals,
        book: BookRef | None = None,
        max_in_flight: int = 5,
        poll: PollPolicy = IMPORT_POLL,
        should_stop: Callable[[], bool] = lambda: False,
        heartbeat: Callable[[], None] = lambda: None,
        on_progress: Callable[[int], None] = lambda _n: None,
        on_in_flight: Callable[[int], None] = lambda _n: None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client, self.store, self.duck = client, store, duck
        self.export, self.book_id, self.run_id = export, book_id, run_id
        self.book = book  # the ownership ledger's key; None only where no ledger is kept (tests)
        self.totals = totals
        self.max_in_flight = max(1, max_in_flight)
        self.poll = poll
        self.should_stop, self.heartbeat, self.on_progress = should_stop, heartbeat, on_progress
        self.on_in_flight = on_in_flight
        self.sleep, self.clock = sleep, clock
        self.duck.execute(
            f"create temp table if not exists {tables.DELIVERY_FAILURES}("
            "key varchar, reason varchar, field varchar, detail varchar)"
        )

    # --- imports ----------------------------------------------------------------------------

    def resume(self, pending: Sequence[PendingImport]) -> int:
        """Poll imports that an interrupted run submitted, and commit them."""
        items = [
            InFlight(p.row_id, p.import_id, p.batch_file, p.contacts, p.sent_file) for p in pending
        ]
        self._drain(items, iter(()))
        return len(items)

    def deliver(
        self, batches: Iterable[Batch], on_progress: Callable[[int], None] | None = None
    ) -> None:
        """Send every batch, at most ``max_in_flight`` imports active at once, committing each as
        it finishes; ``on_progress`` hears how many contacts each commit confirmed. ``batches``
        may be a generator (``encode.iter_batches``): a batch is encoded when a place in flight
        is free, so encoding the next batch overlaps DotDigital's processing of the last."""
        if on_progress is not None:
            self.on_progress = on_progress
        self._drain([], iter(batches))

    def _drain(self, in_flight: list[InFlight], queue: Iterator[Batch]) -> None:
        polls = [_Poll(i, self.clock(), 0, n) for n, i in enumerate(in_flight)]
        submitted = len(polls)
        more = True
        while polls or more:
            while more and len(polls) < self.max_in_flight:
                self._check_stop()
                batch = next(queue, None)
                if batch is None:
                    more = False
                    break
                item = self._submit(batch)
                polls.append(_Poll(item, self.clock() + self.poll.delay(0), 0, submitted))
                submitted += 1
            if not polls:
                break
            self.on_in_flight(len(polls))
            polls.sort(key=lambda p: p.next_at)
            head = polls[0]
            wait = head.next_at - self.clock()
            if wait > 0:
                self._check_stop()
                self.sleep(wait)
            result, reply = self.client.contacts_import_progress(head.item.import_id)
            self.heartbeat()
            if result.status in IN_PROGRESS:
                head.index += 1
                head.next_at = self.clock() + self.poll.delay(head.index)
                continue
            polls.remove(head)
            self.on_in_flight(len(polls))
            self._quicken_next(polls)
            self._finish(head.item, result, reply)

    def _quicken_next(self, polls: list[_Poll]) -> None:
        """An import ended: the oldest one still in flight is probably being processed now
        (the emulator processes imports in the order submitted; DotDigital documents no order:
        assumption), so its polls start again from the quick end of the schedule. Its end is
        then seen within a fraction of a second rather than up to the schedule's cap later, for
        a few more polls an import (a 1M export: about 40 in all)."""
        if not polls:
            return
        oldest = min(polls, key=lambda p: p.order)
        oldest.index = 0
        oldest.next_at = min(oldest.next_at, self.clock() + self.poll.delay(0))

    def _submit(self, batch: Batch) -> InFlight:
        row_id = self.store.add_import(
            self.run_id,
            self.export,
            self.book_id,
            batch.seq,
            batch.members_file,
            batch.contacts,
            batch.size,
        )
        try:
            import_id = self.client.start_contacts_import(batch.body_file)
        except RejectedDataError as exc:
            # A 4xx: DotDigital refused the body, nothing of it reached the book. Any other
            # failure (retries run out with no reply) leaves the batch prepared: the next run
            # takes it as possibly delivered, as after a crash.
            self.store.import_abandoned(row_id, str(exc))
            raise
        self.store.import_submitted(row_id, import_id)
        batch.body_file.unlink(missing_ok=True)  # e-mail addresses: not kept longer than needed
        self.totals.imports += 1
        self.totals.sent += batch.contacts
        self.totals.bytes_uploaded += batch.size
        log.info(
            "import %s submitted: %d contacts, %d bytes", import_id, batch.contacts, batch.size
        )
        return InFlight(row_id, import_id, batch.members_file, batch.contacts)

    def _finish(self, item: InFlight, result: ImportProgress, reply: bytes) -> None:
        status = str(result.status)
        if status != ImportStatus.FINISHED:
            self.store.import_failed(item.row_id, f"import ended {status}")
            raise ImportFailedError(
                f"DotDigital import {item.import_id} ended {status}: its {item.contacts} contacts "
                "stay pending and are sent again by the next run",
                import_id=item.import_id,
                status=status,
            )
        self._commit(item, result, reply)

    def _confirmed(self, item: InFlight, reply: bytes) -> tuple[int, int]:
        """``import_result(contact_id, email_hash)``: the contacts the finished import created or
        updated, read by DuckDB from the reply's bytes (a private file beside the batch's, gone
        at once), never as a Python object each. Returns (created, confirmed with an e-mail)."""
        reply_file = item.members_file.with_suffix(".reply.json")
        fd = os.open(reply_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # e-mails
        contacts = "STRUCT(contactId BIGINT, identifiers STRUCT(email VARCHAR))[]"
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(reply)
            # One read of the one object (two would double the reader's buffers).
            self.duck.execute(
                f"""create or replace temp table _import_reply as
                select * from read_json({quote_literal(str(reply_file))},
                    columns = {{created: '{contacts}', updated: '{contacts}'}},
                    maximum_object_size = {max(len(reply) + 1, 1 << 24)})"""
            )
        finally:
            reply_file.unlink(missing_ok=True)
        self.duck.execute(
            f"""create or replace temp table import_result as
            select c.contactId as contact_id, {email_hash_sql("c.identifiers.email")} as email_hash
            from (select unnest(created) as c from _import_reply
                  union all select unnest(updated) from _import_reply)
            where c.identifiers.email is not null"""
        )
        rows = self.duck.execute(
            "select (select coalesce(sum(len(created)), 0) from _import_reply), "
            "(select count(*) from import_result)"
        ).fetchall()
        self.duck.execute("drop table _import_reply")
        return int(rows[0][0]), int(rows[0][1])

    def _commit(self, item: InFlight, result: ImportProgress, reply: bytes) -> None:
        created, confirmed_count = self._confirmed(item, reply)
        batch_sql = f"read_parquet({quote_literal(str(item.members_file))})"
        if self.book is not None:
            # The ledger first: a crash before the members' upsert replays both on resume, and a
            # contact already known (found in the book) keeps its origin.
            self.store.ledger.merge(
                self.duck,
                self.book,
                "select email_hash, contact_id, 'added', 'confirmed' from import_result",
                self.run_id,
            )
        confirmed = self.store.members.upsert(
            self.duck,
            # b.*: key, email_hash, digest and, when the rows carry one, row_version
            f"""select b.*, r.contact_id
            from {batch_sql} b join import_result r using (email_hash)""",
            self.export,
            self.book_id,
            self.run_id,
        )
        self.duck.execute("drop table import_result")
        self._record_failures(result, batch_sql)
        self.store.commit_import(item.row_id)
        self.totals.created += created
        self.totals.updated += confirmed_count - created
        item.members_file.unlink(missing_ok=True)
        if item.sent_file is not None:
            item.sent_file.unlink(missing_ok=True)
        self.on_progress(item.contacts)
        log.info("import %s committed: %d members confirmed", item.import_id, confirmed)

    def _record_failures(self, result: ImportProgress, batch_sql: str) -> None:
        if not result.failures:
            return
        emails, reasons, details = [], [], []
        for failure in result.failures:
            code = "; ".join(c for c, _d in failure.reasons) or "failure"
            description = "; ".join(d for _c, d in failure.reasons)
            suppressed = any(h in code.lower() for h in _SUPPRESSION_HINTS)
            emails.append(str(failure.email or ""))
            reasons.append("suppressed" if suppressed else "dotdigital_rejected")
            details.append(f"{code}: {description}".strip())
        self.duck.register(
            "import_failures", pa.table({"email": emails, "reason": reasons, "detail": details})
        )
        # A member dotsync unsubscribed from this book when it left, back in the segments:
        # DotDigital refuses it as suppressed for this book; say so.
        unsubscribed = (
            f"(select email_hash from {tables.LEDGER_CONTACTS} where status = 'unsubscribed')"
            if self.book is not None
            else "(select null::varchar as email_hash where false)"
        )
        self.duck.execute(
            f"""create or replace temp table _failed as
            select {email_hash_sql("f.email")} as email_hash,
              case when f.reason = 'suppressed' and {email_hash_sql("f.email")} in {unsubscribed}
                then 'unsubscribed_from_book' else f.reason end as reason,
              f.detail
            from import_failures f"""
        )
        self.duck.unregister("import_failures")
        for reason, n in self.duck.execute(
            "select reason, count(*) from _failed group by reason"
        ).fetchall():
            self.totals.failure_reasons[reason] = self.totals.failure_reasons.get(reason, 0) + n
            if reason == "dotdigital_rejected":
                self.totals.failed += n
            else:
                self.totals.suppressed += n
        self.duck.execute(
            f"""insert into {tables.DELIVERY_FAILURES}
            select b.key, f.reason, null, f.detail
            from {batch_sql} b join _failed f using (email_hash)"""
        )
        # Their keys, for `dotsync pull`: DotDigital gives no contact id for them, so a later
        # feed entry of such a contact is matched to its key by the e-mail's hash.
        refused = self.duck.execute(
            f"""select b.key, f.email_hash from {batch_sql} b join _failed f using (email_hash)
            where f.reason in ('suppressed', 'unsubscribed_from_book')"""
        ).fetchall()
        self.store.pulls.remember_refused(
            self.export, self.book_id, self.run_id, [(str(k), str(h)) for k, h in refused]
        )
        if self.book is not None:
            # Remembered, so that they are not sent again until a read of the book shows them
            # subscribed again (or --full).
            record_refusals(
                self.store,
                self.duck,
                self.book,
                "select email_hash, null, 'suppressed' from _failed where reason = 'suppressed'",
                self.run_id,
            )
        self.duck.execute("drop table _failed")

    def _check_stop(self) -> None:
        if self.should_stop():
            raise InterruptedRunError(
                "stopped on request; submitted imports are resumed by the next run"
            )

    # --- removals ---------------------------------------------------------------------------

    def remove(self, contact_ids: Sequence[int], chunk: int = REMOVAL_CHUNK) -> int:
        """Take contacts out of the address book (never out of the account)."""
        removed = 0
        for start in range(0, len(contact_ids), chunk):
            self._check_stop()
            ids = list(contact_ids[start : start + chunk])
            row_id = self.store.add_removal(self.run_id, self.export, self.book_id, ids)
            removed += self._run_removal(row_id, None, ids)
        return removed

    def resume_removals(self) -> int:
        """Finish the removals and unsubscribes an interrupted run left."""
        done = 0
        for pending in self.store.pending_removals(self.export, self.book_id):
            if pending.kind == "unsubscribe":
                done += self._run_unsubscribe(pending.row_id, pending.contact_ids)
            else:
                done += self._run_removal(pending.row_id, pending.deletion_id, pending.contact_ids)
        return done

    # --- unsubscribes (on_segment_exit = unsubscribe) -----------------------------------------

    def unsubscribe(self, contact_ids: Sequence[int], chunk: int = UNSUBSCRIBE_CHUNK) -> int:
        """Unsubscribe contacts from the address book (never from the account), with the same
        checkpoints as removals: a chunk is recorded before its first call and committed once
        every contact of it is unsubscribed and forgotten; a resumed chunk is done again
        (unsubscribing twice is harmless)."""
        done = 0
        for start in range(0, len(contact_ids), chunk):
            self._check_stop()
            ids = list(contact_ids[start : start + chunk])
            row_id = self.store.add_removal(
                self.run_id, self.export, self.book_id, ids, kind="unsubscribe"
            )
            done += self._run_unsubscribe(row_id, ids)
        return done

    def _run_unsubscribe(self, row_id: int, ids: list[int]) -> int:
        emails: list[str] = []
        kept_ids: list[int] = []
        for contact_id in ids:
            email = self.client.get_contact(contact_id).email
            if email:
                self.client.unsubscribe_from_book(self.book_id, email)
                emails.append(email)
                kept_ids.append(contact_id)
            self.heartbeat()
        if self.book is not None and emails:
            self.duck.register(
                "_unsubscribed",
                pa.table(
                    {
                        "email": pa.array(emails, pa.string()),
                        "contact_id": pa.array(kept_ids, pa.int64()),
                    }
                ),
            )
            record_refusals(
                self.store,
                self.duck,
                self.book,
                f"select {email_hash_sql('email')}, contact_id, 'unsubscribed' from _unsubscribed",
                self.run_id,
            )
            self.duck.unregister("_unsubscribed")
        self.store.members.remove_contacts(self.export, self.book_id, ids)
        self.store.commit_removal(row_id)
        return len(ids)

    def _run_removal(self, row_id: int, deletion_id: str | None, ids: list[int]) -> int:
        if deletion_id is None:
            deletion_id = self.client.remove_contacts_from_book(self.book_id, ids)
            self.store.removal_submitted(row_id, deletion_id)
        self.client.wait_for_deletion(deletion_id)
        self.store.members.remove_contacts(self.export, self.book_id, ids)
        if self.book is not None:
            self.store.ledger.forget(self.book, ids)
        self.store.commit_removal(row_id)
        self.heartbeat()
        return len(ids)
