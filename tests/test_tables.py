"""The tables a run keeps in DuckDB are what ``dotsync.tables`` says: a real export against the
emulator, inspected at its end (just before the rejected rows are written), each table's leading
columns compared with the module's list."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import duckdb
import pytest
from support.project import PASSWORD_ENV, Project, profile

import dotsync
from dotsync import rejects, runner, tables
from dotsync.emulator import RunningEmulator
from dotsync.stages import send as send_stage


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
        inspect_only(duck)
        return write_rejects(duck, *args)

    monkeypatch.setattr(runner, "write_rejects", inspect)
    send = send_stage.send

    def before_sending(ctx: Any, duck: duckdb.DuckDBPyConnection, *args: Any) -> Any:
        inspect_only(duck)  # planning's tables are dropped when sending starts
        return send(ctx, duck, *args)

    def inspect_only(duck: duckdb.DuckDBPyConnection) -> None:
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

    monkeypatch.setattr(runner, "send", before_sending)
    result = project.run()
    assert result.counts.removed == 1 and result.counts.suppressed == 1

    made_here = set(seen)
    # members_gone: only a warehouse diff makes it (tests/sync/test_warehouse.py runs one).
    not_here = {"batched", "source_rejected", "members_gone"}
    expected_here = {t.name for t in tables.RUN_TABLES} - not_here
    assert expected_here <= made_here, f"not made: {sorted(expected_here - made_here)}"
    for table in tables.RUN_TABLES:
        if table.name not in seen:
            continue
        columns = seen[table.name]
        assert tuple(columns[: len(table.columns)]) == table.columns, (table.name, columns)
        if not table.open_ended:
            assert len(columns) == len(table.columns), (table.name, columns)


# A run table named inside SQL text: after a keyword that takes a table (``from to_send``).
_SQL_NAMING = re.compile(
    r"(?i)\b(?:from|join|table|into|view|exists|update)\s+("
    + "|".join(sorted((t.name for t in tables.RUN_TABLES), key=len, reverse=True))
    + r")\b"
)


def _docstrings(tree: ast.Module) -> set[int]:
    """The ids of the docstring nodes: prose, which may name the tables freely."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def test_stages_name_the_run_tables_through_the_module() -> None:
    package = Path(dotsync.__file__).parent
    spelled: list[str] = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if relative.parts[0] == "emulator" or relative == Path("tables.py"):
            continue  # the emulator is DotDigital's stand-in, with tables of its own
        tree = ast.parse(path.read_text(encoding="utf-8"))
        prose = _docstrings(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
                continue
            if id(node) not in prose and (found := _SQL_NAMING.search(node.value)):
                spelled.append(f"{relative}:{node.lineno}: {found.group(0)!r}")
    assert spelled == [], "use dotsync.tables, not the literal name:\n" + "\n".join(spelled)


def test_a_run_table_reads_as_its_name_in_sql() -> None:
    duck = duckdb.connect()
    duck.execute(f"create table {tables.TO_REMOVE} (contact_id bigint)")
    duck.execute(f"insert into {tables.TO_REMOVE} values (7)")
    assert duck.execute("select contact_id from to_remove").fetchall() == [(7,)]
