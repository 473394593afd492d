"""The emulator process stopped and started again mid-run on the same ``--state`` file: while an
import is in flight (it resumes after the restart), and while leavers are being removed. dotsync
retries through the outage (or fails with exit code 5 and the next run finishes); the book ends
exactly right. The SIGKILL variant shows the emulator's state file survives a crash too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reliability.conftest import FULL_MATRIX
from reliability.harness import SURVIVED, EmulatorProcess
from reliability.storms import restart_mid_run

CASES = [("import submitted", "SIGTERM")]
if FULL_MATRIX:
    CASES += [
        ("removal submitted", "SIGTERM"),
        ("import committed", "SIGTERM"),
        ("import submitted", "SIGKILL"),
        ("removal submitted", "SIGKILL"),
    ]


@pytest.mark.parametrize(("checkpoint", "sig"), CASES)
def test_emulator_restarted_mid_run(
    emulator_process: EmulatorProcess, work_dir: Path, checkpoint: str, sig: str
) -> None:
    outcome = restart_mid_run(emulator_process, work_dir, checkpoint, sig)
    SURVIVED.add(outcome)
