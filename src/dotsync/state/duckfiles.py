"""Attaching a state DuckDB file (an export's members, a book's ledger) to a run's connection.

DuckDB lets one process at a time open a file for writing: a file held by another process is a
run going on there, which the caller is told as ``RunInProgressError`` (exit 6, "try again"), not
as DuckDB's I/O error.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from dotsync.errors import RunInProgressError
from dotsync.identity import quote_literal


def attach_or_busy(
    duck: duckdb.DuckDBPyConnection, path: Path, alias: str, what: str, *, read_only: bool = False
) -> None:
    """Attach ``path`` as ``alias``; ``what`` names the file for the message ("the ledger of
    address book 12")."""
    mode = " (read_only)" if read_only else ""
    try:
        duck.execute(f"attach {quote_literal(str(path))} as {alias}{mode}")
    except duckdb.IOException as exc:  # the file's lock is held by another process
        raise RunInProgressError(
            f"{what} is in use by a run in another process; try again when it ends "
            "(see `dotsync history`)",
            detail=str(exc).splitlines()[0],
        ) from None
