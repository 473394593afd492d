"""``dotsync verify``: compare the address book with the state, and optionally repair it."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from dotsync.cli._common import (
    DEFAULT_CONFIG_PATH,
    ConfigOption,
    JsonOption,
    VerboseOption,
    err,
    handled,
    load,
    out,
    print_json,
    print_table,
    setup_logging,
)
from dotsync.cli.progress import run_progress
from dotsync.errors import ExitCode
from dotsync.logs import PROGRESS_LOGGER
from dotsync.signals import stop_on_signals

if TYPE_CHECKING:
    from dotsync.state import VerifyRecord
    from dotsync.verify import VerifyReport

_COLORS = {"clean": "green", "repaired": "green", "drift": "yellow"}


def register(app: typer.Typer) -> None:
    app.command("verify", short_help="Compare the book with the state; --repair fixes drift.")(
        verify
    )


def verify(
    name: Annotated[
        str,
        typer.Argument(metavar="NAME", help="The export whose address book to check."),
    ],
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Send back the missing members still in the segments (a normal run) and record "
            "unsubscribes and suppressions so that no run sends them again. Re-subscribes nobody.",
        ),
    ] = False,
    config: ConfigOption = DEFAULT_CONFIG_PATH,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Compare the address book with what dotsync recorded: members missing from it (removed by
    hand or by another tool), contacts unsubscribed or suppressed since, contacts others added.

    Reads the whole book (one call per 5,000 members) and two change feeds; the call budget is
    printed before reading. Exit codes: 0 the book matches (or --repair dealt with the drift),
    10 drift found (without --repair), 2 configuration, 3 connection, 5 DotDigital or network
    failure, or the book grew beyond the budget during the read (run again), 6 a run holds the
    export's or the account's lock."""
    from dotsync.connect import explain_refusal
    from dotsync.verifier import verify_export
    from dotsync.verify import CallBudget, VerifyStatus

    mode = setup_logging(verbose, as_json=as_json)
    with handled(verbose, json_logs=mode.json_logs):
        cfg = load(config)
        export_cfg = cfg.find_export(name)

        def announce(budget: CallBudget) -> None:
            text = f"verify of export {name!r}: {budget.describe()}"
            if not mode.json_logs:
                out.print(text, highlight=False)
                return
            # stdout keeps the one JSON object; stderr's lines are JSON objects too.
            logging.getLogger(PROGRESS_LOGGER).info(
                "%s",
                text,
                extra={
                    "event": "verify_budget",
                    "export": name,
                    "max_calls": budget.total,
                    "book_contacts": budget.book_contacts,
                    "member_pages": budget.member_pages,
                    "feeds": budget.feeds,
                    "feed_pages": budget.feed_pages,
                },
            )

        stop = threading.Event()
        with (
            stop_on_signals(stop.set),
            explain_refusal(export_cfg.connection, cfg.connections[export_cfg.connection]),
            run_progress(bar=mode.human and err.is_terminal, console=err, export=name) as progress,
        ):
            report = verify_export(
                cfg, name, repair=repair, on_budget=announce, progress=progress, stop=stop
            )
        if as_json:
            print_json(report.model_dump(mode="json"))
        else:
            print_report(report)
    raise typer.Exit(int(ExitCode.DRIFT if report.status == VerifyStatus.DRIFT else ExitCode.OK))


