"""``dotsync export`` and ``dotsync plan``: run an export, or show what a run would do."""

from __future__ import annotations

import shlex
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from dotsync.cli._common import (
    DEFAULT_CONFIG_PATH,
    ConfigOption,
    FailOnRejectsOption,
    JsonOption,
    LogFormat,
    LogFormatOption,
    Mode,
    VerboseOption,
    chosen_exports,
    err,
    handled,
    load,
    out,
    print_json,
    print_table,
    report_export_error,
    setup_logging,
    styled,
)
from dotsync.cli.progress import run_progress
from dotsync.config import Config
from dotsync.errors import (
    DotsyncError,
    ExitCode,
    InterruptedRunError,
    RunInProgressError,
)
from dotsync.logs import log_run_error, log_run_summary
from dotsync.result import RunCounts, RunResult, RunStatus
from dotsync.signals import stop_on_signals

if TYPE_CHECKING:
    # The run's modules (DuckDB, httpx, SQLAlchemy) load when a command runs, not for --help.
    from dotsync.runner import ProgressFn


def register(app: typer.Typer) -> None:
    app.command("export", short_help="Run an export (or --all): send changes, remove leavers.")(
        export
    )
    app.command("plan", short_help="Dry run: what an export would send, remove and reject.")(plan)


def export(
    name: Annotated[
        str | None, typer.Argument(metavar="NAME", help="The export to run ([exports.NAME]).")
    ] = None,
    all_exports: Annotated[
        bool, typer.Option("--all", help="Run every export, one by one.")
    ] = False,
    full: Annotated[
        bool, typer.Option("--full", help="Resend every member, not only changes.")
    ] = False,
    fail_on_rejects: FailOnRejectsOption = False,
    allow_mass_removal: Annotated[
        bool,
        typer.Option(
            "--allow-mass-removal",
            help="For this run only: remove the leavers even when they are more than "
            "max_removal_fraction of the members, or the segments came back empty.",
        ),
    ] = False,
    move_book: Annotated[
        bool,
        typer.Option(
            "--move-book",
            help="The export's address_book_id changed: export everyone to the new book, then "
            "remove from the old one what dotsync added there.",
        ),
    ] = False,
    config: ConfigOption = DEFAULT_CONFIG_PATH,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
    log_format: LogFormatOption = LogFormat.TEXT,
) -> None:
    """Export segments to DotDigital: only changes are sent; leavers leave the address book if
    dotsync added them and no other export of the book holds them.

    Exit codes: 0 done (rows may have been rejected), 2 configuration, 3 DotDigital refused the
    connection, 4 rows rejected (only with --fail-on-rejects), 5 DotDigital or network failure
    (rerun later, nothing is lost), 6 another run is in progress, 7 more profiles than
    max_profiles, 8 source or segment query failed, 9 the run would remove too many members
    (nothing removed or sent; see --allow-mass-removal), 130 stopped by a signal (the next run
    resumes)."""
    mode = setup_logging(verbose, log_format, as_json=as_json)
    code = ExitCode.OK
    with handled(verbose, json_logs=mode.json_logs):
        cfg = load(config)
        names = chosen_exports(cfg, name, all_exports)
        results: list[RunResult] = []
        stop = threading.Event()
        with stop_on_signals(stop.set):
            for export_name in names:
                outcome = _run_one(
                    cfg,
                    export_name,
                    full=full,
                    stop=stop,
                    mode=mode,
                    allow_mass_removal=allow_mass_removal,
                    move_book=move_book,
                    # JSON logs carry each run's summary line, which --verbose adds to the table.
                    summary_lines=log_format == LogFormat.JSON or verbose,
                )
                if isinstance(outcome, DotsyncError):
                    if len(names) == 1:
                        raise outcome
                    report_export_error(export_name, outcome, json_logs=mode.json_logs)
                    code = max(code, outcome.exit_code)
                    continue
                results.append(outcome)
                if fail_on_rejects and rows_rejected(outcome.counts):
                    code = max(code, ExitCode.REJECTED_ROWS)
        if as_json:
            print_json([r.model_dump(mode="json") for r in results])
        elif mode.human:
            for result in results:
                print_summary(result)
    raise typer.Exit(int(code))


def rows_rejected(counts: RunCounts) -> bool:
    """What --fail-on-rejects fails on: rows refused by validation or by DotDigital (both are in
    the rejected-rows file). Contacts DotDigital suppressed are not errors of the data."""
    return bool(counts.rejected or counts.failed)


def _run_one(
    cfg: Config,
    name: str,
    *,
    full: bool,
    stop: threading.Event,
    mode: Mode,
    summary_lines: bool,
    allow_mass_removal: bool = False,
    move_book: bool = False,
) -> RunResult | DotsyncError:
    """One export; its error is returned (the caller decides whether the next export runs). With
    ``summary_lines``, the run's summary line is logged, a run that failed included."""
    from dotsync.connect import explain_refusal
    from dotsync.runner import run_export

    export_cfg = cfg.find_export(name)
    connection = cfg.connections[export_cfg.connection]
    started = datetime.now(UTC)
    try:
        with (
            explain_refusal(export_cfg.connection, connection),
            run_progress(bar=mode.human and err.is_terminal, console=err, export=name) as progress,
        ):
            result = run_export(
                cfg,
                name,
                full=full,
                stop=stop,
                progress=progress,
                allow_mass_removal=allow_mass_removal,
                move_book=move_book,
            )
    except DotsyncError as exc:
        if summary_lines:
            log_run_error(
                export=name,
                status=_failed_status(exc),
                error=exc.message,
                exit_code=int(exc.exit_code),
                started_at=started,
                duration_seconds=(datetime.now(UTC) - started).total_seconds(),
            )
        return exc
    if summary_lines:
        # Text output shows the summary table; the log line is for machines.
        log_run_summary(result)
    return result


