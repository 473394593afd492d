"""``dotsync pull`` on a database source (PostgreSQL, its state there too), against the emulator:
the status table is created in the schema of the user's choice, filled with one row per key,
upserted (a second pull changes nothing), and a segment excluding them stops sending them."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from support.project import Project, profile

from dotsync.config import load_config
from dotsync.pull import pull_export
from pull.conftest import sql_source, unsubscribe


def _table(pg_url: str, schema: str) -> list[dict[str, Any]]:
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(f'SELECT * FROM "{schema}".dd_status ORDER BY key')
            ).mappings()
            return [dict(r) for r in rows]
    finally:
        engine.dispose()


def test_the_status_table_is_created_upserted_and_excludes_them(
    project: Project, pg_url: str, pg_schema: str
) -> None:
    rows = [profile(i) for i in range(6)]
    sql_source(project, pg_url, pg_schema, rows)
    project.extra_toml = f'[pull]\ntable = "dd_status"\nschema = "{pg_schema}_status"\n'
    project.write_config()
    project.run()
    unsubscribe(project, "person1@example.com")
    project.emulator.suppress(project.api_user, "person2@example.com", "HardBounced")
    config = load_config(project.config_path)
    status_schema = f"{pg_schema}_status"
    try:
        report = pull_export(config, "news")

        table = _table(pg_url, status_schema)
        assert [(r["key"], r["status"], r["reason"], r["scope"]) for r in table] == [
            ("C00001", "Unsubscribed", "Unsubscribed", "account"),
            ("C00002", "Suppressed", "HardBounced", "account"),
        ]
        assert report.destination.startswith(f"table {status_schema}.dd_status of postgresql")
        again = pull_export(config, "news")
        assert again.counts.rows_written == 0
        assert _table(pg_url, status_schema) == table  # pulled_at included: nothing rewritten

        project.extra_toml += f"""
[segments.reachable]
sql = '''select c.customer_id from "{pg_schema}".customers c where c.lifetime_value > 100
  and not exists (select 1 from "{status_schema}".dd_status s
                  where s.key = cast(c.customer_id as varchar) and s.status <> 'Subscribed')'''
"""
        project.write_config(segments=["reachable"])
        result = project.run()
        assert (result.counts.profiles_in_segments, result.counts.left) == (4, 2)
    finally:
        engine = sa.create_engine(pg_url)
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{status_schema}" CASCADE'))
        engine.dispose()
