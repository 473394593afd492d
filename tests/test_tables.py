"""The tables a run keeps in DuckDB are what ``dotsync.tables`` says: a real export against the
emulator, inspected at its end (just before the rejected rows are written), each table's leading
columns compared with the module's list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
from support.project import PASSWORD_ENV, Project, profile

from dotsync import rejects, runner, tables
from dotsync.emulator import RunningEmulator


def test_the_run_tables_are_as_declared(
    emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user, password = emulator.credentials
    monkeypatch.setenv(PASSWORD_ENV, password)
    with emulator.client() as api:
        book = int(api.post("/v2/address-books", json={"name": "Tables"}).json()["id"])
    project = Project(folder=tmp_path, emulator=emulator, book_id=book, api_user=user)
    rows = [profile(i) for i in range(12)]
    project.write_profiles(rows)
    project.write_config()
    project.run()
    emulator.suppress(user, "person3@example.com", "HardBounced", global_=True)
    rows[1]["lifetime_value"] = 1  # a leaver
    rows[2]["first_name"] = "Changed"
    rows[3]["first_name"] = "Changed"  # suppressed meanwhile: refused
    rows[4]["email"] = "not-an-email"  # rejected
    project.write_profiles(rows)
    seen: dict[str, list[str]] = {}
    write_rejects = rejects.write_rejects

    def inspect(duck: duckdb.DuckDBPyConnection, *args: Any) -> Any:
        for (name,) in duck.execute(
            "select distinct table_name from duckdb_columns() where database_name = 'temp' "
            "or database_name = 'memory'"
        ).fetchall():
            seen[name] = [
                str(c)
                for (c,) in duck.execute(
                    "select column_name from duckdb_columns() where table_name = ? "
                    "and (database_name = 'temp' or database_name = 'memory') "
                    "order by column_index",
                    [name],
                ).fetchall()
            ]
        return write_rejects(duck, *args)

    monkeypatch.setattr(runner, "write_rejects", inspect)
    result = project.run()
    assert result.counts.removed == 1 and result.counts.suppressed == 1

    made_here = set(seen)
    expected_here = {t.name for t in tables.RUN_TABLES} - {"batched", "source_rejected"}
    assert expected_here <= made_here, f"not made: {sorted(expected_here - made_here)}"
    for table in tables.RUN_TABLES:
        if table.name not in seen:
            continue
        columns = seen[table.name]
        assert tuple(columns[: len(table.columns)]) == table.columns, (table.name, columns)
        if not table.open_ended:
            assert len(columns) == len(table.columns), (table.name, columns)
