"""Read the segments' members, validate them, read the book when the plan needs it, and plan
against the state: ``to_send`` (less known refusals) and the leavers split by ownership."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import duckdb

from dotsync import keys, mapping, tables
from dotsync.connect import ConnectionReport
from dotsync.dotdigital import DotDigitalClient
from dotsync.errors import ConfigError, LimitExceededError
from dotsync.ownership import BookReader, ReadCounts, hold_back_refused, split_leavers
from dotsync.plan import PlanCounts, make_plan
from dotsync.result import RunCounts
from dotsync.sources import open_source
from dotsync.sources.base import ChangeMarker
from dotsync.sources.warehouse import WarehouseSource
from dotsync.stages.context import RunContext
from dotsync.state import StateStore
from dotsync.state.mirror import MirroredMembers

log = logging.getLogger(__name__)


def book_reader(
    ctx: RunContext,
    store: StateStore,
    duck: duckdb.DuckDBPyConnection,
    report: ConnectionReport,
    *,
    run_id: int,
    client: DotDigitalClient | None,
) -> BookReader:
    """The reader of the configured book; without a client (a dry run) it reads nothing."""
    read_book = None
    members = getattr(client, "book_member_rows", None) if client is not None else None
    if members is not None:

        def read_book(book_id: int, since: datetime | None) -> Iterator[Any]:
            return members(book_id, modified_since=since)  # type: ignore[no-any-return]

    unsubscribes = getattr(client, "book_unsubscribed_since", None) if client else None
    return BookReader(
        store=store,
        duck=duck,
        export=ctx.name,
        book=ctx.book(report),
        run_id=run_id,
        read_book=read_book,
        read_unsubscribes=unsubscribes,
        progress=ctx.progress,
        server_clock=client.server_now if client is not None else None,
    )


def prepare(
    ctx: RunContext,
    duck: duckdb.DuckDBPyConnection,
    store: StateStore,
    report: ConnectionReport,
    reader: BookReader,
    *,
    dry_run: bool = False,
) -> tuple[RunCounts, list[mapping.MappedField]]:
    export = ctx.export
    email_column, fields = mapping.plan_columns(export.mapping, report.data_fields)
    columns = [email_column, *[f.column for f in fields]]
    version = mapping.mapping_version(export.mapping, fields)
    prefix = f"{version}/{export.send_empty_values}"
    mirrored = store.members if isinstance(store.members, MirroredMembers) else None
    # The diff in the warehouse (not for a dry run, which writes nothing: it reads every row).
    in_warehouse = mirrored is not None and not dry_run
    marker = None if in_warehouse else _change_marker(ctx, duck, store, version)
    warehouse = (
        WarehouseSource(ctx.config.source, ctx.config.state.members_schema, ctx.name)
        if in_warehouse
        else None
    )
    source = warehouse or open_source(ctx.config.source)
    try:
        segments = {s: ctx.config.segments[s] for s in export.segments}
        available = source.columns()
        wrong = mapping.missing_mapped_columns(
            ctx.name, export.mapping, available, config_path=ctx.config.path
        ) or _missing_marker(ctx, available)
        if wrong is not None:
            raise wrong
        ctx.progress("read", 0, 1)
        if warehouse is not None and mirrored is not None:
            store.members.register(duck, ctx.name, ctx.book_id)
            sizes = warehouse.load_diff(
                duck,
                segments,
                columns,
                mirrored,
                prefix=prefix,
                book_id=ctx.book_id,
                read_all=ctx.full,
            )
        else:
            sizes = source.load_members(duck, segments, columns, marker)
    finally:
        source.close()
    ctx.progress("read", 1, 1)
    row = duck.execute(
        f"select (select count(*) from {tables.MEMBERS_RAW}) "
        f"+ (select count(*) from {tables.MEMBERS_KEPT})"
    ).fetchone()
    profiles = int(row[0]) if row else 0
    if profiles > export.max_profiles:
        listing = ", ".join(f"{k}: {v:,}" for k, v in sizes.items())
        raise LimitExceededError(
            f"export {ctx.name!r} holds {profiles:,} profiles ({listing}), more than "
            f"max_profiles = {export.max_profiles:,}: nothing was sent. Narrow the "
            "segments or raise max_profiles if your DotDigital contract allows it"
        )
    ctx.progress("validate", 0, profiles)
    summary = mapping.validate(
        duck, 0, fields, send_empty_values=export.send_empty_values, mapping_version=version
    )
    ctx.progress("validate", profiles, profiles)
    reader.register()
    if marker is not None or warehouse is not None:
        if not dry_run and summary.valid:
            # Rows read again because their marker moved, whose values DotDigital already
            # holds: their new version is recorded, so that the next run does not read them.
            store.members.record_versions(
                duck,
                f"""select v.key, v.row_version from {tables.MEMBERS_VALID} v
                join {tables.STATE_MEMBERS} s using (key)
                where v.digest = s.digest and v.row_version is distinct from s.row_version""",
                ctx.name,
                ctx.book_id,
            )
        summary = mapping.reconcile_kept(duck)
    plan: PlanCounts = make_plan(duck, full=ctx.full)
    # Keys 0.1 stored as numbers (00123 as 123) take their written form, so that upgrading
    # does not make those members leave and enter again; looked for among the plan's leavers
    # and enterers only, when there are both. A dry run only plans with the new keys.
    renamed = keys.rewritten_keys(duck, after_plan=True) if plan.left and plan.entered else []
    if renamed:
        log.info("%d stored key(s) take the form written in the source", len(renamed))
        keys.rename_in_run(duck, renamed)
        if not dry_run:
            store.members.rename_keys(ctx.name, ctx.book_id, renamed)
        plan = make_plan(duck, full=ctx.full)
    read = ReadCounts()
    busy = plan.to_send or plan.left or plan.email_changed
    if not dry_run and (busy or reader.must_read()):
        # Who is in the book, before anything is sent or removed: contacts others put there
        # since the last read are found, not dotsync's; possibly delivered ones are held.
        read = reader.sync()
        if read.resolved_possible:
            plan = make_plan(duck, full=ctx.full)
    refused = hold_back_refused(duck, full=ctx.full)
    if refused:
        plan = _recount(duck, plan)
    leavers = split_leavers(duck)
    counts = RunCounts(
        profiles_in_segments=profiles,
        segment_sizes=dict(sizes),
        valid=summary.valid,
        rejected=summary.rejected,
        rejected_by_reason=dict(summary.rejected_by_reason),
        entered=plan.entered,
        changed=plan.changed,
        unchanged=plan.unchanged,
        left=plan.left + plan.email_changed,
        kept_held_by_other_export=leavers.held_by_other_export,
        kept_found_in_book=leavers.found_in_book,
        suppressed_known=sum(refused.values()),
        suppressed_known_by_reason=refused,
        book_contacts_read=read.contacts_read,
    )
    return counts, fields


def _missing_marker(ctx: RunContext, available: list[str]) -> ConfigError | None:
    """``[source] updated_at`` naming no column of the profiles table: a configuration mistake,
    told before anything is read."""
    column = ctx.config.source.updated_at
    if column is None or column in available:
        return None
    where = f"{ctx.config.path}: " if ctx.config.path is not None else ""
    error = ConfigError(
        f"{where}source.updated_at: the profiles table has no column {column!r} (the change "
        f"marker). Available columns: {', '.join(available)}. Name a column whose value changes "
        "whenever a profile row does, or remove the key to read every row on every run"
    )
    error.key = "source.updated_at"
    return error


def _change_marker(
    ctx: RunContext, duck: duckdb.DuckDBPyConnection, store: StateStore, version: str
) -> ChangeMarker | None:
    """The source's change marker for this run: none without ``[source] updated_at``, and none
    for ``--full`` (every row is read and sent). The rows' version starts with the mapping's
    version and options, so that a new mapping reads every row again."""
    column = ctx.config.source.updated_at
    if column is None or ctx.full:
        return None
    store.members.register(duck, ctx.name, ctx.book_id)
    prefix = f"{version}/{ctx.export.send_empty_values}"
    return ChangeMarker(column=column, prefix=prefix, known=str(tables.STATE_MEMBERS))


def _recount(duck: duckdb.DuckDBPyConnection, plan: PlanCounts) -> PlanCounts:
    row = duck.execute(
        "select count(*) filter (where kind = 'enter'), count(*) filter (where kind = 'change') "
        f"from {tables.TO_SEND}"
    ).fetchone()
    entered, changed = (int(x) for x in row) if row else (0, 0)
    return PlanCounts(entered, changed, plan.unchanged, plan.left, plan.email_changed)
