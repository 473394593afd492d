"""``[state] members_in = "source"``: the diff of a refresh runs inside the source database
(PostgreSQL, and DuckDB through duckdb_engine as a second dialect), end to end against the
emulator over HTTP. What travels is read from the run's own log of the diff (rows read in full,
leavers' keys), and what DotDigital holds from the emulator."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from support.project import PASSWORD_ENV, Project

from dotsync.config import load_config
from dotsync.errors import ConfigError, LimitExceededError, MassRemovalError, SourceError
from dotsync.result import RunResult
from dotsync.runner import run_export


def _rows(n: int = 5) -> list[dict[str, Any]]:
    return [
        {
            "customer_id": f"C{i}",
            "email": f"person{i}@example.com",
            "first_name": f"Ann{i}",
            "score": 0.9 if i < 3 else 0.1,
        }
        for i in range(n)
    ]


class Source:
    """A profiles table (customer_id, email, first_name, score) in a SQL database."""

    def __init__(self, url: str, table: str, mirror_schema: str) -> None:
        self.url = url
        self.table = table
        self.mirror_schema = mirror_schema

    def execute(self, statement: str, rows: list[dict[str, Any]] | None = None) -> None:
        engine = sa.create_engine(self.url)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(statement), rows or {})
        finally:
            engine.dispose()

    def query(self, statement: str) -> list[tuple[Any, ...]]:
        engine = sa.create_engine(self.url)
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(sa.text(statement)).fetchall()]
        finally:
            engine.dispose()


@pytest.fixture(params=["postgresql", "duckdb"])
def source(request: pytest.FixtureRequest, pg_url: str, tmp_path: Path) -> Iterator[Source]:
    if request.param == "postgresql":
        name = f"wh_{uuid.uuid4().hex[:10]}"
        made = Source(pg_url, f"{name}.customers", f"{name}_mirror")
        made.execute(f'CREATE SCHEMA "{name}"')
    else:
        pytest.importorskip("duckdb_engine")
        made = Source(f"duckdb:///{tmp_path / 'warehouse.duckdb'}", "customers", "dotsync")
        name = ""
    made.execute(
        f"CREATE TABLE {made.table} (customer_id VARCHAR(20) PRIMARY KEY, email VARCHAR(200), "
        "first_name VARCHAR(200), score REAL)"
    )
    made.execute(
        f"INSERT INTO {made.table} VALUES (:customer_id, :email, :first_name, :score)", _rows()
    )
    try:
        yield made
    finally:
        if name:
            made.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            made.execute(f'DROP SCHEMA IF EXISTS "{made.mirror_schema}" CASCADE')


def _config(
    project: Project, source: Source, *, members_in: str = "source", export: str = ""
) -> None:
    project.config_path.write_text(
        f"""
