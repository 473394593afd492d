"""The schema version of the state and of the DuckDB member files, and their upgrades."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from dotsync.errors import ConfigError
from dotsync.state import StateStore
from dotsync.state.members import MEMBER_FILE_VERSION, member_file_version
from dotsync.state.migrate import (
    ZERO_ONE_REVISION,
    current_revision,
    head_revision,
    upgrade_schema,
)
from dotsync.state.schema import metadata
from dotsync.state.store import open_engine
from state.pg_schema import BACKENDS, state_url
from state.zero_one import write_zero_one_state, zero_one_member_file, zero_one_metadata

MEMBERS = [("k1", 11, "h1", "d1"), ("k2", 12, "h2", "d2"), ("00123", 13, "h3", "d3")]


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path, pg_url: str) -> Iterator[str]:
    with state_url(request.param, tmp_path, pg_url) as value:
        yield value


def _revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return current_revision(conn)
    finally:
        engine.dispose()


def _members(store: StateStore, book_id: int = 7) -> list[tuple[str, int, str, str]]:
    duck = duckdb.connect()
    store.members.register(duck, "news", book_id)
    rows = duck.execute(
        "select key, contact_id, email_hash, digest from state_members order by key"
    ).fetchall()
    store.members.close()
    return [(str(k), int(c), str(h), str(d)) for k, c, h, d in rows]


def test_a_new_state_is_built_by_the_revisions_and_matches_schema_py(url: str) -> None:
    with StateStore(url) as store:
        with store.engine.connect() as conn:
            assert current_revision(conn) == head_revision()
            # the revisions and the tables the code queries describe the same schema
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        assert store.list_runs() == []


def test_revision_0001_is_the_0_1_schema(url: str) -> None:
    """A 0.1 state is stamped 0001 without running it: 0001 must build exactly what 0.1 built."""
    engine = open_engine(url)
    try:
        upgrade_schema(engine, ZERO_ONE_REVISION)
        with engine.connect() as conn:
            assert current_revision(conn) == ZERO_ONE_REVISION
            assert compare_metadata(MigrationContext.configure(conn), zero_one_metadata) == []
    finally:
        engine.dispose()


def test_a_0_1_state_is_stamped_then_upgraded_with_its_data_intact(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    run_id = write_zero_one_state(url, MEMBERS)
    assert _revision(url) is None  # 0.1 kept no version
    with caplog.at_level(logging.INFO, "dotsync.state.migrate"), StateStore(url) as store:
        assert caplog.messages == [
            f"state schema upgraded from revision 0001 (dotsync 0.1) to {head_revision()}"
        ]
        assert [(r.run_id, r.status.value, r.counts.sent) for r in store.list_runs()] == [
            (run_id, "succeeded", 3)
        ]
        assert _members(store) == sorted(MEMBERS)
        assert store.pending_imports("news", 7) == []
        assert store.members.count("news") == 3
    assert _revision(url) == head_revision()
    if url.startswith("sqlite:///"):
        with duckdb.connect(str(zero_one_member_file(url, "news"))) as duck:
            row = duck.execute("select value from meta where name = 'schema_version'").fetchone()
            assert row == (str(MEMBER_FILE_VERSION),)
    with StateStore(url) as store:  # opening again changes nothing
        assert _members(store) == sorted(MEMBERS)
        assert len(store.list_runs()) == 1


def test_a_state_of_a_newer_dotsync_is_refused_with_a_clear_message(url: str) -> None:
    StateStore(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("update alembic_version set version_num = '9999'"))
    engine.dispose()
    with pytest.raises(
        ConfigError, match=r"state.url: .*revision 9999, written by a newer dotsync"
    ):
        StateStore(url)


def test_a_new_member_file_records_its_version(tmp_path: Path) -> None:
    with StateStore(f"sqlite:///{tmp_path / 'state.sqlite'}") as store:
        store.members.register(duckdb.connect(), "news", 7)
        store.members.close()
    with duckdb.connect(str(tmp_path / "members" / "news.duckdb")) as duck:
        assert member_file_version(duck, "news") == MEMBER_FILE_VERSION


def test_a_member_file_of_a_newer_dotsync_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    with StateStore(url) as store:
        store.members.register(duckdb.connect(), "news", 7)
        store.members.close()
    path = tmp_path / "members" / "news.duckdb"
    with duckdb.connect(str(path)) as duck:
        duck.execute("update meta set value = '99' where name = 'schema_version'")
    with StateStore(url) as store, pytest.raises(ConfigError, match=r"at version 99, .*newer"):
        store.members.register(duckdb.connect(), "news", 7)
    with StateStore(url) as store, pytest.raises(ConfigError):  # refused again, not "in use"
        store.members.count("news")
