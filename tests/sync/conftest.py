from __future__ import annotations

from pathlib import Path

import pytest
from support.project import PASSWORD_ENV, Project

from dotsync.emulator import RunningEmulator


@pytest.fixture
def project(emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    user, password = emulator.credentials
    monkeypatch.setenv(PASSWORD_ENV, password)
    with emulator.client() as api:
        book = api.post("/v2/address-books", json={"name": "News"}).json()
    return Project(folder=tmp_path, emulator=emulator, book_id=int(book["id"]), api_user=user)
