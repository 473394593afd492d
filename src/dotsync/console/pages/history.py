"""An export's history: a chart of the members in the book and of what each run sent and
removed, the runs (who started each), the drift ``dotsync verify`` found, what the last
``dotsync pull`` brought back, and who created and changed the export."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dotsync.console.chart import ChartText, history_points, history_svg
from dotsync.console.pages._support import may_use_connection, require_config
from dotsync.console.web import Role, console_state, gettext, render, require_role
from dotsync.pull import PullStatus, last_pull_reports
from dotsync.redaction import redact_emails
from dotsync.state.store import VerifyRecord
from dotsync.verifier import load_report

RUNS_SHOWN = 50
DRIFT_KINDS = ("missing", "unknown", "unsubscribed", "suppressed")


@dataclass(frozen=True)
class VerifyRow:
    verify_id: int
    started_at: str
    status: str
    drift: dict[str, int | None]
    error: str | None


def verify_rows(records: list[VerifyRecord]) -> list[VerifyRow]:
    rows = []
    for record in records:
        report = load_report(record.report)
        drift = {
            kind: (getattr(report.counts, kind) if report is not None else None)
            for kind in DRIFT_KINDS
        }
        rows.append(
            VerifyRow(
                record.verify_id,
                f"{record.started_at:%Y-%m-%d %H:%M}",
                record.status,
                drift,
                redact_emails(record.error) if record.error else None,
            )
        )
    return rows


async def history_page(request: Request) -> Response:
    user = require_role(request, Role.VIEWER)
    config = require_config(request)
    name = request.path_params["name"]
    if name not in config.exports:
        raise HTTPException(404)
    state = console_state(request)
    with state.store() as store:
        runs = store.list_runs(name, limit=RUNS_SHOWN)
        verifies = store.list_verifies(name, limit=RUNS_SHOWN)
        last_pull = last_pull_reports(store).get(name)
    text = ChartText(
        title=gettext(request, "Members in the book, and contacts sent and removed, by run"),
        members=gettext(request, "members in the book"),
        sent=gettext(request, "sent"),
        removed=gettext(request, "removed"),
    )
    context = {
        "export": name,
        "runs": runs,
        "chart": history_svg(history_points(runs), text),
        "verifies": verify_rows(verifies),
        "drift_kinds": DRIFT_KINDS,
        "last_pull": last_pull,
        "pull_statuses": [str(status) for status in PullStatus],
        "changes": state.changes(name),
        "may_act": may_use_connection(user, config, config.exports[name].connection),
    }
    return render(request, "pages/history.html", context)


ROUTES = [Route("/exports/{name}/history", history_page, methods=["GET"])]
