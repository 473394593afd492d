"""Attaching a state DuckDB file that another process holds is a "run in progress" refusal."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from dotsync.errors import ExitCode, RunInProgressError
from dotsync.state.duckfiles import attach_or_busy


@pytest.fixture
def held_file(tmp_path: Path) -> Iterator[Path]:
    """A DuckDB file opened for writing by another process for as long as the test runs."""
    path = tmp_path / "held.duckdb"
    code = (
        "import duckdb, sys, time\n"
        f"c = duckdb.connect({str(path)!r}); c.execute('create table t (x int)')\n"
        "print('ready', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        yield path
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("read_only", [False, True])
def test_a_file_held_elsewhere_is_a_run_in_progress(held_file: Path, read_only: bool) -> None:
    duck = duckdb.connect()
    with pytest.raises(RunInProgressError) as caught:
        what = "the ledger of address book 12"
        attach_or_busy(duck, held_file, "other", what, read_only=read_only)
    assert str(caught.value).startswith("the ledger of address book 12 is in use by a run")
    assert caught.value.exit_code == ExitCode.BUSY
    assert caught.value.detail  # DuckDB's own first line, for whoever investigates


def test_a_free_file_is_attached_under_its_alias(tmp_path: Path) -> None:
    path = tmp_path / "it's free.duckdb"  # a quote in the path is quoted, not SQL
    duck = duckdb.connect()
    attach_or_busy(duck, path, "mine", "the member state of export 'x'")
    duck.execute("create table mine.t as select 1 as x")
    duck.execute("detach mine")
    attach_or_busy(duck, path, "again", "the member state of export 'x'", read_only=True)
    assert duck.execute("select x from again.t").fetchall() == [(1,)]
