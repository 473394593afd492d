"""The leavers: the mass-removal guard first, then out of the book (remove), unsubscribed from it
(unsubscribe) or kept (keep), by the ownership rules (``ownership.split_leavers``: only contacts
dotsync added and no other export holds). Also a move to another book (``--move-book``)."""

from __future__ import annotations

import logging

import duckdb

from dotsync import tables
from dotsync.delivery import REMOVAL_CHUNK, Deliverer
from dotsync.dotdigital import DotDigitalClient
from dotsync.errors import BookChangedError, MassRemovalError, NotFoundError
from dotsync.guard import RemovalGuard, mass_removal
from dotsync.ownership import POSSIBLE_DIGEST, purgeable
from dotsync.result import RunCounts
from dotsync.stages.context import RunContext
from dotsync.state import BookRef, StateStore

log = logging.getLogger(__name__)


class LeaveStage:
    def __init__(
        self,
        ctx: RunContext,
        store: StateStore,
        *,
        allow_mass_removal: bool = False,
        move_book: bool = False,
    ) -> None:
        self.ctx, self.store = ctx, store
        self.allow_mass_removal, self.move_book = allow_mass_removal, move_book

    # --- the guard -------------------------------------------------------------------------------

    def mass_removal(
        self, duck: duckdb.DuckDBPyConnection, counts: RunCounts, *, planning: bool = False
    ) -> str | None:
        """Why the run must stop before removing anyone, if it must (worded for a plan with
        ``planning``)."""
        export = self.ctx.export
        if export.on_segment_exit == "keep":
            return None  # nobody leaves the book
        row = duck.execute(
            f"select (select count(*) from {tables.STATE_MEMBERS} "
            f"where digest <> '{POSSIBLE_DIGEST}'),"
            f" (select count(*) from {tables.TO_LEAVE} where reason = 'left')"
        ).fetchone()
        members, leavers = (int(x) for x in row) if row else (0, 0)
        guard = RemovalGuard(export.max_removal_fraction, export.min_removals_guarded)
        return mass_removal(
            guard,
            export=self.ctx.name,
            members=members,
            leavers=leavers,
            profiles=counts.profiles_in_segments,
            planning=planning,
        )

    def check_mass_removal(self, duck: duckdb.DuckDBPyConnection, counts: RunCounts) -> None:
        blocked = self.mass_removal(duck, counts)
        if blocked and not self.allow_mass_removal:
            raise MassRemovalError(blocked)

    # --- the leavers -----------------------------------------------------------------------------

    def leave(
        self,
        duck: duckdb.DuckDBPyConnection,
        deliverer: Deliverer,
        book: BookRef,
    ) -> tuple[int, int]:
        """Returns (removed, unsubscribed). Never deletes a contact from the account."""
        ctx, store = self.ctx, self.store
        mode = ctx.export.on_segment_exit
        left_keys = [
            str(k)
            for (k,) in duck.execute(
                f"select key from {tables.TO_LEAVE} where reason = 'left'"
            ).fetchall()
        ]
        ids = [
            int(c) for (c,) in duck.execute(f"select contact_id from {tables.TO_REMOVE}").fetchall()
        ]
        if not left_keys and not ids:
            return 0, 0
        ctx.check_stop()
        if mode == "keep":
            # The export keeps holding them: another export of the book cannot take them out.
            store.ledger.keep(
                duck, book, ctx.name, f"select email_hash, contact_id from {tables.LEAVING}"
            )
            store.members.forget_keys(ctx.name, ctx.book_id, left_keys)
            return 0, 0
        if mode == "unsubscribe":
            ctx.progress("unsubscribe", 0, len(ids))
            unsubscribed = deliverer.unsubscribe(ids)
            store.members.forget_keys(ctx.name, ctx.book_id, left_keys)
            ctx.progress("unsubscribe", unsubscribed, len(ids))
            return 0, unsubscribed
        ctx.progress("remove", 0, len(ids))
        removed = deliverer.remove(ids)
        store.members.forget_keys(ctx.name, ctx.book_id, left_keys)
        ctx.progress("remove", removed, len(ids))
        return removed, 0

    # --- a move to another book ------------------------------------------------------------------

    def book_change(self, book: BookRef) -> str | None:
        name = self.ctx.name
        before = self.store.book_of(name)
        if before is None or before == book:
            return None
        return (
            f"export {name!r} wrote address book {before.book_id} until now and is now "
            f"configured for address book {book.book_id}; its members are in the old book. "
            f"Nothing was sent. To move them, run `dotsync export {name} --move-book`: it "
            f"exports everyone to book {book.book_id}, then removes from book {before.book_id} "
            "the contacts dotsync added there (not those another export of it holds, nor those "
            "that were there before dotsync). To keep writing the old book, set address_book_id "
            f"= {before.book_id} again"
        )

    def moved_from(self, book: BookRef) -> BookRef | None:
        """The book the export wrote until now, when it is to be moved; binds a first run."""
        change = self.book_change(book)
        if change is None:
            self.store.bind_export(self.ctx.name, book)
            return None
        if not self.move_book:
            raise BookChangedError(
                change, key=f"connections.{self.ctx.export.connection}.address_book_id"
            )
        before = self.store.book_of(self.ctx.name)
        assert before is not None
        return before

    def finish_move(self, client: DotDigitalClient, old: BookRef, book: BookRef) -> int:
        """After everyone was sent to ``book``: remove from the old book what dotsync added there
        and no other export of it holds; forget the export's members there; bind the export to
        the new book. Repeatable: a move interrupted here is finished by the next ``--move-book``
        run. Returns how many left the old book."""
        ctx, store = self.ctx, self.store
        ids, _held, _found = purgeable(store, ctx.name, old)
        removed = 0
        try:
            for start in range(0, len(ids), REMOVAL_CHUNK):
                ctx.check_stop()
                chunk = ids[start : start + REMOVAL_CHUNK]
                client.wait_for_deletion(client.remove_contacts_from_book(old.book_id, chunk))
                store.ledger.forget(old, chunk)
                removed += len(chunk)
        except NotFoundError:
            log.warning("address book %s no longer exists: nothing to remove there", old.book_id)
        store.members.remove_contacts(
            ctx.name, old.book_id, store.members.contact_ids(ctx.name, old.book_id)
        )
        store.ledger.release(old, ctx.name)
        store.bind_export(ctx.name, book)
        if not store.exports_of(old):
            store.forget_book_reads(old)
            for path in store.ledger.drop(old):
                path.unlink(missing_ok=True)
        return removed
