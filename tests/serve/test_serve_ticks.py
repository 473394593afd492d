"""The shared schedule of several workers (``serve/workers.py``) on the real PostgreSQL server: a
tick is claimed by one worker, a dead worker's tick is taken over by one other, a tick given back
is free at once, and only the holder settles it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from state.pg_schema import state_url

from dotsync.serve.workers import SharedTicks, Tick

TICK = Tick("e01", datetime(2026, 12, 1, 6, 0, tzinfo=UTC))


@pytest.fixture
def url(tmp_path: Path, pg_url: str) -> Iterator[str]:
    with state_url("postgresql", tmp_path, pg_url) as value:
        yield value


def test_one_claim_wins_and_a_dead_workers_tick_is_taken_over_once(url: str) -> None:
    one = SharedTicks(url, lease_seconds=1.0, worker="h1:1:a")
    two = SharedTicks(url, lease_seconds=30.0, worker="h2:2:b")
    three = SharedTicks(url, lease_seconds=30.0, worker="h3:3:c")
    try:
        for worker in (one, two, three):
            worker.heartbeat([])
        assert one.claim(TICK) is True
        assert two.claim(TICK) is False  # the key: one worker per tick
        assert two.last_ticks() == {"e01": TICK.at}
        assert two.orphans() == []  # its worker is alive
        one.heartbeat(["e01"])
        assert [w.running for w in two.workers() if w.worker == one.worker] == [["e01"]]
        time.sleep(1.5)  # one's heartbeat passes: as if it was killed
        assert two.orphans() == [TICK]
        assert {w.worker for w in two.workers()} == {two.worker, three.worker}
        assert two.take_over(TICK) is True
        assert three.take_over(TICK) is False  # compare-and-set: one taker
        one.finish(TICK, "succeeded")  # the dead holder comes back: no longer its tick
        assert two.orphans() == []
        two.give_back(TICK)  # e.g. its account busy elsewhere: free at once
        assert three.orphans() == [TICK]
        assert three.take_over(TICK) is True
        three.finish(TICK, "succeeded", 42)
        assert three.orphans() == []
        with three.engine.connect() as conn:
            row = conn.exec_driver_sql(
                "select status, run_status, run_id, attempts, workers from serve_ticks"
            ).one()
        assert tuple(row) == ("done", "succeeded", 42, 3, "h1:1:a h2:2:b h3:3:c")
    finally:
        for worker in (one, two, three):
            worker.close()
