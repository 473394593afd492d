"""Finish what an interrupted run left, before anything new is planned: poll its imports and
commit them, take its unsent batches as possibly delivered, finish its removals."""

from __future__ import annotations

import logging

from dotsync.delivery import Deliverer
from dotsync.stages.context import RunContext
from dotsync.state import StateStore

log = logging.getLogger(__name__)


def resume(ctx: RunContext, store: StateStore, deliverer: Deliverer, run_id: int) -> int:
    """Returns how many imports of an interrupted run were polled to their end."""
    for stale in ctx.work_dir.glob("runs/*"):
        if stale.name != f"{ctx.name}-{run_id}" and stale.name.startswith(f"{ctx.name}-"):
            for body in stale.glob("batch-*.json*"):
                body.unlink(missing_ok=True)  # unsent bodies hold personal data
    possible = store.mark_prepared_possible(ctx.name)
    if possible:
        log.warning(
            "%d batches of an interrupted run may have reached DotDigital: they are matched "
            "against the address book's changes",
            possible,
        )
    pending = store.pending_imports(ctx.name, ctx.book_id)
    resumed = 0
    if pending:
        log.info("resuming %d imports of an interrupted run", len(pending))
        ctx.progress("resume", 0, len(pending))
        resumed = deliverer.resume(pending)
        ctx.progress("resume", len(pending), len(pending))
    deliverer.resume_removals()
    for old in store.unfinished_runs(ctx.name, except_run=run_id):
        store.mark_run_interrupted(old, f"interrupted; resumed by run {run_id}")
    return resumed
