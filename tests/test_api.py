"""The Python API as an orchestrator calls it: paths as ``str`` or ``Path`` or a loaded Config, and
errors that say what to fix, like the commands' messages."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.project import PASSWORD_ENV, Project, profile

import dotsync
from dotsync.emulator import RunningEmulator


@pytest.fixture
def project(emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    user, password = emulator.credentials
    monkeypatch.setenv(PASSWORD_ENV, password)
    with emulator.client() as api:
        book = int(api.post("/v2/address-books", json={"name": "News"}).json()["id"])
    made = Project(folder=tmp_path, emulator=emulator, book_id=book, api_user=user)
    made.write_profiles([profile(i) for i in range(3)])
    made.write_config()
    return made


def test_a_config_is_a_str_a_path_or_a_loaded_config(project: Project) -> None:
    as_text = str(project.config_path)
    assert dotsync.load_config(as_text) == dotsync.load_config(project.config_path)
    assert dotsync.plan_export(as_text, "news").counts.entered == 3
    assert dotsync.run_export(as_text, "news").counts.sent == 3
    assert dotsync.run_export(project.config_path, "news").counts.unchanged == 3
    loaded = dotsync.load_config(as_text)
    assert dotsync.run_export(loaded, "news", full=True).counts.sent == 3


def test_a_missing_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(dotsync.ConfigError, match="configuration file not found"):
        dotsync.load_config(str(tmp_path / "absent.toml"))


def test_a_refused_password_names_the_connection(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    for call in (dotsync.run_export, dotsync.plan_export):
        with pytest.raises(dotsync.ConnectionCheckError) as caught:
            call(str(project.config_path), "news")
        message = str(caught.value)
        assert "connection 'dd' (Test account)" in message
        assert "`connections.dd.api_user`" in message and PASSWORD_ENV in message
        assert "not-the-password" not in message
