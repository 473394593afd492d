"""``dotsync pull``: DotDigital's unsubscribes, bounces and suppressions back into the source."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from dotsync.cli._common import (
    DEFAULT_CONFIG_PATH,
    ConfigOption,
    JsonOption,
    VerboseOption,
    chosen_exports,
    handled,
    load,
    out,
    print_json,
    print_table,
    report_export_error,
    setup_logging,
)
from dotsync.errors import DotsyncError, ExitCode
from dotsync.signals import stop_on_signals

if TYPE_CHECKING:
    from dotsync.pull import PullReport

_COLORS = {"succeeded": "green", "skipped": "yellow"}


def register(app: typer.Typer) -> None:
    app.command("pull", short_help="Bring back unsubscribes, bounces, suppressions.")(pull)


def pull(
    name: Annotated[
        str | None,
        typer.Argument(metavar="NAME", help="The export whose contacts' statuses to bring back."),
    ] = None,
    all_exports: Annotated[
        bool, typer.Option("--all", help="Pull for every export, one by one.")
    ] = False,
    config: ConfigOption = DEFAULT_CONFIG_PATH,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Bring back, since the last pull, who unsubscribed, bounced or was suppressed in DotDigital
    (and who came back), as one row per profile key in the table or Parquet file of [pull], for
    segments to exclude them. E-mails nobody; reads only.

    Reads three change feeds (the account's suppressions and unsubscribes, the book's
    unsubscribes), and the account's changes when someone could have resubscribed, within
    pull.max_calls calls; what is left is read by the next pull. Exit codes: 0 done, 2
    configuration, 3 connection, 5 DotDigital or network failure (nothing is lost: the next pull
    reads it again), 6 a run of the export or account holds its lock, 8 the destination table or
    file cannot be written, 130 stopped."""
    from dotsync.connect import explain_refusal
    from dotsync.pull import pull_export

    mode = setup_logging(verbose, as_json=as_json)
    code = ExitCode.OK
    with handled(verbose, json_logs=mode.json_logs):
        cfg = load(config)
        names = chosen_exports(cfg, name, all_exports)
        reports: list[PullReport] = []
        stop = threading.Event()
        with stop_on_signals(stop.set):
            for export_name in names:
                export_cfg = cfg.find_export(export_name)
                connection = cfg.connections[export_cfg.connection]
                try:
                    with explain_refusal(export_cfg.connection, connection):
                        reports.append(pull_export(cfg, export_name, stop=stop))
                except DotsyncError as exc:
                    if len(names) == 1:
                        raise
                    report_export_error(export_name, exc, json_logs=mode.json_logs)
                    code = max(code, exc.exit_code)
        if as_json:
            print_json([r.model_dump(mode="json") for r in reports])
        elif mode.human:
            for report in reports:
                print_report(report)
    raise typer.Exit(int(code))


def print_report(report: PullReport) -> None:
    from dotsync.pull import PullOutcome, PullStatus

    title = Text.assemble(
        f"pull {report.pull_id} of export {report.export!r}, address book "
        f"{report.address_book_id}: ",
        (report.status.value, _COLORS.get(report.status.value, "red")),
    )
    out.print(title, highlight=False)
    if report.status is PullOutcome.SKIPPED:
        out.print(report.note or "", highlight=False)
        return
    c = report.counts
    table = Table("", "contacts")
    for status in PullStatus:
        table.add_row(f"written: {status.value}", f"{c.written.get(str(status), 0):,}")
    table.add_row("already in the table", f"{c.unchanged:,}")
    table.add_row("unknown to this export (not written)", f"{c.unknown_contacts:,}")
    print_table(table)
    calls = Table("feed", "since (UTC)", "read", "calls", title="call cost")
    for feed in report.feeds:
        since = f"{feed.since:%Y-%m-%d %H:%M}" if feed.since else ""
        if not feed.read:
            read = "not needed" if feed.complete else "not yet"
        else:
            read = f"{feed.items:,}" + ("" if feed.complete else " (more next time)")
        calls.add_row(feed.name, since, read, f"{feed.calls:,}")
    calls.add_row("total (with account-info)", "", "", f"{report.api_calls:,} of {report.budget:,}")
    print_table(calls)
    out.print(f"rows written to the {report.destination}", highlight=False)
    if report.note:
        out.print(report.note, highlight=False)
