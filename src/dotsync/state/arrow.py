"""Rows of the state database into Arrow, streamed: a million members never become a million
Python objects at once, and DuckDB then joins them like any table."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from sqlalchemy import Engine, Select

FETCH_ROWS = 100_000


def query_to_arrow(
    engine: Engine, query: Select[Any], schema: pa.Schema, *, rows: int = FETCH_ROWS
) -> pa.Table:
    """Run ``query`` with a server-side cursor and return its rows as a table of ``schema``
    (columns in the query's order)."""
    batches: list[pa.RecordBatch] = []
    with engine.connect() as conn:
        cursor = conn.execution_options(stream_results=True).execute(query)
        while chunk := cursor.fetchmany(rows):
            columns = list(zip(*chunk, strict=True))
            batches.append(
                pa.RecordBatch.from_arrays(
                    [pa.array(c, type=f.type) for c, f in zip(columns, schema, strict=True)],
                    schema=schema,
                )
            )
    return pa.Table.from_batches(batches, schema=schema)
