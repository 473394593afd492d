"""Encode ``to_send`` as import bodies and deliver them (``delivery.Deliverer``)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from dotsync import mapping, tables
from dotsync.delivery import Deliverer
from dotsync.encode import EncodeOptions, iter_batches
from dotsync.stages.context import RunContext

SEND_THREADS = 1


def send(
    ctx: RunContext,
    duck: duckdb.DuckDBPyConnection,
    deliverer: Deliverer,
    fields: list[mapping.MappedField],
    run_dir: Path,
) -> None:
    # What planning read is not needed any more: a million rows each, freed for the sending
    # (to_send holds what is sent), so that DuckDB stays within its memory cap without spilling.
    for table in (tables.MEMBERS_RAW, tables.MEMBERS_VALID):
        duck.execute(f"drop table if exists {table}")
    # From here on DuckDB's statements are per batch (100k rows: encode, commit) and the wall
    # time is DotDigital's: a second thread saves little of it and costs CPU (measured at 1M on
    # 2 vCPUs, the whole run on one thread: 15.4 s -> 11.6 s of CPU), CPU that the machine's
    # other work (the emulator, in tests and benchmarks) needs. Reading, validating and
    # planning, before, keep every thread: the first import waits for them.
    duck.execute(f"set threads = {SEND_THREADS}")
    options = EncodeOptions(
        address_book_id=ctx.book_id,
        merge_option=ctx.export.merge_option,
        send_empty_values=ctx.export.send_empty_values,
        subscription_status=ctx.export.subscription_status or None,
    )
    row = duck.execute(f"select count(*) from {tables.TO_SEND}").fetchone()
    total = int(row[0]) if row else 0
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        ctx.progress("send", done, total)

    ctx.progress("send", 0, total)
    # Encoded one batch at a time as the deliverer asks for them: the first import starts as
    # soon as its body is written, and each next body is encoded while DotDigital works.
    deliverer.deliver(
        iter_batches(duck, [f.name for f in fields], options, run_dir), on_progress=advance
    )
