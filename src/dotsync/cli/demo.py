"""``dotsync demo``: see an export work end to end, with no account and no set-up."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from dotsync.cli._common import (
    JsonOption,
    VerboseOption,
    err,
    handled,
    out,
    print_json,
    setup_logging,
    styled,
)
from dotsync.cli.export import _progress, print_summary
from dotsync.errors import DotsyncError


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    profiles: Annotated[int, typer.Option(help="How many synthetic profiles.", min=100)] = 50_000,
    folder: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="Keep the demo's files (profiles, dotsync.toml, state) here.",
        ),
    ] = None,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Export two segments of synthetic profiles to a local DotDigital emulator, then refresh."""
    setup_logging(verbose)
    with handled(verbose):
        if folder is None:
            with tempfile.TemporaryDirectory(prefix="dotsync-demo-") as tmp:
                _demo(Path(tmp), profiles, as_json, kept=False)
        else:
            _demo(folder.resolve(), profiles, as_json, kept=True)


def _demo(folder: Path, profiles: int, as_json: bool, *, kept: bool) -> None:
    from dotsync.demo import run_demo  # the in-process emulator: only the demo needs it

    def say(message: str) -> None:
        if not as_json:
            err.print(styled(message, "dim"))

    with _progress(enabled=not as_json) as progress:
        outcome = run_demo(folder, profiles=profiles, progress=progress, say=say)
    if as_json:
        print_json(
            {
                "first": outcome.first.model_dump(mode="json"),
                "refresh": outcome.refresh.model_dump(mode="json"),
                "address_book_contacts": outcome.book_contacts,
                "expected_members": outcome.expected_members,
            }
        )
    else:
        print_summary(outcome.first)
        print_summary(outcome.refresh)
        out.print(
            f"address book now holds {outcome.book_contacts:,} contacts "
            f"(segments: {outcome.expected_members:,} valid members, "
            f"{outcome.first.counts.suppressed:,} suppressed)"
        )
        if not kept:  # the paths printed above are in a temporary folder, gone at exit
            out.print(
                "the demo's files were temporary: `dotsync demo --dir demo` keeps them "
                "(profiles, dotsync.toml, state, rejected rows) to look at and copy from"
            )
    if outcome.book_contacts + outcome.first.counts.suppressed != outcome.expected_members:
        raise DotsyncError("the address book does not match the segments", detail=str(outcome))
