"""Several processes opening a new state at the same moment: each one ends up with the schema, none
crashes (0.1 raced on CREATE TABLE: ``table members already exists`` on SQLite,
``UniqueViolation ... pg_type_typname_nsp_index`` on PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from state.pg_schema import BACKENDS, state_url
from state.zero_one import write_zero_one_state

PROCESSES = 8

# Each process imports everything first, says it is ready, then waits for the same "go" file so
# that the first statements against the state are sent at the same moment.
_OPENER = """
import sys, time
from pathlib import Path
from dotsync.errors import RunInProgressError
from dotsync.state import StateStore
url, ready, go = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
ready.touch()
while not go.exists():
    time.sleep(0.001)
with StateStore(url) as store:
    print(len(store.list_runs()))
    try:  # every process wants the same export: one at a time, the others refused cleanly
        store.acquire_locks(["export:news", "account:x"], "news")
    except RunInProgressError as exc:
        print("refused:", exc)
    else:
        print("took")
        time.sleep(1)
        store.release_locks(["export:news", "account:x"])
"""


@pytest.fixture(params=BACKENDS)
def new_state_url(request: pytest.FixtureRequest, tmp_path: Path, pg_url: str) -> Iterator[str]:
    with state_url(request.param, tmp_path, pg_url) as url:
        yield url


def _open_together(url: str, folder: Path) -> list[subprocess.CompletedProcess[str]]:
    go = folder / "go"
    procs = []
    for i in range(PROCESSES):
        cmd = [sys.executable, "-c", _OPENER, url, str(folder / f"ready-{i}"), str(go)]
        procs.append(
            subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    deadline = time.monotonic() + 60
    while not all((folder / f"ready-{i}").exists() for i in range(PROCESSES)):
        assert time.monotonic() < deadline, "the processes never got ready"
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        time.sleep(0.01)
    go.touch()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return results


def test_processes_opening_a_new_state_together_all_succeed(
    new_state_url: str, tmp_path: Path
) -> None:
    results = _open_together(new_state_url, tmp_path)
    assert [(r.returncode, r.stderr) for r in results] == [(0, "")] * PROCESSES
    assert [r.stdout.splitlines()[0] for r in results] == ["0"] * PROCESSES
    _assert_one_lock_holder_at_a_time([r.stdout.splitlines()[1] for r in results])


def _assert_one_lock_holder_at_a_time(outcomes: list[str]) -> None:
    assert "took" in outcomes
    for refusal in (o for o in outcomes if o != "took"):
        # the holder has not recorded a run: the refusal says it is starting (0.1: "run None")
        assert refusal.startswith("refused: ") and "is starting" in refusal, refusal
        assert "None" not in refusal


def test_processes_opening_a_0_1_state_together_upgrade_it_once(
    new_state_url: str, tmp_path: Path
) -> None:
    write_zero_one_state(new_state_url, [("k1", 11, "h1", "d1")])
    results = _open_together(new_state_url, tmp_path)
    assert [(r.returncode, r.stderr) for r in results] == [(0, "")] * PROCESSES
    assert [r.stdout.splitlines()[0] for r in results] == ["1"] * PROCESSES  # the 0.1 run
    _assert_one_lock_holder_at_a_time([r.stdout.splitlines()[1] for r in results])
