"""``dotsync export`` and ``dotsync plan``: run an export, or show what a run would do."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from dotsync.cli._common import (
    DEFAULT_CONFIG_PATH,
    ConfigOption,
    JsonOption,
    LogFormatOption,
    VerboseOption,
    err,
    handled,
    load,
    out,
    print_json,
    setup_logging,
    styled,
)
from dotsync.connect import explain_refusal
from dotsync.errors import ConfigError, DotsyncError, ExitCode
from dotsync.logs import log_run_summary
from dotsync.result import RunResult
from dotsync.runner import ProgressFn, plan_export, run_export
from dotsync.signals import stop_on_signals

STAGES = {
    "connect": "Connecting",
    "resume": "Resuming imports",
    "read": "Reading segments",
    "validate": "Validating",
    "send": "Sending contacts",
    "remove": "Removing leavers",
}


def register(app: typer.Typer) -> None:
    app.command("export")(export)
    app.command("plan")(plan)


def export(
    name: Annotated[str | None, typer.Argument(help="The export to run ([exports.NAME]).")] = None,
    all_exports: Annotated[
        bool, typer.Option("--all", help="Run every export, one by one.")
    ] = False,
    full: Annotated[
        bool, typer.Option("--full", help="Resend every member, not only changes.")
    ] = False,
    fail_on_rejects: Annotated[
        bool, typer.Option("--fail-on-rejects", help="Exit 4 when rows were rejected.")
    ] = False,
    config: ConfigOption = DEFAULT_CONFIG_PATH,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
    log_format: LogFormatOption = "text",
) -> None:
    """Export segments to DotDigital: only changes are sent, leavers leave the address book.

    Exit codes: 0 done, 2 configuration, 3 DotDigital refused the connection, 4 rows rejected
    (with --fail-on-rejects), 5 DotDigital or network failure (rerun later, nothing is lost),
    6 another run is in progress, 7 more profiles than max_profiles, 8 source or segment query
    failed, 130 stopped by a signal (the next run resumes)."""
    setup_logging(verbose, log_format)
    code = ExitCode.OK
    with handled(verbose):
        cfg = load(config)
        if all_exports == (name is not None):
            raise ConfigError("name one export, or pass --all (not both)")
        names = list(cfg.exports) if all_exports else [name or ""]
        results: list[RunResult] = []
        stop = threading.Event()
        with stop_on_signals(stop.set):
            for export_name in names:
                export_cfg = cfg.find_export(export_name)
                connection = cfg.connections[export_cfg.connection]
                try:
                    with (
                        explain_refusal(export_cfg.connection, connection),
                        _progress(enabled=not as_json) as progress,
                    ):
                        result = run_export(
                            cfg, export_name, full=full, stop=stop, progress=progress
                        )
                except DotsyncError as exc:
                    if len(names) == 1:
                        raise
                    err.print(styled(f"{export_name}: {exc.message}", "red"))
                    code = max(code, exc.exit_code)
                    continue
                results.append(result)
                if log_format == "json" or verbose:
                    # Text output already shows the summary table; the log line is for machines.
                    log_run_summary(result)
                if fail_on_rejects and result.counts.rejected:
                    code = max(code, ExitCode.REJECTED_ROWS)
        if as_json:
            print_json([r.model_dump(mode="json") for r in results])
        else:
            for result in results:
                print_summary(result)
    raise typer.Exit(int(code))


def plan(
    name: Annotated[str, typer.Argument(help="The export to plan.")],
    full: Annotated[bool, typer.Option("--full", help="Plan a full resend.")] = False,
    config: ConfigOption = DEFAULT_CONFIG_PATH,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Dry run: how many would enter, change, leave and be rejected. Sends nothing that writes."""
    setup_logging(verbose)
    with handled(verbose):
        cfg = load(config)
        export_cfg = cfg.find_export(name)
        with explain_refusal(export_cfg.connection, cfg.connections[export_cfg.connection]):
            dry = plan_export(cfg, name, full=full)
        if as_json:
            print_json(
                {
                    "export": name,
                    "counts": dry.counts.model_dump(mode="json"),
                    "enter_sample": dry.enter_sample,
                    "leave_sample": dry.leave_sample,
                    "reject_sample": dry.reject_sample,
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
            ("rejected", c.rejected),
        ]:
            table.add_row(label, f"{value:,}")
        out.print(table)
        for title, rows in [
            ("enter/change sample", dry.enter_sample),
            ("leave sample", dry.leave_sample),
            ("rejected sample", dry.reject_sample),
        ]:
            if rows:
                out.print(f"{title}: " + ", ".join(f"{k} ({v})" for k, v in rows), highlight=False)


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
        ("refused by DotDigital", c.failed),
        ("left the segments", c.left),
        ("removed from the book", c.removed),
        ("unsubscribed", c.unsubscribed),
        ("rejected", c.rejected),
        *[(f"  {reason}", n) for reason, n in sorted(c.rejected_by_reason.items())],
        ("imports", c.imports),
        ("API calls", c.api_calls),
        ("MB uploaded", round(c.bytes_uploaded / 1e6, 1)),
    ]
    for label, value in rows:
        table.add_row(label, f"{value:,}")
    out.print(table)
    if result.rejects_file:
        out.print(f"rejected rows (key, reason): {result.rejects_file}", highlight=False)
    if result.resumed_imports:
        out.print(f"resumed {result.resumed_imports} imports of an interrupted run")


@contextmanager
def _progress(*, enabled: bool) -> Iterator[ProgressFn | None]:
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(STAGES.get(stage, stage), total=total or None)
            bar.update(tasks[stage], completed=done, total=total or None)

        yield update