[state]
members_in = "{members_in}"
members_schema = "{source.mirror_schema}"
[source]
url = "{source.url}"
table = "{source.table}"
key = "customer_id"
[segments.chosen]
where = "score > 0.5"
[connections.dd]
api_user = "{project.api_user}"
password_env = "{PASSWORD_ENV}"
address_book_id = {project.book_id}
privacy_acknowledged = true
api_url = "{project.emulator.base_url}"
[exports.news]
connection = "dd"
segments = ["chosen"]
create_missing_data_fields = true
{export}
[exports.news.mapping]
email = "email"
first_name = "first_name"
""",
        encoding="utf-8",
    )


def _run(
    project: Project, caplog: pytest.LogCaptureFixture, *, full: bool = False
) -> tuple[RunResult, tuple[int, ...]]:
    """A run, and what its warehouse diff read: (full rows, leavers' keys, members counted)."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="dotsync.sources.warehouse"):
        result = run_export(load_config(project.config_path), "news", full=full)
    # From the message as written (a redaction filter, once installed, formats it early).
    diffs = [
        tuple(int(n) for n in re.findall(r"(\d+) (?:member|leaver)", record.getMessage()))
        for record in caplog.records
        if record.name == "dotsync.sources.warehouse" and "warehouse diff" in record.getMessage()
    ]
    assert len(diffs) == 1, diffs
    return result, diffs[0]


def _first_names(project: Project) -> dict[str, str]:
    return {
        email: str(contact["dataFields"].get("FIRSTNAME"))
        for email, contact in project.members().items()
    }


def test_a_refresh_moves_only_what_changed(
    project: Project, source: Source, caplog: pytest.LogCaptureFixture
) -> None:
    _config(project, source)
    first, read = _run(project, caplog)
    assert first.counts.sent == 3 and read == (3, 0, 3)

    # Nothing changed: only counts come back from the warehouse.
    unchanged, read = _run(project, caplog)
    assert read == (0, 0, 3)
    c = unchanged.counts
    assert (c.sent, c.unchanged, c.left, c.profiles_in_segments) == (0, 3, 0, 3)
    assert c.segment_sizes == {"chosen": 3}

    # C1 changes, C2 leaves the segment, C3 enters it.
    source.execute(f"UPDATE {source.table} SET first_name = 'Seen' WHERE customer_id = 'C1'")
    source.execute(f"UPDATE {source.table} SET score = 1 - score WHERE customer_id IN ('C2', 'C3')")
    changed, read = _run(project, caplog)
    assert read == (2, 1, 3)  # C1 and C3 in full, C2's key
    c = changed.counts
    assert (c.entered, c.changed, c.left, c.unchanged, c.sent) == (1, 1, 1, 1, 2)
    assert _first_names(project) == {
        "person0@example.com": "Ann0",
        "person1@example.com": "Seen",
        "person3@example.com": "Ann3",
    }
    mirrored = source.query(
        f'SELECT key, row_version FROM "{source.mirror_schema}".members ORDER BY key'
    )
    assert [k for k, _ in mirrored] == ["C0", "C1", "C3"]
    assert all(v for _, v in mirrored)

    again, read = _run(project, caplog)
    assert read == (0, 0, 3) and again.counts.sent == 0


def test_null_empty_and_moved_separators_are_changes(
    project: Project, source: Source, caplog: pytest.LogCaptureFixture
) -> None:
    """The warehouse's digest tells NULL from '' and 'a|' + 'b' from 'a' + '|b'."""
    _config(project, source)
    _run(project, caplog)
    for statement in (
        "first_name = NULL",
        "first_name = ''",
        "first_name = '|x', email = 'person0@example.com'",
        "first_name = 'x', email = 'person0@example.com|'",
    ):
        source.execute(f"UPDATE {source.table} SET {statement} WHERE customer_id = 'C0'")
        _, read = _run(project, caplog)
        assert read[0] == 1, statement
    _, read = _run(project, caplog)
    assert read == (1, 0, 3)  # the bad e-mail is rejected, so read again on every run


def test_a_mirror_out_of_step_with_the_state_is_rebuilt(
    project: Project, source: Source, caplog: pytest.LogCaptureFixture
) -> None:
    _config(project, source)
    _run(project, caplog)
    # Someone empties the mirror: the run rebuilds it from the state before diffing.
    source.execute(f'DELETE FROM "{source.mirror_schema}".members')
    result, read = _run(project, caplog)
    assert read == (0, 0, 3) and result.counts.sent == 0
    # A mirrored version that lies (the row's values are not those DotDigital holds) is not
    # trusted once the mirror is marked unclean: rebuilt from the state, the row is read again.
    source.execute(f"UPDATE {source.table} SET first_name = 'Later' WHERE customer_id = 'C0'")
    source.execute(f'UPDATE "{source.mirror_schema}".exports SET clean = false')
    result, read = _run(project, caplog)
    assert read == (1, 0, 3) and result.counts.changed == 1
    assert _first_names(project)["person0@example.com"] == "Later"


def test_full_reads_and_sends_every_row_and_the_next_refresh_reads_none(
    project: Project, source: Source, caplog: pytest.LogCaptureFixture
) -> None:
    _config(project, source)
    _run(project, caplog)
    full, read = _run(project, caplog, full=True)
    assert read == (3, 0, 3) and full.counts.sent == 3
    after, read = _run(project, caplog)
    assert read == (0, 0, 3) and after.counts.sent == 0


def test_whole_segment_rules_hold_for_rows_that_did_not_travel(
    project: Project, source: Source, caplog: pytest.LogCaptureFixture
) -> None:
    """A shared e-mail between a changed row and an unchanged (untravelled) one, a key of two
    profile rows, the cap and the mass-removal guard: judged over the whole segment."""
    _config(project, source)
    _run(project, caplog)
    # C2 takes C0's address: C0 did not change and is not read, yet C2 (the larger key) is
    # rejected as a duplicate e-mail and C0 stays.
    source.execute(
        f"UPDATE {source.table} SET email = 'person0@example.com' WHERE customer_id = 'C2'"
    )
    shared, read = _run(project, caplog)
    assert read == (1, 0, 3)
    assert shared.counts.rejected_by_reason == {"duplicate_email": 1}
    assert shared.counts.sent == 0 and shared.counts.left == 0

    # Over the cap: counted in the warehouse, nothing sent.
    _config(project, source, export="max_profiles = 2")
    with pytest.raises(LimitExceededError):
        _run(project, caplog)

    # Every member leaves the segment: the guard stops the run before any removal.
    _config(project, source)
    source.execute(f"UPDATE {source.table} SET score = 0")
    _config(project, source, export="min_removals_guarded = 0")
    with pytest.raises(MassRemovalError):
        _run(project, caplog)
    assert len(project.members()) == 3


def test_a_key_of_two_profile_rows_travels_and_is_rejected(
    project: Project, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    name = f"wh_{uuid.uuid4().hex[:10]}"
    made = Source(pg_url, f"{name}.customers", f"{name}_mirror")
    made.execute(f'CREATE SCHEMA "{name}"')
    try:
        # No primary key: two rows may share C1.
        made.execute(
            f"CREATE TABLE {made.table} (customer_id TEXT, email TEXT, first_name TEXT, score REAL)"
        )
        made.execute(
            f"INSERT INTO {made.table} VALUES (:customer_id, :email, :first_name, :score)",
            _rows(),
        )
        _config(project, made)
        _run(project, caplog)
        made.execute(f"INSERT INTO {made.table} VALUES ('C1', 'other@example.com', 'Twin', 0.9)")
        twice, read = _run(project, caplog)
        assert read[0] == 1  # C1's key, both rows
        assert twice.counts.rejected_by_reason == {"duplicate_key": 2}
        assert twice.counts.sent == 0 and twice.counts.left == 0
    finally:
        made.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        made.execute(f'DROP SCHEMA IF EXISTS "{made.mirror_schema}" CASCADE')


def test_members_in_source_needs_a_sql_source(project: Project) -> None:
    (project.folder / "p.csv").write_text("customer_id,email\nC1,a@example.com\n")
    project.config_path.write_text(
        '[state]\nmembers_in = "source"\n[source]\npath = "p.csv"\nkey = "customer_id"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(project.config_path)
    assert "state.members_in" in str(caught.value) and "[source] url" in str(caught.value)


def test_killed_between_confirmation_and_mirror_write_converges(
    project: Project, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The real ``dotsync export`` process SIGKILLed while it waits to write the confirmed
    versions back into the warehouse (the test holds a lock on the mirror): DotDigital has
    confirmed, the state has committed, the mirror has not. The next run commits the import
    again from its reply and rebuilds the mirror; the one after reads nothing."""
    name = f"wh_{uuid.uuid4().hex[:10]}"
    made = Source(pg_url, f"{name}.customers", f"{name}_mirror")
    made.execute(f'CREATE SCHEMA "{name}"')
    try:
        made.execute(
            f"CREATE TABLE {made.table} (customer_id VARCHAR(20) PRIMARY KEY, "
            "email VARCHAR(200), first_name VARCHAR(200), score REAL)"
        )
        made.execute(
            f"INSERT INTO {made.table} VALUES (:customer_id, :email, :first_name, :score)",
            _rows(),
        )
        _config(project, made)
        _run(project, caplog)
        made.execute(f"UPDATE {made.table} SET first_name = 'Seen' WHERE customer_id = 'C1'")

        engine = sa.create_engine(pg_url)
        holder = engine.connect()
        holder.begin()
        # Reads go on (the diff), writes wait: the run stops at the mirror's write-back.
        holder.execute(sa.text(f'LOCK TABLE "{made.mirror_schema}".members IN SHARE MODE'))
        process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("dotsync")),
                "export",
                "news",
                "--config",
                str(project.config_path),
            ],
            cwd=project.folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, PASSWORD_ENV: project.emulator.credentials[1]},
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                # pg_stat_activity is one snapshot per transaction: cleared on each look.
                holder.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
                waiting = holder.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND query ILIKE '%members%'"
                    )
                ).scalar_one()
                if waiting or process.poll() is not None:
                    break
                time.sleep(0.1)
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert waiting
            process.send_signal(signal.SIGKILL)
            process.wait(10)
        finally:
            if process.poll() is None:
                process.kill()
            holder.rollback()
            holder.close()
            engine.dispose()
        # DotDigital confirmed the change; the mirror still has C1's old version, marked unclean.
        assert _first_names(project)["person1@example.com"] == "Seen"
        assert made.query(f'SELECT clean FROM "{made.mirror_schema}".exports') == [(False,)]

        rerun, read = _run(project, caplog)
        assert rerun.resumed_imports == 1
        assert rerun.counts.sent == 0 and read == (0, 0, 3)
        assert made.query(f'SELECT clean FROM "{made.mirror_schema}".exports') == [(True,)]
        last, read = _run(project, caplog)
        assert last.counts.sent == 0 and read == (0, 0, 3)
    finally:
        made.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        made.execute(f'DROP SCHEMA IF EXISTS "{made.mirror_schema}" CASCADE')


def test_a_mirror_table_of_another_shape_is_named_in_the_error(
    project: Project, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    name = f"wh_{uuid.uuid4().hex[:10]}"
    made = Source(pg_url, f"{name}.customers", f"{name}_mirror")
    made.execute(f'CREATE SCHEMA "{name}"')
    made.execute(f'CREATE SCHEMA "{made.mirror_schema}"')
    try:
        made.execute(
            f"CREATE TABLE {made.table} (customer_id TEXT, email TEXT, first_name TEXT, score REAL)"
        )
        made.execute(f'CREATE TABLE "{made.mirror_schema}".members (something INTEGER)')
        _config(project, made)
        with pytest.raises(SourceError) as caught:
            _run(project, caplog)
        message = str(caught.value)
        assert "state.members_schema" in message and made.mirror_schema in message
        assert "[SQL:" not in message
    finally:
        made.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        made.execute(f'DROP SCHEMA IF EXISTS "{made.mirror_schema}" CASCADE')
