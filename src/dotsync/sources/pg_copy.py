"""A PostgreSQL query's rows as Arrow tables without a Python object per value.

Through SQLAlchemy each value becomes a Python string and each row a ``Row`` before Arrow copies
them again (measured, 1M members of 8 columns on the 2-core machine: 5.8 s of CPU; this way
3.4 s). Here PostgreSQL writes the rows as CSV (``COPY (query) TO STDOUT``), psycopg hands the
bytes over as they come, and Arrow's streaming CSV reader parses them in blocks.

Fidelity with the row-by-row path (``tests/sources/test_pg_copy.py``): PostgreSQL's CSV writes
NULL as an unquoted empty field and ``''`` as ``""``, and the reader is told that only the
unquoted one is NULL; values with commas, quotes or line breaks are quoted and read back whole;
the bytes are UTF-8 whatever the client's encoding (``ENCODING 'UTF8'``).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy.engine import Connection

# Arrow parses this many bytes at a time, and a row must fit in one block; a larger row raises
# ``RowTooLargeError`` (the caller reads row by row instead). 2 MB holds thousands of profile
# rows; measured at 1M members, 8 MB blocks raised the run's peak RSS by about 40 MB.
BLOCK_BYTES = 2 << 20


_STATEMENT = "COPY ({select}) TO STDOUT (FORMAT csv, ENCODING 'UTF8')"


class RowTooLargeError(Exception):
    """A row is larger than ``BLOCK_BYTES``: the CSV reader cannot parse it."""


class CopyUnavailableError(Exception):
    """The database refused a COPY statement (not a row of its output)."""


def copy_supported(conn: Connection) -> bool:
    """COPY needs PostgreSQL through psycopg 3 (the ``postgres`` extra's driver)."""
    return conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg"


def copy_batches(conn: Connection, select: str, names: Sequence[str]) -> Iterator[pa.Table]:
    """``select``'s rows (every column text) as Arrow tables of string columns named ``names``.

    Runs on ``conn``'s own session, so its temporary tables and transaction apply. A database
    error once rows flow is psycopg's (``psycopg.Error``); COPY refused at its start (a database
    speaking PostgreSQL's protocol without this COPY, or an error in the query) is
    ``CopyUnavailableError``, and a row too large to parse ``RowTooLargeError``: the caller then
    reads row by row, where a query's error is reported as such.
    """
    import psycopg  # the postgres extra's driver: copy_supported checked it is the one in use

    raw: Any = conn.connection.dbapi_connection
    statement = _STATEMENT.format(select=select)
    with raw.cursor() as cursor, ExitStack() as stack:
        try:
            copy = stack.enter_context(cursor.copy(statement))
        except psycopg.Error as exc:
            raise CopyUnavailableError(f"COPY was refused ({_one_line(exc)})") from exc
        try:
            reader = pa_csv.open_csv(
                _CopyOut(copy),
                # No threads: the reader pulls the bytes on this thread, where the copy lives.
                read_options=pa_csv.ReadOptions(
                    column_names=list(names), use_threads=False, block_size=BLOCK_BYTES
                ),
                parse_options=pa_csv.ParseOptions(newlines_in_values=True),
                # The system allocator gives the blocks back when freed; Arrow's default
                # (mimalloc) kept them (measured at 1M: a peak 20-40 MB higher).
                memory_pool=pa.system_memory_pool(),
                convert_options=pa_csv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.string()),
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                    null_values=[""],
                ),
            )
            for batch in reader:
                yield pa.Table.from_batches([batch])
        except pa.ArrowInvalid as exc:
            if "straddl" not in str(exc):
                raise
            size = f"{BLOCK_BYTES // 1024:,} KB"
            raise RowTooLargeError(f"a member row is larger than {size}") from None


def copy_keys(conn: Connection, table: str, keys: Iterable[str]) -> None:
    """``keys`` into ``table``'s ``key`` column, by one ``COPY FROM STDIN`` on ``conn``'s session;
    a database error is ``CopyUnavailableError``."""
    import psycopg

    raw: Any = conn.connection.dbapi_connection
    try:
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} (key) FROM STDIN") as copy:
            for key in keys:
                copy.write_row((key,))
    except psycopg.Error as exc:
        raise CopyUnavailableError(f"COPY of the keys failed ({_one_line(exc)})") from exc


def _one_line(exc: Exception) -> str:
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip())


class _CopyOut(io.RawIOBase):
    """psycopg's COPY blocks (one row each, as the server sends them) as a readable stream."""

    def __init__(self, copy: Any) -> None:
        super().__init__()
        self._copy = copy
        self._pending = bytearray()
        self._ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        wanted = len(buffer)
        while len(self._pending) < wanted and not self._ended:
            block = self._copy.read()
            if not block:
                self._ended = True
                break
            self._pending += block
        size = min(wanted, len(self._pending))
        buffer[:size] = self._pending[:size]
        del self._pending[:size]
        return size
