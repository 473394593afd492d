"""Shared fixtures. Emulator fixtures live in ``support/emulator_fixtures.py``, the OpenAPI checker
in ``support/openapi_check.py``; both are plugins loaded here."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

pytest_plugins = [
    "support.emulator_fixtures",
    "support.openapi_fixtures",
    "support.keyring_fixtures",
]

PG_URL = os.environ.get("DOTSYNC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``long`` run first. With ``-n``, workers take tests in collection order: a
    minute-long test collected late runs alone at the end while the other workers idle (CI's
    run measured a tail of such tests)."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)  # stable: else as is


@pytest.fixture(autouse=True)
def _clean_dotsync_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees DOTSYNC_* variables of the developer's shell."""
    for name in list(os.environ):
        if name.startswith("DOTSYNC_") and name != "DOTSYNC_TEST_PG_URL":
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A SQLAlchemy URL of the real PostgreSQL server (127.0.0.1:5432, trust auth, db ``test``)."""
    yield PG_URL
