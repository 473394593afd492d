"""``[source] updated_at``: a refresh reads again only the rows whose change marker moved, while
segment membership is still computed in full. End to end against the emulator over HTTP, with a
CSV source (membership from a file that changes while the profile rows do not) and with a
PostgreSQL source (membership from another table of the database).

"Not read again" shows from outside: a row whose values change while its marker does not keeps
what DotDigital holds (the contract of the option), until a run with ``--full``."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from support.pg import scratch_schema
from support.project import PASSWORD_ENV, Project

from dotsync.config import load_config
from dotsync.errors import ConfigError
from dotsync.result import RunResult
from dotsync.runner import run_export

COLUMNS = ["customer_id", "email", "first_name", "updated_at"]


def _rows(*changes: tuple[int, str, str]) -> list[dict[str, Any]]:
    """Five profiles, marker 2026-01-01; ``changes``: (index, first name, marker)."""
    rows = [
        {
            "customer_id": f"C{i}",
            "email": f"person{i}@example.com",
            "first_name": f"Ann{i}",
            "updated_at": "2026-01-01 10:00:00",
        }
        for i in range(5)
    ]
    for index, name, marker in changes:
        rows[index].update(first_name=name, updated_at=marker)
    return rows


def _write_csv(path: Path, header: list[str], rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


def _write_members(path: Path, keys: tuple[str, ...]) -> None:
    _write_csv(path, ["segment", "key"], [{"segment": "chosen", "key": k} for k in keys])


def _config(project: Project, source: str, segment: str) -> None:
    project.config_path.write_text(
        f"""
{source}
updated_at = "updated_at"
[segments.chosen]
{segment}
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
[exports.news.mapping]
email = "email"
first_name = "first_name"
""",
        encoding="utf-8",
    )


def _run(project: Project, *, full: bool = False) -> RunResult:
    return run_export(load_config(project.config_path), "news", full=full)


def _first_names(project: Project) -> dict[str, str]:
    return {
        email: str(contact["dataFields"].get("FIRSTNAME"))
        for email, contact in project.members().items()
    }


def test_a_csv_refresh_reads_only_moved_markers_and_sees_membership_change(
    project: Project,
) -> None:
    folder = project.folder
    _write_csv(folder / "profiles.csv", COLUMNS, _rows())
    _write_members(folder / "chosen.csv", ("C0", "C1", "C2"))
    _config(
        project,
        '[source]\npath = "profiles.csv"\nkey = "customer_id"',
        'membership = { path = "chosen.csv" }',
    )
    first = _run(project)
    assert first.counts.sent == 3

    # C0 changes without moving its marker (so it is not read), C1 with; C2 leaves the segment
    # and C3 enters it, their rows untouched: membership is not a property of the row.
    _write_csv(
        folder / "profiles.csv",
        COLUMNS,
        _rows((0, "Unseen", "2026-01-01 10:00:00"), (1, "Seen", "2026-02-01 09:00:00")),
    )
    _write_members(folder / "chosen.csv", ("C0", "C1", "C3"))
    second = _run(project)

    c = second.counts
    assert (c.entered, c.changed, c.left, c.unchanged, c.sent) == (1, 1, 1, 1, 2)
    assert c.profiles_in_segments == 3 and c.segment_sizes == {"chosen": 3}
    assert _first_names(project) == {
        "person0@example.com": "Ann0",  # not read: what DotDigital holds stays
        "person1@example.com": "Seen",
        "person3@example.com": "Ann3",
    }
    assert _run(project).counts.sent == 0  # C1's new marker was recorded with its values

    full = _run(project, full=True)  # --full reads every row
    assert full.counts.sent == 3
    assert _first_names(project)["person0@example.com"] == "Unseen"


def test_a_row_read_again_keeps_the_smallest_key_of_a_shared_e_mail(project: Project) -> None:
    folder = project.folder
    _write_csv(folder / "profiles.csv", COLUMNS, _rows())
    _config(
        project,
        '[source]\npath = "profiles.csv"\nkey = "customer_id"',
        "where = \"customer_id <> 'none'\"",
    )
    assert _run(project).counts.sent == 5
    # C4 takes C1's address (its marker moves); C1 is kept without being read: C1 stays.
    rows = _rows((4, "Ann4", "2026-03-01 00:00:00"))
    rows[4]["email"] = "person1@example.com"
    _write_csv(folder / "profiles.csv", COLUMNS, rows)

    second = _run(project)

    assert second.counts.rejected_by_reason == {"duplicate_email": 1}
    assert second.counts.sent == 0 and second.counts.left == 0
    assert "person4@example.com" in project.members()


@pytest.fixture
def schema(pg_url: str) -> Iterator[str]:
    with scratch_schema(pg_url, "dotsync_marker") as (name, engine):
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    f'CREATE TABLE "{name}".customers (customer_id text primary key, email text, '
                    "first_name text, updated_at timestamptz)"
                )
            )
            conn.execute(sa.text(f'CREATE TABLE "{name}".scores (customer_id text, score real)'))
        yield name


def _pg(pg_url: str, statement: str, rows: list[dict[str, Any]] | None = None) -> None:
    engine = sa.create_engine(pg_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(statement), rows or {})
    finally:
        engine.dispose()


def test_a_postgres_refresh_reads_only_moved_markers_and_sees_membership_change(
    project: Project, pg_url: str, schema: str
) -> None:
    _pg(
        pg_url,
        f'INSERT INTO "{schema}".customers VALUES (:customer_id, :email, :first_name, :updated_at)',
        _rows(),
    )
    _pg(
        pg_url,
        f'INSERT INTO "{schema}".scores VALUES (:k, :s)',
        [{"k": f"C{i}", "s": 0.9 if i < 3 else 0.1} for i in range(5)],
    )
    _config(
        project,
        f'[source]\nurl = "{pg_url}"\ntable = "{schema}.customers"\nkey = "customer_id"',
        f"sql = 'select customer_id from \"{schema}\".scores where score > 0.5'",
    )
    assert _run(project).counts.sent == 3

    _pg(pg_url, f"UPDATE \"{schema}\".customers SET first_name = 'Unseen' WHERE customer_id = 'C0'")
    _pg(
        pg_url,
        f"UPDATE \"{schema}\".customers SET first_name = 'Seen', updated_at = now() "
        "WHERE customer_id = 'C1'",
    )
    _pg(
        pg_url,
        f"UPDATE \"{schema}\".scores SET score = 1 - score WHERE customer_id IN ('C2', 'C3')",
    )
    second = _run(project)

    c = second.counts
    assert (c.entered, c.changed, c.left, c.unchanged, c.sent) == (1, 1, 1, 1, 2)
    assert _first_names(project) == {
        "person0@example.com": "Ann0",
        "person1@example.com": "Seen",
        "person3@example.com": "Ann3",
    }
    assert _run(project, full=True).counts.sent == 3
    assert _first_names(project)["person0@example.com"] == "Unseen"


def test_a_marker_naming_no_column_is_a_configuration_error(project: Project) -> None:
    _write_csv(project.folder / "profiles.csv", COLUMNS, _rows())
    _config(project, '[source]\npath = "profiles.csv"\nkey = "customer_id"', 'where = "true"')
    text = project.config_path.read_text().replace('"updated_at"', '"modified"', 1)
    project.config_path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        _run(project)
    assert caught.value.key == "source.updated_at"
    assert "no column 'modified'" in str(caught.value)
    assert "updated_at" in str(caught.value)  # the columns there are, the marker among them
    assert project.members() == {}  # nothing was sent


def test_a_key_of_two_rows_is_read_even_with_its_marker_still(project: Project) -> None:
    _write_csv(project.folder / "profiles.csv", COLUMNS, _rows())
    _config(project, '[source]\npath = "profiles.csv"\nkey = "customer_id"', 'where = "true"')
    assert _run(project).counts.sent == 5
    # A second row with C2's key and marker: which row is the member cannot be told, so both
    # are read and rejected (duplicate_key), and C2's contact stays, as without a marker.
    rows = _rows()
    rows.append({**rows[2], "first_name": "Other"})
    _write_csv(project.folder / "profiles.csv", COLUMNS, rows)

    second = _run(project)

    assert second.counts.rejected_by_reason == {"duplicate_key": 2}
    assert (second.counts.sent, second.counts.left, second.counts.unchanged) == (0, 0, 4)
    assert "person2@example.com" in project.members()


def test_an_unreadable_row_is_rejected_with_a_marker_too(project: Project) -> None:
    path = project.folder / "profiles.csv"
    _write_csv(path, COLUMNS, _rows())
    # Not UTF-8 (Latin-1's e-acute); LF line ends, so that the row's key is told with it.
    raw = path.read_bytes().replace(b"Ann3", b"Ann\xe93").replace(b"\r\n", b"\n")
    path.write_bytes(raw)
    _config(project, '[source]\npath = "profiles.csv"\nkey = "customer_id"', 'where = "true"')

    first = _run(project)

    assert first.counts.rejected_by_reason == {"unreadable_row": 1}
    assert first.counts.sent == 4
    second = _run(project)  # the others kept unread, the unreadable one reported again
    assert second.counts.rejected_by_reason == {"unreadable_row": 1}
    assert (second.counts.sent, second.counts.unchanged, second.counts.left) == (0, 4, 0)
