"""The kill scenario: the real ``dotsync export`` process SIGKILLed at random points of an initial
export and of a refresh with changes, leavers, new e-mails and arrivals, then run again until it
succeeds; the book and the state must end exactly right (``harness.assert_converged``).

Kill delays are drawn from ``random.Random(seed)`` over the whole length of an uninterrupted run of
the same phase (``calibrate``), so over the seeds kills land in process start-up, reading and
planning, with an import submitted and in flight, while committing, and while removing leavers.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from support.project import Project, profile

from reliability.harness import (
    EmulatorProcess,
    Outcome,
    new_project,
    run_cli,
)
from reliability.invariant import assert_converged, checkpoints_of, run_history

PROFILES = 240
# Contacts per second the emulator imports: slow enough that an initial import is in flight for
# about two seconds, so a fair share of kills land while DotDigital holds a submitted import.
IMPORT_RATE = 120.0
MAX_RERUNS = 4


@dataclass(frozen=True)
class Timing:
    """Seconds an uninterrupted ``dotsync export`` process takes, per phase."""

    initial: float
    refresh: float


def refreshed(rows: list[dict[str, Any]], rng: random.Random, tag: str) -> list[dict[str, Any]]:
    """The profiles after a day: ~10 % new values, ~5 % leave the segment, ~3 % new e-mail,
    ~5 % arrive."""
    out = []
    for row in rows:
        row = dict(row)
        draw = rng.random()
        if draw < 0.10:
            row["first_name"] = f"{row['first_name']}-{tag}"
        elif draw < 0.15:
            row["lifetime_value"] = 10  # leaves the segment
        elif draw < 0.18:
            row["email"] = f"moved-{tag}-{row['customer_id'].lower()}@example.com"
        elif draw < 0.20:
            row["tier"] = "platinum"
        out.append(row)
    first_new = len(rows) + 1000
    out += [profile(first_new + i) for i in range(max(1, len(rows) // 20))]
    return out


def _phase(
    project: Project,
    rows: list[dict[str, Any]],
    rng: random.Random,
    duration: float,
    phase: str,
    kills: int,
    outcome: Outcome,
) -> None:
    project.write_profiles(rows)
    for _ in range(kills):
        before = {r.run_id for r in run_history(project)}
        delay = round(rng.uniform(0.05, duration), 3)
        killed = run_cli(project, kill_after=delay)
        outcome.runs += 1
        if killed.code is not None:
            assert killed.code == 0, f"{phase}: exit {killed.code}: {killed.stderr[-400:]}"
            outcome.notes.append(f"{phase} done before its kill at {delay:.2f}s")
            continue
        started = [r.run_id for r in run_history(project) if r.run_id not in before]
        where = (
            ", ".join(checkpoints_of(project, started[-1]) or ["no import yet"])
            if started
            else "before its run started"
        )
        outcome.notes.append(f"{phase} killed at {delay:.2f}s ({where})")
    rerun_until_success(project, outcome, phase)
    assert_converged(project, rows)


def rerun_until_success(project: Project, outcome: Outcome, phase: str) -> None:
    """Run again, unharmed, until a run exits 0; a failed rerun is noted with its last line."""
    for _ in range(MAX_RERUNS):
        rerun = run_cli(project)
        outcome.runs += 1
        if rerun.code == 0:
            return
        last = (rerun.stderr.strip().splitlines() or ["(no output)"])[-1]
        outcome.notes.append(f"{phase} rerun exited {rerun.code}: {last[:200]}")
    raise AssertionError(f"{phase}: no success in {MAX_RERUNS} reruns [{'; '.join(outcome.notes)}]")


def kill_seed(
    emulator: EmulatorProcess, folder: Path, seed: int, timing: Timing, profiles: int = PROFILES
) -> Outcome:
    """One seed: an initial export and a refresh, each killed once or twice, then rerun."""
    rng = random.Random(seed)  # noqa: S311 - kill points, not secrets
    started = time.monotonic()
    project = new_project(emulator.api, folder / f"seed-{seed}", f"Kill {seed}")
    project.write_config()
    outcome = Outcome("kill", "initial+refresh", seed=seed)
    rows = [profile(i) for i in range(profiles)]
    try:
        _phase(project, rows, rng, timing.initial, "initial", rng.choice((1, 1, 2)), outcome)
        rows = refreshed(rows, rng, f"s{seed}")
        _phase(project, rows, rng, timing.refresh, "refresh", rng.choice((1, 1, 2)), outcome)
    except AssertionError as exc:
        raise AssertionError(f"kill seed {seed}: {exc} [{'; '.join(outcome.notes)}]") from exc
    outcome.retries = sum(r.counts.retries for r in run_history(project))
    outcome.seconds = time.monotonic() - started
    return outcome


def calibrate(emulator: EmulatorProcess, folder: Path, profiles: int = PROFILES) -> Timing:
    """Time an uninterrupted initial export and refresh (and check that they converge)."""
    rng = random.Random(-1)  # noqa: S311
    project = new_project(emulator.api, folder / "calibration", "Calibration")
    project.write_config()
    rows = [profile(i) for i in range(profiles)]
    durations = []
    for step in ("initial", "refresh"):
        if step == "refresh":
            rows = refreshed(rows, rng, "cal")
        project.write_profiles(rows)
        run = run_cli(project)
        assert run.code == 0, f"calibration {step}: exit {run.code}: {run.stderr[-400:]}"
        assert_converged(project, rows)
        durations.append(run.seconds)
    return Timing(*durations)


# Every checkpoint a run writes, in order (see dotsync.delivery and harness.Checkpoints).
CHECKPOINTS = (
    "run started",
    "import prepared",
    "import submitted",
    "import committed",
    "removal prepared",
    "removal submitted",
    "removal committed",
)


def checkpoint_kill(
    emulator: EmulatorProcess, folder: Path, checkpoint: str, profiles: int = 60
) -> Outcome:
    """A refresh killed the moment its run reaches ``checkpoint`` (the initial export runs
    in-process, unharmed), then rerun until it succeeds."""
    started = time.monotonic()
    name = checkpoint.replace(" ", "-")
    project = new_project(emulator.api, folder / f"at-{name}", f"At {checkpoint}")
    project.write_config()
    rows = [profile(i) for i in range(profiles)]
    project.write_profiles(rows)
    project.run()
    rows = refreshed(rows, random.Random(7), name)  # noqa: S311
    project.write_profiles(rows)
    outcome = Outcome("kill", f"refresh killed at '{checkpoint}'")
    killed = run_cli(project, kill_at=checkpoint)
    assert killed.code is None, f"the run ended ({killed.code}) before reaching {checkpoint}"
    outcome.runs = 1
    rerun_until_success(project, outcome, "refresh")
    assert_converged(project, rows)
    outcome.retries = sum(r.counts.retries for r in run_history(project))
    outcome.seconds = time.monotonic() - started
    return outcome
