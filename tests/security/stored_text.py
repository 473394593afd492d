"""Every piece of text a dotsync project leaves on disk, for tests that look for what must not
be there: raw bytes of every file, plus each string of the SQLite and DuckDB databases read
through their engines (DuckDB compresses strings, so its file bytes alone prove nothing)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import duckdb


def stored_texts(folder: Path, *, skip: frozenset[Path] = frozenset()) -> Iterator[tuple[str, str]]:
    """(where, text) for every file under ``folder`` and every value of its databases."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p not in skip):
        data = path.read_bytes()
        yield str(path), data.decode("utf-8", errors="replace")
        if data.startswith(b"SQLite format 3"):
            yield from _sqlite_values(path)
        elif path.suffix == ".duckdb":
            yield from _duckdb_values(path)


def _sqlite_values(path: Path) -> Iterator[tuple[str, str]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        tables = [t for (t,) in db.execute("select name from sqlite_master where type='table'")]
        for table in tables:
            for row in db.execute(f'select * from "{table}"'):
                yield f"{path}:{table}", repr(row)


def _duckdb_values(path: Path) -> Iterator[tuple[str, str]]:
    with duckdb.connect(str(path), read_only=True) as db:
        tables = db.execute("select schema_name, table_name from duckdb_tables()").fetchall()
        for schema, table in tables:
            for row in db.execute(f'select * from "{schema}"."{table}"').fetchall():
                yield f"{path}:{table}", repr(row)


def leaks(folder: Path, needles: list[str], *, skip: frozenset[Path] = frozenset()) -> list[str]:
    """Where any of ``needles`` (case-insensitive) appears under ``folder``."""
    lowered = [n.lower() for n in needles]
    return [
        f"{where}: {needle}"
        for where, text in stored_texts(folder, skip=skip)
        for needle in lowered
        if needle in text.lower()
    ]