def _failed_status(exc: DotsyncError) -> str:
    if isinstance(exc, RunInProgressError):
        return "busy"
    if isinstance(exc, InterruptedRunError):
        return RunStatus.INTERRUPTED.value
    return RunStatus.FAILED.value


def plan(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The export to plan.")],
    full: Annotated[bool, typer.Option("--full", help="Plan a full resend.")] = False,
    config: ConfigOption = DEFAULT_CONFIG_PATH,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Dry run: how many would enter, change, leave and be rejected. Sends nothing that writes."""
    mode = setup_logging(verbose, as_json=as_json)
    with handled(verbose, json_logs=mode.json_logs):
        from dotsync.connect import explain_refusal
        from dotsync.runner import plan_export

        cfg = load(config)
        export_cfg = cfg.find_export(name)
        with explain_refusal(export_cfg.connection, cfg.connections[export_cfg.connection]):
            dry = plan_export(cfg, name, full=full)
        if as_json:
            print_json(
                {
                    "export": name,
                    "counts": dry.counts.model_dump(mode="json"),
                    # Objects, like the rejected rows of `show-run --json`.
                    "enter_sample": [{"key": k, "kind": kind} for k, kind in dry.enter_sample],
                    "leave_sample": [{"key": k, "reason": r} for k, r in dry.leave_sample],
                    "reject_sample": [{"key": k, "reason": r} for k, r in dry.reject_sample],
                    "mass_removal": dry.mass_removal,
                    "book_change": dry.book_change,
                    "shared_book_conflicts": dry.shared_book_conflicts,
                }
            )
            return
        c = dry.counts
        table = Table(title=f"plan for export {name!r} (nothing sent)", show_header=False)
        for label, value in [
            ("profiles in segments", c.profiles_in_segments),
            ("valid", c.valid),
            ("would enter", c.entered),
            ("would change", c.changed),
            ("unchanged", c.unchanged),
            ("would leave", c.left),
            ("  kept: another export holds them", c.kept_held_by_other_export),
            ("  kept: in the book before dotsync", c.kept_found_in_book),
            ("known suppressed (not sent)", c.suppressed_known),
            ("rejected", c.rejected),
        ]:
            table.add_row(label, f"{value:,}")
        print_table(table)
        for conflict in dry.shared_book_conflicts:
            out.print(styled(f"warning: {conflict}", "yellow"), highlight=False)
        for stop_reason in (dry.book_change, dry.mass_removal):
            if stop_reason:
                stops = f"`dotsync export {shlex.quote(name)}` would stop here: {stop_reason}"
                out.print(styled(stops, "red"), highlight=False)
        for title, rows in [
            ("enter/change sample", dry.enter_sample),
            ("leave sample", dry.leave_sample),
            ("rejected sample", dry.reject_sample),
        ]:
            if rows:
                # Every leaver's reason is "left" unless it is another (a changed e-mail...).
                shown = (
                    k if title == "leave sample" and v == "left" else f"{k} ({v})" for k, v in rows
                )
                out.print(f"{title}: " + ", ".join(shown), highlight=False)


def print_summary(result: RunResult) -> None:
    c = result.counts
    color = {"succeeded": "green", "partial": "yellow"}.get(result.status, "red")
    duration = result.duration_seconds or 0.0
    table = Table(
        title=Text.assemble(
            f"export {result.export!r}: run {result.run_id} ",
            (str(result.status.value), color),
            f" in {duration:.1f}s",
        ),
        show_header=False,
    )
    rows = [
        ("profiles in segments", c.profiles_in_segments),
        *[(f"  segment {s}", n) for s, n in c.segment_sizes.items()],
        ("valid", c.valid),
        ("entered", c.entered),
        ("changed", c.changed),
        ("unchanged (not sent)", c.unchanged),
        ("sent", c.sent),
        ("new contacts", c.created),
        ("updated contacts", c.updated),
        ("suppressed (not added)", c.suppressed),
        ("known suppressed (not sent)", c.suppressed_known),
        ("refused by DotDigital", c.failed),
        ("left the segments", c.left),
        ("removed from the book", c.removed),
        ("  kept: another export holds them", c.kept_held_by_other_export),
        ("  kept: in the book before dotsync", c.kept_found_in_book),
        ("removed from the previous book", c.removed_from_previous_book),
        ("unsubscribed", c.unsubscribed),
        ("rejected", c.rejected),
        *[(f"  {reason}", n) for reason, n in sorted(c.rejected_by_reason.items())],
        ("imports", c.imports),
        ("API calls", c.api_calls),
        ("MB uploaded", round(c.bytes_uploaded / 1e6, 1)),
    ]
    for label, value in rows:
        table.add_row(label, f"{value:,}")
    print_table(table)
    if result.status_note:
        out.print(result.status_note, highlight=False)
    if result.rejects_file:
        out.print(f"rejected rows (key, reason): {result.rejects_file}", highlight=False)
    if result.resumed_imports:
        out.print(f"resumed {result.resumed_imports} imports of an interrupted run")


@contextmanager
def _progress(*, enabled: bool) -> Iterator[ProgressFn | None]:
    """Progress for a run outside ``export`` (the demo): bars on a terminal, log lines without
    one; none when not ``enabled``."""
    if not enabled:
        yield None
        return
    with run_progress(bar=err.is_terminal, console=err) as update:
        yield update
