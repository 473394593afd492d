"""Fixtures of the reliability suite and its summary of what was survived.

The CI sample runs by default; the full matrix (20+ kill seeds, every checkpoint, every storm with
several seeds) runs with ``DOTSYNC_FULL_MATRIX=1`` or through ``benchmarks/reliability.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.project import PASSWORD_ENV

from reliability.harness import SURVIVED, EmulatorProcess
from reliability.kill import IMPORT_RATE, Timing, calibrate

# Read at import, before the suite's autouse fixture hides DOTSYNC_* variables from tests.
FULL_MATRIX = os.environ.get("DOTSYNC_FULL_MATRIX") == "1"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test of this folder is ``slow``: real processes killed and restarted, several
    minutes in all. CI runs them; ``pytest -m 'not slow'`` leaves them out of a quick loop."""
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulator's demo password, for runs made in this process."""
    monkeypatch.setenv(PASSWORD_ENV, "demo")


@pytest.fixture(scope="module")
def emulator_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """``dotsync emulator --state FILE --import-rate R`` as its own process, for this module."""
    folder = tmp_path_factory.mktemp("emulator-process")
    emulator = EmulatorProcess(folder / "emulator.sqlite", import_rate=IMPORT_RATE).start()
    try:
        yield emulator
    finally:
        emulator.close()


@pytest.fixture(scope="module")
def kill_timing(
    emulator_process: EmulatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> Timing:
    """How long uninterrupted runs take here, so kill delays span a whole run."""
    return calibrate(emulator_process, tmp_path_factory.mktemp("calibration"))


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    return tmp_path


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not SURVIVED.outcomes:
        return
    terminalreporter.section("reliability: what dotsync survived")
    for line in SURVIVED.lines():
        terminalreporter.write_line(line)