def print_report(report: VerifyReport) -> None:
    from dotsync.verify import VerifyStatus

    c, s = report.counts, report.samples
    title = Text.assemble(
        f"verify {report.verify_id} of export {report.export!r}, address book "
        f"{report.address_book_id}: ",
        (report.status.value, _COLORS.get(report.status.value, "red")),
    )
    table = Table("", "count", "samples (profile keys; contact ids where no key)", title=title)
    for label, value, kind in [
        ("in the book", c.book_members, ""),
        ("members of the export", c.export_members, ""),
        ("missing (removed from the book)", c.missing, "missing"),
        ("unsubscribed from the book", c.unsubscribed, "unsubscribed"),
        ("suppressed", c.suppressed, "suppressed"),
        ("unknown (added by someone else)", c.unknown, "unknown"),
    ]:
        table.add_row(label, f"{value:,}", ", ".join(x.label() for x in s.get(kind, [])))
    print_table(table)
    calls = Table("check", "calls", "budget", "read", "since (UTC)", title="call cost")
    for check in report.checks:
        since = f"{check.since:%Y-%m-%d %H:%M}" if check.since else ""
        read = f"{check.items:,}" + ("" if check.complete else " (more next time)")
        calls.add_row(check.name, f"{check.calls:,}", f"{check.budget:,}", read, since)
    calls.add_row("total", f"{report.api_calls:,}", f"{report.budget:,}", "", "")
    print_table(calls)
    if report.repair is not None:
        r = report.repair
        out.print(
            f"repair: {_counted(r.statuses_recorded, 'unsubscribed or suppressed contact')} "
            f"recorded (never sent again), {_counted(r.unknown_recorded_found, 'unknown contact')} "
            "recorded as found (never removed by dotsync), "
            f"{_counted(r.confirmations_forgotten, 'missing member')} planned again",
            highlight=False,
        )
        if r.run_id is not None:
            out.print(
                f"repair run {r.run_id} {r.run_status}: {r.run_entered:,} entered, "
                f"{r.run_sent:,} sent (see `dotsync show-run {r.run_id}`)",
                highlight=False,
            )
        if r.missing_not_sent_back:
            out.print(f"missing not sent back: {r.missing_not_sent_back}", highlight=False)
    elif report.status == VerifyStatus.DRIFT:
        out.print(
            f"to repair: `dotsync verify {report.export} --repair` sends the missing members "
            "still in the segments back and records the unsubscribes and suppressions; unknown "
            "contacts are someone else's and stay in the book",
            highlight=False,
        )


def _counted(count: int, noun: str) -> str:
    """``1 missing member``, ``2 missing members``."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def verify_json(record: VerifyRecord) -> dict[str, Any]:
    """A recorded verify as JSON: its report, or what is known of one that failed."""
    from dotsync.verifier import load_report

    report = load_report(record.report)
    if report is not None:
        return report.model_dump(mode="json")
    return {
        "verify_id": record.verify_id,
        "export": record.export,
        "address_book_id": record.address_book_id,
        "status": record.status,
        "started_at": record.started_at.isoformat(),
        "finished_at": record.finished_at.isoformat() if record.finished_at else None,
        "error": record.error,
    }


def print_verifies(records: list[VerifyRecord]) -> None:
    """``history --verifies``: one row per verify."""
    from dotsync.verifier import load_report

    table = Table(
        "verify",
        "export",
        "started (UTC)",
        "status",
        "missing",
        "unknown",
        "unsubscribed",
        "suppressed",
        "calls",
        "error",
        title="verifies",
    )
    for record in records:
        report = load_report(record.report)
        c = report.counts if report is not None else None
        table.add_row(
            str(record.verify_id),
            record.export,
            f"{record.started_at:%Y-%m-%d %H:%M:%S}",
            record.status,
            *[
                f"{getattr(c, kind):,}" if c is not None else "-"
                for kind in ("missing", "unknown", "unsubscribed", "suppressed")
            ],
            f"{report.api_calls:,}" if report is not None else "-",
            record.error or "",
        )
    print_table(table)


def show_verify(record: VerifyRecord, *, as_json: bool) -> None:
    """``show-run --verify ID``."""
    from dotsync.verifier import load_report

    if as_json:
        print_json({"verify": verify_json(record)})
        return
    report = load_report(record.report)
    if report is not None:
        print_report(report)
        return
    out.print(
        f"verify {record.verify_id} of export {record.export!r} {record.status} "
        f"(started {record.started_at:%Y-%m-%d %H:%M:%S} UTC): {record.error or 'no report'}",
        highlight=False,
    )
