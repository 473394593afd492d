"""The run view: a Run now request waiting for ``dotsync serve``, then the run's live progress
(stages, counts, imports in flight: polled every second), Cancel, and once it is over its
result, its rejected rows (shown, and as a CSV download for those who may act on the export) and
the DotDigital calls it made."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from dotsync.cli.progress import STAGES
from dotsync.console.pages._support import (
    may_use_connection,
    require_config,
    require_export_user,
)
from dotsync.console.web import Role, audit, console_state, render, require_role
from dotsync.live import LIVE_FILE, LiveProgress, read_live
from dotsync.redaction import redact_emails
from dotsync.result import RunResult, RunStatus
from dotsync.state.run_requests import RunRequest

REJECTED_ROWS_SHOWN = 20
POLL = "every 1s"


@dataclass(frozen=True)
class RunView:
    request: RunRequest | None
    run: RunResult | None
    live: LiveProgress | None

    @property
    def waiting(self) -> bool:
        """Asked for, not started yet."""
        return self.run is None and self.request is not None and not self.request.finished

    @property
    def running(self) -> bool:
        return self.run is not None and self.run.status == RunStatus.RUNNING

    @property
    def over(self) -> bool:
        return not self.waiting and not self.running


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def run_view(request: Request, export: str) -> RunView:
    """The run the page follows: the one of ``?run=``, or the one a ``?request=`` started, or
    the export's latest."""
    state = console_state(request)
    asked = _int(request.query_params.get("request"))
    run_request = state.run_request(asked) if asked is not None else None
    if run_request is not None and run_request.export != export:
        raise HTTPException(404)
    run_id = _int(request.query_params.get("run"))
    with state.store() as store:
        if run_id is None and run_request is not None:
            run_id = run_request.run_id or _started_since(store.list_runs(export, 5), run_request)
        # A run already going (or the request ended without one): the page follows the latest.
        already = run_request is not None and run_request.finished
        if run_id is None and (run_request is None or already):
            latest = store.list_runs(export, limit=1)
            run_id = latest[0].run_id if latest else None
        run = store.get_run(run_id) if run_id is not None else None
    if run is not None and run.export != export:
        raise HTTPException(404)
    live = None
    if run is not None and run.status == RunStatus.RUNNING:
        live = read_live(state.work_dir / "runs" / f"{export}-{run.run_id}" / LIVE_FILE)
    return RunView(run_request, run, live)


def _started_since(runs: list[RunResult], run_request: RunRequest) -> int | None:
    if run_request.taken_at is None:
        return None
    for run in runs:
        if run.started_at >= run_request.taken_at:
            return run.run_id
    return None


def _rejected_rows(run: RunResult | None) -> list[dict[str, str]]:
    if run is None or run.rejects_file is None or not run.rejects_file.exists():
        return []
    rows: list[dict[str, str]] = []
    with run.rejects_file.open(newline="", encoding="utf-8") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            if i >= REJECTED_ROWS_SHOWN:
                break
            rows.append({k: redact_emails(v or "") for k, v in row.items()})
    return rows


def _context(request: Request, export: str, view: RunView) -> dict[str, Any]:
    config = require_config(request)
    user = require_role(request, Role.VIEWER)
    connection = config.exports[export].connection if export in config.exports else ""
    query = request.url.query
    return {
        "export": export,
        "view": view,
        "may_act": may_use_connection(user, config, connection),
        "rejected": _rejected_rows(view.run),
        "error": redact_emails(view.run.error) if view.run and view.run.error else None,
        "live_url": f"/exports/{export}/run/live" + (f"?{query}" if query else ""),
        "stage_labels": STAGES,  # the CLI's words for each stage
        # Who asked to cancel the run going on in this serve process, if anyone did.
        "cancelled_by": getattr(
            console_state(request).live_runs().get(export), "cancelled_by", None
        ),
        "poll": POLL,
    }


async def run_page(request: Request) -> Response:
    require_role(request, Role.VIEWER)
    export = request.path_params["name"]
    view = run_view(request, export)
    return render(request, "pages/run.html", _context(request, export, view))


async def live(request: Request) -> Response:
    """The live part of the run page, polled while the run is waiting or running; once it is
    over, htmx loads the whole page again (the result, the rejected rows)."""
    require_role(request, Role.VIEWER)
    export = request.path_params["name"]
    view = run_view(request, export)
    if view.over:
        target = f"/exports/{export}/run"
        target += f"?run={view.run.run_id}" if view.run else f"?{request.url.query}"
        return Response(status_code=204, headers={"HX-Redirect": target})
    return render(request, "pages/_live.html", _context(request, export, view))


async def rejects_csv(request: Request) -> Response:
    """The run's rejected-rows file (keys and reasons, no personal values): for those who may act
    on the export, as the file is its owner's only on disk."""
    config = require_config(request)
    export = request.path_params["name"]
    require_export_user(request, config, export)
    run_id = int(request.path_params["run_id"])
    with console_state(request).store() as store:
        run = store.get_run(run_id)
    if run is None or run.export != export or run.rejects_file is None:
        raise HTTPException(404)
    path = Path(run.rejects_file)
    if not path.exists():
        raise HTTPException(404)
    audit(request, "rejects.download", export, detail={"run": str(run_id)})
    return FileResponse(path, media_type="text/csv", filename=f"{export}-run{run_id}-rejected.csv")


ROUTES = [
    Route("/exports/{name}/run", run_page, methods=["GET"]),
    Route("/exports/{name}/run/live", live, methods=["GET"]),
    Route("/exports/{name}/runs/{run_id:int}/rejected.csv", rejects_csv, methods=["GET"]),
]
