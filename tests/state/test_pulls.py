"""What ``dotsync pull`` keeps in the state, on SQLite and on PostgreSQL: the feeds' cursors, the
pulls and the last of each export, the keys of members DotDigital refused; all forgotten with the
export."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from dotsync.state import FeedCursor, StateStore
from state.pg_schema import BACKENDS, state_url

T0 = datetime(2026, 2, 1, 8, 30, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path, pg_url: str) -> Iterator[StateStore]:
    with state_url(request.param, tmp_path, pg_url) as url, StateStore(url) as opened:
        yield opened


def test_cursors_are_kept_per_export_account_feed_and_book(store: StateStore) -> None:
    cut = FeedCursor(T0, pass_since=T0 - timedelta(days=1), pass_started=T0, skip=1900)
    marked = FeedCursor(T0, pass_since=T0, pass_started=T0, marker="abc")
    store.pulls.save_pull("news", "42", {("account_suppressions", 0): cut})
    store.pulls.save_pull("news", "42", {("account_changes", 0): marked})
    store.pulls.save_pull("other", "42", {("account_suppressions", 0): FeedCursor(T0)})

    assert store.pulls.cursors("news", "42") == {
        ("account_suppressions", 0): cut,
        ("account_changes", 0): marked,
    }
    done = FeedCursor(T0 + timedelta(hours=1))
    store.pulls.save_pull("news", "42", {("account_suppressions", 0): done})
    assert store.pulls.cursors("news", "42")[("account_suppressions", 0)] == done
    assert store.pulls.cursors("news", "43") == {}  # another account starts afresh


def test_the_last_finished_pull_of_each_export(store: StateStore) -> None:
    first, _ = store.pulls.start("news", 7)
    store.pulls.finish(first, "succeeded", account="42", report='{"n": 1}')
    failed, _ = store.pulls.start("news", 7)
    store.pulls.finish(failed, "failed", account="42", report=None, error="DotDigital was down")
    store.pulls.start("news", 7)  # still running: not a last pull
    other, _ = store.pulls.start("other", 8)
    store.pulls.finish(other, "skipped", account=None, report='{"n": 2}')

    last = store.pulls.last_pulls()

    assert {e: (r.pull_id, r.status, r.error) for e, r in last.items()} == {
        "news": (failed, "failed", "DotDigital was down"),
        "other": (other, "skipped", None),
    }
    assert last["news"].started_at.tzinfo is not None
    assert [p.pull_id for p in store.pulls.list_pulls("news")][1:] == [failed, first]


def test_refused_and_pulled_keys_the_latest_wins_and_remove_forgets_everything(
    store: StateStore,
) -> None:
    store.pulls.remember_refused("news", 7, 1, [("C1", "h1"), ("C2", "h2")])
    store.pulls.remember_refused("news", 7, 2, [("C1", "h1-new")])
    store.pulls.remember_refused("news", 8, 2, [("C3", "h3")])  # another book
    duck = duckdb.connect()
    store.pulls.register_refused(duck, "news", 7)
    assert duck.execute("select key, email_hash from pull_refused order by key").fetchall() == [
        ("C1", "h1-new"),
        ("C2", "h2"),
    ]
    store.pulls.save_pull(
        "news",
        "42",
        {("book_unsubscribes", 7): FeedCursor(T0)},
        book_id=7,
        keys=[("C4", 44, "h4"), ("C5", None, "h5")],
    )
    store.pulls.save_pull("news", "42", {}, book_id=7, keys=[("C4", 45, "h4b")])  # latest wins
    store.pulls.register_pulled(duck, "news", 7)
    assert duck.execute("select * from pull_known order by key").fetchall() == [
        ("C4", 45, "h4b"),
        ("C5", None, "h5"),
    ]
    pull_id, _ = store.pulls.start("news", 7)
    store.pulls.finish(pull_id, "succeeded", account="42", report="{}")

    store.remove_export("news")

    store.pulls.register_refused(duck, "news", 7)
    store.pulls.register_pulled(duck, "news", 7)
    assert duck.execute("select count(*) from pull_refused").fetchone() == (0,)
    assert duck.execute("select count(*) from pull_known").fetchone() == (0,)
    assert store.pulls.cursors("news", "42") == {}
    assert store.pulls.last_pulls() == {}
    duck.close()


def test_the_first_run_of_an_export_is_where_a_first_pull_starts(store: StateStore) -> None:
    assert store.pulls.first_run_at("news") is None
    store.start_run("news", full=False)
    first = store.pulls.first_run_at("news")
    store.start_run("news", full=False)
    assert store.pulls.first_run_at("news") == first
    assert first is not None and first.tzinfo is not None
