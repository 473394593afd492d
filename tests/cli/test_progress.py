"""Progress: every stage's bar completes when its stage ends, and with no terminal a long run
writes a line every few seconds to the log (JSON with JSON logs), never one per row."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from cli.cli_support import Cli
from rich.console import Console
from rich.progress import Progress
from support.project import Project, profile

from dotsync.cli.progress import ProgressLog, StageBars
from dotsync.emulator import EmulatorSettings, RunningEmulator, run_emulator

ROWS = 300
IMPORT_RATE = 300.0  # contacts a second: the import takes about a second


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    """Slow imports, so that a run lasts long enough to report progress while it waits."""
    with run_emulator(EmulatorSettings(import_rate=IMPORT_RATE)) as running:
        yield running


def test_a_stage_bar_completes_when_the_next_stage_starts() -> None:
    progress = Progress(console=Console(file=io.StringIO()))
    bars = StageBars(progress)
    bars.update("connect", 0, 1)
    bars.update("read", 0, 1)
    bars.update("validate", 0, 250)
    finished = {t.description: t.finished for t in progress.tasks}
    assert finished == {"Connecting": True, "Reading segments": True, "Validating": False}
    bars.update("validate", 250, 250)
    bars.update("send", 0, 0)  # nothing to send: a stage without a total completes too
    bars.update("remove", 0, 3)
    assert [t.finished for t in progress.tasks] == [True, True, True, True, False]


def test_the_runner_reports_each_stage_done(project: Project) -> None:
    project.write_profiles([profile(i) for i in range(5)])
    project.write_config()
    seen: list[tuple[str, int, int]] = []
    project.run(progress=lambda stage, done, total: seen.append((stage, done, total)))
    for stage in ("connect", "read", "validate", "send"):
        last = [(done, total) for s, done, total in seen if s == stage][-1]
        assert last[0] == last[1] and last[1] > 0, (stage, seen)
    assert ("validate", 5, 5) in seen


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_log_lines_say_where_the_run_stands() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("dotsync.test.progress")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    clock = _Clock()
    try:
        ticker = ProgressLog(5.0, export="news", clock=clock, logger=logger)
        ticker.write()  # nothing reported yet: nothing written
        ticker.update("validate", 0, 250_000)
        ticker.update("validate", 250_000, 250_000)
        ticker.update("send", 60_000, 250_000)
        clock.now += 12
        ticker.write()
        ticker.update("connect", 1, 1)
        ticker.write()
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue().splitlines() == [
        "export news: sending contacts 60,000/250,000 (24%), 12s",
        "export news: connecting done, 12s",
    ]


def test_without_a_terminal_a_long_run_logs_progress_every_few_seconds(
    cli: Cli, project: Project
) -> None:
    project.write_profiles([profile(i) for i in range(ROWS)])
    project.write_config()
    every = 0.25
    env = {"DOTSYNC_PROGRESS_SECONDS": str(every)}

    text = cli.run("export", "news", env=env)  # stderr is a pipe: no terminal
    assert text.code == 0, text.text
    lines = [line for line in text.stderr.splitlines() if "dotsync.progress" in line]
    assert lines, text.stderr
    assert any("sending contacts" in line for line in lines), lines
    assert "export news" in lines[0]

    as_json = cli.run("export", "news", "--full", "--log-format", "json", env=env)
    assert as_json.code == 0, as_json.text
    records = [json.loads(line) for line in as_json.stderr.splitlines()]
    progress = [r for r in records if r.get("event") == "progress"]
    assert progress, as_json.stderr
    assert {r["export"] for r in progress} == {"news"}
    assert {"stage", "done", "total", "elapsed_seconds"} <= set(progress[0])
    # One line per interval, not per row: the run lasted a few seconds at most.
    [summary] = [r for r in records if r.get("event") == "run_summary"]
    duration = float(summary["duration_seconds"])
    assert len(progress) <= duration / every + 2 < ROWS
