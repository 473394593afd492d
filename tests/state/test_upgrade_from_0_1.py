"""A state written by the real dotsync 0.1 (its code taken out of the repository's history and run
in a subprocess against the emulator), then used by this release: upgraded in place, its members
intact (nobody re-sent, nobody lost), and the next run right, the book read back over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from support.project import PASSWORD_ENV, Project, profile

from dotsync.config import load_config
from dotsync.emulator import RunningEmulator
from dotsync.result import RunStatus
from dotsync.state import StateStore
from dotsync.state.migrate import current_revision, head_revision
from state.pg_schema import BACKENDS, state_url
from state.zero_one import run_zero_one, zero_one_source


@pytest.fixture(params=BACKENDS)
def project(
    request: pytest.FixtureRequest,
    emulator: RunningEmulator,
    tmp_path: Path,
    pg_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Project]:
    user, password = emulator.credentials
    monkeypatch.setenv(PASSWORD_ENV, password)
    with emulator.client() as api:
        book = api.post("/v2/address-books", json={"name": "News"}).json()
    folder = tmp_path / "project"
    folder.mkdir()
    with state_url(request.param, tmp_path, pg_url) as url:
        yield Project(
            folder=folder,
            emulator=emulator,
            book_id=int(book["id"]),
            api_user=user,
            # SQLite: the default state beside the configuration, as most 0.1 users had it
            state_url=None if url.startswith("sqlite") else url,
        )


def _revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return current_revision(conn)
    finally:
        engine.dispose()


def test_a_state_written_by_0_1_is_upgraded_and_the_next_run_is_right(
    project: Project, tmp_path: Path
) -> None:
    src = zero_one_source(tmp_path / "zero_one")
    project.write_profiles([profile(i) for i in range(1, 6)])
    config = project.write_config()
    old = run_zero_one(src, "export", "news", "--config", str(project.config_path), cwd=tmp_path)
    assert old.returncode == 0, old.stderr
    assert set(project.members()) == {f"person{i}@example.com" for i in range(1, 6)}
    assert _revision(config.state.url) is None  # 0.1 kept no schema version

    # person1 leaves, person2's name changes, person6 enters
    project.write_profiles([profile(2, first_name="Renamed"), *(profile(i) for i in range(3, 7))])
    result = project.run()

    assert result.status is RunStatus.SUCCEEDED, result.error
    counts = result.counts
    assert (counts.entered, counts.changed, counts.unchanged, counts.left) == (1, 1, 3, 1)
    assert (counts.sent, counts.removed) == (2, 1)  # the 0.1 members were kept: no re-send
    book = project.members()
    assert set(book) == {f"person{i}@example.com" for i in range(2, 7)}
    assert _revision(config.state.url) == head_revision()
    with StateStore(load_config(project.config_path).state.url) as store:
        assert [r.status for r in store.list_runs("news")] == [RunStatus.SUCCEEDED] * 2
        assert store.members.count("news") == 5
