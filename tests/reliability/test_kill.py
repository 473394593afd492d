"""The real ``dotsync export`` process killed with SIGKILL, then run again until it succeeds: the
address book ends exactly equal to the segment, nothing lost, nothing doubled, state consistent.

- random kill points: seeded delays over the whole length of an initial export and of a refresh
  with changes, leavers, changed e-mails and arrivals (the emulator imports slowly, so imports
  are in flight); 6 seeds by default, 24 with DOTSYNC_FULL_MATRIX=1;
- kill at each checkpoint a run writes (watched in its state from outside), so every one of them
  is hit whatever the timing of the machine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reliability.conftest import FULL_MATRIX
from reliability.harness import SURVIVED, EmulatorProcess
from reliability.kill import CHECKPOINTS, Timing, checkpoint_kill, kill_seed

SEEDS = range(24) if FULL_MATRIX else range(6)
CI_CHECKPOINTS = ("import committed", "removal submitted")


@pytest.mark.parametrize("seed", SEEDS)
def test_killed_anywhere_then_rerun_converges(
    emulator_process: EmulatorProcess, kill_timing: Timing, work_dir: Path, seed: int
) -> None:
    outcome = kill_seed(emulator_process, work_dir, seed, kill_timing)
    SURVIVED.add(outcome)
    assert outcome.runs >= 4  # two phases, each killed at least once and rerun


@pytest.mark.parametrize("checkpoint", CHECKPOINTS if FULL_MATRIX else CI_CHECKPOINTS)
def test_killed_at_each_checkpoint_then_rerun_converges(
    emulator_process: EmulatorProcess, work_dir: Path, checkpoint: str
) -> None:
    outcome = checkpoint_kill(emulator_process, work_dir, checkpoint)
    SURVIVED.add(outcome)
    assert outcome.runs >= 2
