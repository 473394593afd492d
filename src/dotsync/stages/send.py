"""Encode ``to_send`` as import bodies and deliver them (``delivery.Deliverer``)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from dotsync import mapping
from dotsync.delivery import Deliverer
from dotsync.encode import EncodeOptions, encode_batches
from dotsync.stages.context import RunContext


def send(
    ctx: RunContext,
    duck: duckdb.DuckDBPyConnection,
    deliverer: Deliverer,
    fields: list[mapping.MappedField],
    run_dir: Path,
) -> None:
    options = EncodeOptions(
        address_book_id=ctx.book_id,
        merge_option=ctx.export.merge_option,
        send_empty_values=ctx.export.send_empty_values,
        subscription_status=ctx.export.subscription_status or None,
    )
    batches = encode_batches(duck, [f.name for f in fields], options, run_dir)
    total = sum(b.contacts for b in batches)
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        ctx.progress("send", done, total)

    deliverer.on_progress = advance
    ctx.progress("send", 0, total)
    deliverer.deliver(batches)
