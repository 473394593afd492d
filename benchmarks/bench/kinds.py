"""The profiles in each source kind the README offers: CSV, Parquet, JSON, a ``.duckdb`` file and a
PostgreSQL table. The Parquet file is the master (generated, mutated, checked against the book);
each kind is a copy of it, written again after each mutation."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb
import sqlalchemy as sa

KINDS = ("parquet", "csv", "json", "duckdb", "postgres")
PG_URL = os.environ.get("DOTSYNC_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
_COLUMNS = (
    "customer_id text primary key, email text, first_name text, last_name text, full_name text, "
    "gender text, zip text, lifetime_value double precision, churn_score double precision, "
    "tier text, signup_date date, updated_at timestamp"
)


def _q(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


@dataclass
class SourceCopy:
    """Where one kind's copy lives: ``location`` is a file, or the database URL (``table``)."""

    kind: str
    location: Path | str
    table: str | None = None

    def refresh(self, master: Path) -> None:
        """Write the master's rows again into this kind's copy."""
        if self.kind == "parquet":
            return  # the master itself
        if self.kind == "postgres":
            _load_postgres(master, str(self.location), self.table or "")
            return
        assert isinstance(self.location, Path)
        target = self.location
        tmp = target.with_name(target.name + ".tmp")
        tmp.unlink(missing_ok=True)
        with duckdb.connect() as duck:
            source = f"(select * from read_parquet({_q(master)}))"
            if self.kind == "csv":
                duck.execute(f"copy {source} to {_q(tmp)} (format csv, header true)")
            elif self.kind == "json":
                duck.execute(f"copy {source} to {_q(tmp)} (format json)")
            else:
                duck.execute(f"attach {_q(tmp)} as copy")
                duck.execute(f"create table copy.profiles as {source}")
                duck.execute("detach copy")
        tmp.replace(target)

    def drop(self) -> None:
        if self.kind == "postgres" and self.table:
            engine = sa.create_engine(str(self.location))
            with engine.begin() as conn:
                conn.execute(sa.text(f"drop schema if exists {self.table.split('.')[0]} cascade"))
            engine.dispose()


def make_copy(kind: str, master: Path, folder: Path) -> SourceCopy:
    suffix = {"csv": ".csv", "json": ".json", "duckdb": ".duckdb"}
    if kind == "parquet":
        copy = SourceCopy(kind, master)
    elif kind == "postgres":
        copy = SourceCopy(kind, PG_URL, f"dotsync_bench_{uuid.uuid4().hex[:8]}.profiles")
    else:
        copy = SourceCopy(kind, folder / f"profiles{suffix[kind]}")
    copy.refresh(master)
    return copy


def _load_postgres(master: Path, url: str, table: str) -> None:
    """The master's rows into ``table`` (schema.name), replaced whole, through COPY."""
    schema = table.split(".")[0]
    rows = master.with_name(master.name + ".pg.csv")
    with duckdb.connect() as duck:
        duck.execute(
            f"copy (select * from read_parquet({_q(master)})) "
            f"to {_q(rows)} (format csv, header false)"
        )
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"create schema if not exists {schema}"))
            conn.execute(sa.text(f"drop table if exists {table}"))
            conn.execute(sa.text(f"create table {table} ({_COLUMNS})"))
            raw = conn.connection.driver_connection
            assert raw is not None
            with (
                raw.cursor() as cursor,
                cursor.copy(f"copy {table} from stdin (format csv)") as copy,
                rows.open("rb") as data,
            ):
                while chunk := data.read(1 << 20):
                    copy.write(chunk)
            conn.execute(sa.text(f"analyze {table}"))
    finally:
        engine.dispose()
        rows.unlink(missing_ok=True)
