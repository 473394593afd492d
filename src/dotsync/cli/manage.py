"""``dotsync remove``: an admin removes a destination at any time."""

from __future__ import annotations

from typing import Annotated

import typer

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
    setup_logging,
)
from dotsync.errors import ConfigError


def register(app: typer.Typer) -> None:
    app.command("remove", short_help="Forget everything dotsync stores for an export.")(remove)


def remove(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="The export to remove ([exports.NAME]).")
    ],
    purge_members: Annotated[
        bool,
        typer.Option(
            "--purge-members",
            help="Also take its members out of the address book (not the account).",
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    config: ConfigOption = DEFAULT_CONFIG_PATH,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Delete everything dotsync stores for an export (state, history, rejected-rows files)."""
    from dotsync.connect import explain_refusal
    from dotsync.remove import remove_destination

    mode = setup_logging(verbose, as_json=as_json)
    with handled(verbose, json_logs=mode.json_logs):
        cfg = load(config)
        export = cfg.find_export(name)
        what = "its state, history and rejected-rows files"
        if purge_members:
            what += ", and take its members out of the DotDigital address book"
        if not yes and mode.json_logs:
            # A question is not a JSON line, and a machine cannot answer it.
            raise ConfigError(
                "dotsync remove asks for confirmation, which JSON output cannot: pass --yes"
            )
        if not yes and not _confirmed(f"Remove export {name!r}: {what}?"):
            err.print("nothing was removed")
            return
        with explain_refusal(export.connection, cfg.connections[export.connection]):
            report = remove_destination(cfg, name, purge_members=purge_members)
        if as_json:
            print_json(report.__dict__)
            return
        out.print(
            f"export {name!r} removed: {report.members_forgotten:,} members forgotten, "
            f"{report.members_removed_from_book:,} removed from the address book, "
            f"{report.files_deleted} files deleted, {report.statuses_deleted:,} rows of "
            "`dotsync pull` deleted"
        )
        if report.kept_held_by_other_export or report.kept_found_in_book:
            out.print(
                f"left in the book: {report.kept_held_by_other_export:,} held by another export "
                f"of the book, {report.kept_found_in_book:,} that were there before dotsync"
            )


def _confirmed(question: str) -> bool:
    """Ask; with no one to answer (cron, a closed stdin) say how to confirm instead of aborting."""
    try:
        return typer.confirm(question, default=False)
    except typer.Abort:
        raise ConfigError(
            "dotsync remove asks for confirmation and got no answer: "
            "pass --yes to remove without asking"
        ) from None
