"""End to end with PostgreSQL: profiles in a real table (a schema of the test's own, dropped
after), segments as ``where``, ``sql`` and a membership table computed inside the database,
exported to the emulator over HTTP; the state itself in PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from support.pg import scratch_schema
from support.project import PASSWORD_ENV, Project

from dotsync.config import load_config
from dotsync.result import RunResult
from dotsync.runner import run_export

CUSTOMERS = [  # id, email, first name, lifetime value, tier
    (1, "ann@example.com", "Ann", 1500, "gold"),
    (2, "bob@example.com", "Bob", 200, "silver"),
    (3, "cy@example.com", "Cy", 5000, "gold"),
    (4, "di@example.com", "Di", 10, "silver"),
    (5, "ed@example.com", "Ed", 1200, None),
    (6, "not-an-email", "Flo", 3000, "gold"),
    (7, "gus@example.com", "Gus", 50, "silver"),
]
CHURN = [(2, 0.9), (4, 0.95), (7, 0.1)]
MEMBERSHIPS = [("vip", "7"), ("vip", "99"), ("other", "4")]


@pytest.fixture
def schema(pg_url: str) -> Iterator[str]:
    with scratch_schema(pg_url, "dotsync_e2e") as (name, engine):
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    f'CREATE TABLE "{name}".customers (customer_id integer primary key, '
                    "email text, first_name text, lifetime_value numeric, tier text)"
                )
            )
            conn.execute(
                sa.text(f'INSERT INTO "{name}".customers VALUES (:i, :e, :f, :v, :t)'),
                [dict(zip("iefvt", row, strict=True)) for row in CUSTOMERS],
            )
            conn.execute(sa.text(f'CREATE TABLE "{name}".churn (customer_id integer, score real)'))
            conn.execute(
                sa.text(f'INSERT INTO "{name}".churn VALUES (:i, :s)'),
                [{"i": i, "s": s} for i, s in CHURN],
            )
            conn.execute(sa.text(f'CREATE TABLE "{name}".memberships (segment text, key text)'))
            conn.execute(
                sa.text(f'INSERT INTO "{name}".memberships VALUES (:s, :k)'),
                [{"s": s, "k": k} for s, k in MEMBERSHIPS],
            )
        yield name


def _configure(project: Project, pg_url: str, schema: str, *, state_in_postgres: bool) -> None:
    state_url = (
        f"{pg_url}?options=-csearch_path%3D{schema}"
        if state_in_postgres
        else "sqlite:///.dotsync/state.sqlite"
    )
    project.config_path.write_text(
        f"""
[state]
url = "{state_url}"
[source]
url = "{pg_url}"
table = "{schema}.customers"
key = "customer_id"
[segments.valuable]
where = "lifetime_value > 1000"
[segments.churn_risk]
sql = 'select customer_id from "{schema}".churn where score > 0.8'
[segments.vip]
membership = {{ table = "{schema}.memberships" }}
[connections.dd]
api_user = "{project.api_user}"
password_env = "{PASSWORD_ENV}"
address_book_id = {project.book_id}
privacy_acknowledged = true
api_url = "{project.emulator.base_url}"
[exports.news]
connection = "dd"
segments = ["valuable", "churn_risk", "vip"]
create_missing_data_fields = true
[exports.news.mapping]
email = "email"
first_name = "first_name"
data_fields = {{ TIER = "tier" }}
""",
        encoding="utf-8",
    )


def _run(project: Project) -> RunResult:
    return run_export(load_config(project.config_path), "news")


def _sql(pg_url: str, statement: str, **params: Any) -> list[Any]:
    engine = sa.create_engine(pg_url)
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(statement), params)
            return list(result.fetchall()) if result.returns_rows else []
    finally:
        engine.dispose()


@pytest.mark.parametrize("state_in_postgres", [False, True], ids=["state-sqlite", "state-postgres"])
def test_postgres_source_to_the_emulator(
    project: Project, pg_url: str, schema: str, state_in_postgres: bool
) -> None:
    _configure(project, pg_url, schema, state_in_postgres=state_in_postgres)

    first = _run(project)

    c = first.counts
    # valuable: 1, 3, 5, 6; churn_risk: 2, 4; vip: 7 and 99, a key with no profile, which is
    # rejected for its missing e-mail, as 6 is for its invalid one.
    assert c.segment_sizes == {"valuable": 4, "churn_risk": 2, "vip": 2}
    assert (c.profiles_in_segments, c.valid, c.rejected, c.sent) == (8, 6, 2, 6)
    assert c.rejected_by_reason == {"missing_email": 1, "invalid_email": 1}
    members = project.members()
    assert set(members) == {
        "ann@example.com",
        "bob@example.com",
        "cy@example.com",
        "di@example.com",
        "ed@example.com",
        "gus@example.com",
    }
    assert members["ann@example.com"]["dataFields"]["TIER"] == "gold"
    assert members["ed@example.com"]["dataFields"].get("TIER") is None  # NULL: not sent

    if state_in_postgres:  # runs and members in the schema, no state file beside the config
        tables = {
            t
            for (t,) in _sql(
                pg_url,
                "select table_name from information_schema.tables where table_schema = :s",
                s=schema,
            )
        }
        assert {"runs", "members", "locks", "imports"} <= tables
        assert _sql(pg_url, f'select count(*) from "{schema}".runs')[0][0] == 1
        stored = _sql(pg_url, f'select * from "{schema}".members')
        assert len(stored) == 6 and "ann@example.com" not in repr(stored)
        assert not list(project.folder.glob("**/*.sqlite"))

    # Changes in the database: one new value, one leaver, one arrival.
    _sql(pg_url, f"update \"{schema}\".customers set first_name = 'Anne' where customer_id = 1")
    _sql(pg_url, f'delete from "{schema}".churn where customer_id = 4')
    _sql(
        pg_url,
        f"insert into \"{schema}\".customers values (8, 'hal@example.com', 'Hal', 9000, 'gold')",
    )
    project.emulator.reset_calls()

    refresh = _run(project)

    r = refresh.counts
    assert (r.entered, r.changed, r.unchanged, r.left) == (1, 1, 4, 1)
    assert (r.sent, r.removed, r.imports) == (2, 1, 1)
    members = project.members()
    assert members["ann@example.com"]["dataFields"]["FIRSTNAME"] == "Anne"
    assert "di@example.com" not in members and "hal@example.com" in members
    if state_in_postgres:
        assert _sql(pg_url, f'select count(*) from "{schema}".runs')[0][0] == 2

    quiet = _run(project)
    assert (quiet.counts.sent, quiet.counts.removed) == (0, 0)
