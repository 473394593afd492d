"""The warehouse benchmark's own parts: the relay counts what PostgreSQL sends on the wire, and a
tiny run of both paths ends with both books exact and the warehouse reading less."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
import warehouse
from bench import kinds
from bench.wire import CountingRelay


def test_the_relay_counts_the_bytes_the_database_sends() -> None:
    base = sa.make_url(kinds.PG_URL)
    with CountingRelay((base.host or "127.0.0.1", base.port or 5432)) as relay:
        engine = sa.create_engine(base.set(host="127.0.0.1", port=relay.port))
        try:
            with engine.connect() as conn:
                relay.reset()
                value = conn.execute(sa.text("SELECT repeat('x', 200000)")).scalar_one()
        finally:
            engine.dispose()
    assert len(value) == 200_000
    assert 200_000 <= relay.read < 210_000
    assert relay.written < 1_000


def test_a_small_run_of_both_paths(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    assert warehouse.main(["--profiles", "2000", "--out", str(out), "--work", str(tmp_path)]) == 0
    runs = json.loads(out.read_text())["runs"]
    by = {(r["path"], r["scenario"]): r for r in runs if r["scenario"] != "unchanged"}
    for path in ("today", "warehouse"):
        assert by[(path, "1% changed")]["membership"]["exact"]
    unchanged = [r for r in runs if r["scenario"] == "unchanged"]
    read = {r["path"]: r["db_read_bytes"] for r in unchanged}
    assert read["warehouse"] < read["today"]
