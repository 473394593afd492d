"""Read-only commands: ``connect``, ``address-books``, ``segments``, ``history``, ``show-run``."""

from __future__ import annotations

import csv
from typing import Annotated

import typer
from rich.table import Table

from dotsync.cli._common import (
    DEFAULT_CONFIG_PATH,
    ConfigOption,
    JsonOption,
    VerboseOption,
    handled,
    load,
    out,
    print_json,
    print_table,
    setup_logging,
    styled,
)
from dotsync.cli.export import print_summary
from dotsync.cli.verify import print_verifies, show_verify, verify_json
from dotsync.errors import ConfigError
from dotsync.result import PARTIAL_LEGEND, RunStatus


def register(app: typer.Typer) -> None:
    app.command(
        "connect", short_help="Check a connection: credentials, region, book, data fields."
    )(connect)
    app.command("address-books", short_help="List the account's address books and their IDs.")(
        address_books
    )
    app.command("segments", short_help="List the segments with their member counts.")(segments)
    app.command("history")(history)
    app.command("show-run")(show_run)


def connect(
    connection: Annotated[
        str, typer.Argument(metavar="CONNECTION", help="The connection ([connections.NAME]).")
    ],
    config: ConfigOption = DEFAULT_CONFIG_PATH,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Check a connection: credentials, region, address book and mapped data fields.

    Reads only: data fields that an export would create (create_missing_data_fields) are listed,
    not created."""
    from dotsync.connect import describe_connection
    from dotsync.connection_check import connect as check_connection_of

    mode = setup_logging(verbose, as_json=as_json)
    with handled(verbose, json_logs=mode.json_logs):
        cfg = load(config)
        outcome = check_connection_of(cfg, connection)
        report, fields = outcome.report, outcome.mapped_fields
        to_create, conflicts = outcome.fields_created_on_export, outcome.shared_book_conflicts
        conn = cfg.connections[connection]
        if as_json:
            print_json(
                {
                    **report.__dict__,
                    "mapped_fields": fields,
                    "fields_created_on_export": to_create,
                    "shared_book_conflicts": conflicts,
                }
            )
            return
        title = f"{describe_connection(connection, conn.display_name)}: OK"
        table = Table(title=title, show_header=False)
        table.add_row("account", report.account_name)
        table.add_row("region / endpoint", f"{report.region or '?'}  {report.api_endpoint}")
        table.add_row(
            "address book",
            f"{report.address_book_id} {report.address_book_name!r} "
            f"({report.address_book_contacts:,} contacts)",
        )
        table.add_row(
            "data fields", ", ".join(f"{k} ({v})" for k, v in sorted(report.data_fields.items()))
        )
        table.add_row("mapped fields checked", ", ".join(fields) or "none")
        if to_create:
            table.add_row("created on export", ", ".join(to_create))
        print_table(table)
        for conflict in conflicts:
            out.print(styled(f"warning: {conflict}", "yellow"), highlight=False)


def address_books(
    connection: Annotated[
        str, typer.Argument(metavar="CONNECTION", help="The connection ([connections.NAME]).")
    ],
    config: ConfigOption = DEFAULT_CONFIG_PATH,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """List the account's address books, to find the ID to put in address_book_id."""
    from dotsync.connect import explain_refusal, open_client
    from dotsync.connection_check import connection_named

    mode = setup_logging(verbose, as_json=as_json)
    with handled(verbose, json_logs=mode.json_logs):
        cfg = load(config)
        conn = connection_named(cfg, connection)
        with (
            explain_refusal(connection, conn),
            open_client(conn, name=connection, config_path=cfg.path) as client,
        ):
            client.discover()
            books = client.address_books()
        if as_json:
            print_json([b.model_dump(mode="json") for b in books])
            return
        table = Table("id", "name", "visibility", "contacts", title="address books")
        for b in books:
            table.add_row(str(b.id), b.name, str(b.visibility), f"{b.contacts:,}")
        print_table(table)


def segments(
    config: ConfigOption = DEFAULT_CONFIG_PATH,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """List the segments with their member counts (computed where the profiles live)."""
    from dotsync.sources import open_source

    mode = setup_logging(verbose, as_json=as_json)
    with handled(verbose, json_logs=mode.json_logs):
        cfg = load(config)
        source = open_source(cfg.source)
        try:
            sizes = source.segment_sizes(dict(cfg.segments))
        finally:
            source.close()
        if as_json:
            print_json(sizes)
            return
        table = Table("segment", "members", "definition", title="segments")
        for name, seg in cfg.segments.items():
            definition = seg.where or seg.sql or f"membership {seg.membership}"
            table.add_row(name, f"{sizes.get(name, 0):,}", str(definition))
        print_table(table)


def history(
    name: Annotated[
        str | None, typer.Argument(metavar="NAME", help="Only this export ([exports.NAME]).")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many runs.")] = 20,
    verifies: Annotated[
        bool, typer.Option("--verifies", help="List the verifies (dotsync verify) instead.")
    ] = False,
    config: ConfigOption = DEFAULT_CONFIG_PATH,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """List runs: start, duration, status, counts, error."""
    from dotsync.state import StateStore

    mode = setup_logging(verbose, as_json=as_json)
    with handled(verbose, json_logs=mode.json_logs):
        cfg = load(config)
        with StateStore(cfg.state.url) as store:
            runs = [] if verifies else store.list_runs(name, limit=limit)
            checks = store.list_verifies(name, limit=limit) if verifies else []
        if verifies:
            if as_json:
                print_json([verify_json(v) for v in checks])
            else:
                print_verifies(checks)
            return
        if as_json:
            print_json([r.model_dump(mode="json") for r in runs])
            return
        table = Table(
            "run",
            "export",
            "started (UTC)",
            "duration",
            "status",
            "sent",
            "left",
            "rejected",
            "error",
            title="history",
        )
        for r in runs:
            duration = f"{r.duration_seconds:.1f}s" if r.duration_seconds is not None else "-"
            table.add_row(
                str(r.run_id),
                r.export,
                f"{r.started_at:%Y-%m-%d %H:%M:%S}",
                duration,
                r.status.value,
                f"{r.counts.sent:,}",
                f"{r.counts.removed + r.counts.unsubscribed:,}",
                f"{r.counts.rejected:,}",
                # On a terminal a long error would stretch every row: its start is enough there,
                # `show-run` has the whole. Without one (a file, a pipe) nothing is cut.
                _shorten(r.error or "", 80) if out.is_terminal else (r.error or ""),
            )
        print_table(table)
        if any(r.status is RunStatus.PARTIAL for r in runs):
            out.print(PARTIAL_LEGEND, highlight=False, markup=False)


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def show_run(
    run_id: Annotated[int, typer.Argument(metavar="ID", help="The run id (see history).")],
    rows: Annotated[int, typer.Option(help="Rejected rows to show.")] = 20,
    verify: Annotated[
        bool, typer.Option("--verify", help="ID is a verify's (see history --verifies).")
    ] = False,
    config: ConfigOption = DEFAULT_CONFIG_PATH,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Details of one run and its rejected rows."""
    from dotsync.state import StateStore

    mode = setup_logging(verbose, as_json=as_json)
    with handled(verbose, json_logs=mode.json_logs):
        cfg = load(config)
        with StateStore(cfg.state.url) as store:
            result = None if verify else store.get_run(run_id)
            check = store.get_verify(run_id) if verify else None
        if verify:
            if check is None:
                raise ConfigError(f"no verify {run_id}: see `dotsync history --verifies`")
            show_verify(check, as_json=as_json)
            return
        if result is None:
            raise ConfigError(f"no run {run_id}: see `dotsync history`")
        rejected: list[dict[str, str]] = []
        if result.rejects_file and result.rejects_file.exists():
            with result.rejects_file.open(newline="", encoding="utf-8") as fh:
                for i, row in enumerate(csv.DictReader(fh)):
                    if i >= rows:
                        break
                    rejected.append(row)
        if as_json:
            print_json({"run": result.model_dump(mode="json"), "rejected_rows": rejected})
            return
        print_summary(result)
        if result.error:
            out.print(f"error: {result.error}", highlight=False)
        if rejected:
            table = Table(*rejected[0].keys(), title=f"first {len(rejected)} rejected rows")
            for row in rejected:
                table.add_row(*[v or "" for v in row.values()])
            print_table(table)
