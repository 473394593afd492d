"""Fault storms from the emulator's fault injection (in-process emulator): 429 storms with
``Retry-After`` and ``X-RateLimit-Reset``, DotDigital's tiered limits with a tiny budget, bursts of
500/502/503, dropped connections, replies slower than a short client timeout, imports ending
``Failed`` or ``RejectedByWatchdog``. After the retries and, where needed, another run (exit code
5 in between), the book equals the segment: nothing lost, nothing doubled.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.project import profile

import dotsync.emulator.app
from dotsync.emulator import RunningEmulator
from dotsync.emulator.ratelimit import RateLimiter
from dotsync.emulator.testing import run_emulator
from dotsync.errors import ExitCode, ImportFailedError
from reliability.conftest import FULL_MATRIX
from reliability.harness import SURVIVED, new_project
from reliability.storms import STORMS, fault_storm, tiered_clock, tiered_storm

STORM_SEEDS = range(5) if FULL_MATRIX else range(1)


@pytest.mark.parametrize("seed", STORM_SEEDS)
@pytest.mark.parametrize("storm", list(STORMS))
def test_a_storm_is_survived(
    emulator: RunningEmulator, work_dir: Path, storm: str, seed: int
) -> None:
    outcome = fault_storm(emulator, work_dir, storm, STORMS[storm], seed=seed)
    SURVIVED.add(outcome)


@pytest.mark.long
def test_tiered_limits_with_a_tiny_budget(work_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = tiered_clock(seconds_left=4)
    monkeypatch.setattr(
        dotsync.emulator.app, "RateLimiter", lambda settings: RateLimiter(settings, clock=clock)
    )
    with run_emulator() as emulator:
        outcome = SURVIVED.add(tiered_storm(emulator, work_dir))
    assert outcome.faults["429 to dotsync"] > 0


def test_a_failed_import_fails_the_run_with_exit_5_and_the_next_run_completes(
    emulator: RunningEmulator, work_dir: Path
) -> None:
    project = new_project(emulator, work_dir / "failed-import")
    rows = [profile(i) for i in range(20)]
    project.write_profiles(rows)
    project.write_config()
    emulator.set_faults({"failed_imports": 1, "import_failure_status": "RejectedByWatchdog"})
    with pytest.raises(ImportFailedError) as caught:
        project.run()
    assert caught.value.exit_code is ExitCode.RETRY_LATER
    assert "RejectedByWatchdog" in str(caught.value)
    assert project.members() == {}  # nothing was confirmed, so nothing is marked as synced
    result = project.run()
    assert (result.counts.entered, result.counts.sent) == (20, 20)
    assert len(project.members()) == 20
