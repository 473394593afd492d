"""A project exported once to a fresh emulator, helpers to read what a pull wrote, and a DotDigital
client whose every reply is checked against DotDigital's OpenAPI documents."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from support.pg import scratch_schema
from support.project import PASSWORD_ENV, Project

from dotsync.emulator import RunningEmulator

Row = tuple[str, str, str]  # (status, reason, scope)


@pytest.fixture
def project(emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    user, password = emulator.credentials
    monkeypatch.setenv(PASSWORD_ENV, password)
    with emulator.client() as api:
        book = api.post("/v2/address-books", json={"name": "News"}).json()
    return Project(folder=tmp_path, emulator=emulator, book_id=int(book["id"]), api_user=user)


@pytest.fixture
def checked_http(checked_hooks: dict[str, list[Callable[..., Any]]]) -> Iterator[httpx.Client]:
    """For ``http_client=``: dotsync's client then validates every reply it reads."""
    with httpx.Client(event_hooks=checked_hooks) as client:
        yield client


def parquet_rows(path: Path) -> list[dict[str, Any]]:
    return pq.read_table(path).to_pylist() if path.exists() else []


def statuses(rows: list[dict[str, Any]]) -> dict[str, Row]:
    """key -> (status, reason, scope)."""
    return {r["key"]: (r["status"], r["reason"], r["scope"]) for r in rows}


def unsubscribe(project: Project, email: str, *, from_book: bool = False) -> None:
    """As the person would, through DotDigital's API: from the account, or from the book."""
    path = (
        f"/v2/address-books/{project.book_id}/contacts/unsubscribe"
        if from_book
        else "/v2/contacts/unsubscribe"
    )
    with project.emulator.client() as api:
        api.post(path, json={"email": email}).raise_for_status()


def resubscribe(project: Project, email: str, *, to_book: bool = False) -> None:
    path = (
        f"/v2/address-books/{project.book_id}/contacts/resubscribe-with-no-challenge"
        if to_book
        else "/v2/contacts/resubscribe-with-no-challenge"
    )
    with project.emulator.client() as api:
        api.post(path, json={"unsubscribedContact": {"email": email}}).raise_for_status()


@pytest.fixture
def pg_schema(pg_url: str) -> Iterator[str]:
    """A PostgreSQL schema of the test's own (dropped after): the source database's, the
    state's, or both."""
    with scratch_schema(pg_url, "dotsync_pull") as (schema, _):
        yield schema


def sql_source(project: Project, pg_url: str, schema: str, rows: list[dict[str, Any]]) -> None:
    """The profiles in ``schema.customers`` of PostgreSQL, the project's source; its state and
    its status table in the same schema."""
    engine = sa.create_engine(pg_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    f'CREATE TABLE IF NOT EXISTS "{schema}".customers (customer_id text, '
                    "email text, first_name text, last_name text, lifetime_value numeric, "
                    "tier text)"
                )
            )
            conn.execute(sa.text(f'DELETE FROM "{schema}".customers'))
            conn.execute(
                sa.text(
                    f'INSERT INTO "{schema}".customers VALUES (:customer_id, :email, '
                    ":first_name, :last_name, :lifetime_value, :tier)"
                ),
                rows,
            )
    finally:
        engine.dispose()
    project.source = {"url": pg_url, "table": f"{schema}.customers", "key": "customer_id"}
    project.state_url = f"{pg_url}?options=-csearch_path%3D{schema}"
