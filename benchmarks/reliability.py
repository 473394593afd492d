"""The full reliability matrix as one command, printing what dotsync survived.

- kills: the real ``dotsync export`` process SIGKILLed at seeded random points of an initial export
  and of a refresh (changes, leavers, new e-mails, arrivals), then rerun until it succeeds; and
  killed at each checkpoint a run writes;
- emulator restarts mid-run (SIGTERM and SIGKILL, same ``--state`` file);
- fault storms: 429s with Retry-After/X-RateLimit-Reset, a tiny tiered budget, 500/502/503
  bursts, dropped connections, replies slower than the client's timeout, imports ending Failed or
  RejectedByWatchdog, and all of them at once, each with several seeds.

After each scenario the address book must equal the segment exactly (nothing lost, nothing
doubled, current values) and the state must agree with it (tests/reliability/invariant.py).

    .venv/bin/python benchmarks/reliability.py [--seeds 20] [--storm-seeds 3] [--json out.json]

The same scenarios run in pytest: a CI sample by default, this matrix with DOTSYNC_FULL_MATRIX=1.
Exit code 0 when every scenario held, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))  # before this folder: "reliability" is the tests' package

from reliability.harness import SURVIVED, EmulatorProcess, Outcome  # noqa: E402
from reliability.kill import (  # noqa: E402
    CHECKPOINTS,
    IMPORT_RATE,
    calibrate,
    checkpoint_kill,
    kill_seed,
)
from reliability.storms import (  # noqa: E402
    STORMS,
    fault_storm,
    restart_mid_run,
    tiered_clock,
    tiered_storm,
)
from support.project import PASSWORD_ENV  # noqa: E402

import dotsync.emulator.app as emulator_app  # noqa: E402
from dotsync.emulator.ratelimit import RateLimiter  # noqa: E402
from dotsync.emulator.testing import run_emulator  # noqa: E402

RESTARTS = [
    ("import submitted", "SIGTERM"),
    ("removal submitted", "SIGTERM"),
    ("import committed", "SIGTERM"),
    ("import submitted", "SIGKILL"),
    ("removal submitted", "SIGKILL"),
]


def _attempt(label: str, failures: list[str], scenario: Callable[[], Outcome]) -> None:
    print(f"  {label} ...", end="", flush=True)
    try:
        outcome = SURVIVED.add(scenario())
    except Exception as exc:  # any failure of a scenario is reported, then the next one runs
        failures.append(f"{label}: {type(exc).__name__}: {exc}")
        print(f" FAILED: {type(exc).__name__}: {exc}", flush=True)
        return
    print(f" held ({outcome.runs} runs, {outcome.seconds:.1f} s)", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=20, help="random kill seeds (default 20)")
    parser.add_argument("--storm-seeds", type=int, default=3, help="seeds per fault storm")
    parser.add_argument("--json", type=Path, help="also write the outcomes to this file")
    args = parser.parse_args()
    os.environ[PASSWORD_ENV] = "demo"  # the emulator's demo account
    # Retries are expected here and counted in the summary: keep their warnings (and those of the
    # in-process emulator about the connections it drops on purpose) off the screen.
    logging.basicConfig(level=logging.CRITICAL)
    logging.getLogger("uvicorn.error").addFilter(lambda _record: False)
    failures: list[str] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dotsync-reliability-") as tmp:
        work = Path(tmp)
        emulator = EmulatorProcess(work / "emulator.sqlite", import_rate=IMPORT_RATE).start()
        try:
            timing = calibrate(emulator, work)
            print(
                f"uninterrupted runs: initial {timing.initial:.2f} s, refresh "
                f"{timing.refresh:.2f} s (kill delays are drawn over these)"
            )
            print("kills at random points:")
            for seed in range(args.seeds):
                _attempt(
                    f"seed {seed}", failures, lambda s=seed: kill_seed(emulator, work, s, timing)
                )
            print("kills at each checkpoint:")
            for checkpoint in CHECKPOINTS:
                _attempt(
                    checkpoint, failures, lambda c=checkpoint: checkpoint_kill(emulator, work, c)
                )
            print("emulator restarted mid-run:")
            for checkpoint, sig in RESTARTS:
                _attempt(
                    f"{sig} at {checkpoint}",
                    failures,
                    lambda c=checkpoint, s=sig: restart_mid_run(emulator, work, c, s),
                )
        finally:
            emulator.close()
        print("fault storms:")
        with run_emulator() as memulator:
            for name, faults in STORMS.items():
                for seed in range(args.storm_seeds):
                    _attempt(
                        f"{name} seed {seed}",
                        failures,
                        lambda n=name, f=faults, s=seed: fault_storm(memulator, work, n, f, s),
                    )
        original = emulator_app.RateLimiter
        clock = tiered_clock(seconds_left=4)
        emulator_app.RateLimiter = lambda settings: RateLimiter(settings, clock=clock)  # type: ignore[assignment,misc]
        try:
            with run_emulator() as temulator:
                _attempt(
                    "tiered rate limits, tiny budget",
                    failures,
                    lambda: tiered_storm(temulator, work),
                )
        finally:
            emulator_app.RateLimiter = original  # type: ignore[misc]
    _summary(time.monotonic() - started, failures)
    if args.json:
        args.json.write_text(
            json.dumps(
                {"outcomes": [asdict(o) for o in SURVIVED.outcomes], "failures": failures}, indent=2
            )
        )
    return 1 if failures else 0


def _summary(seconds: float, failures: list[str]) -> None:
    outcomes = SURVIVED.outcomes
    faults: Counter[str] = Counter()
    for outcome in outcomes:
        faults.update(outcome.faults)
    kills = sum(1 for o in outcomes for n in o.notes if " killed at " in n)
    at_checkpoints = sum(1 for o in outcomes if o.scenario.startswith("refresh killed at"))
    injected = ", ".join(f"{k} x{v}" for k, v in sorted(faults.items()))
    print("\nwhat dotsync survived")
    for line in SURVIVED.lines():
        print(f"  {line}")
    print(
        f"\n{len(outcomes)} scenarios held, {len(failures)} failed, in {seconds:.0f} s: "
        f"{kills} SIGKILLs at random points and {at_checkpoints} at checkpoints, "
        f"{sum(o.runs for o in outcomes)} dotsync runs, "
        f"{sum(o.retries for o in outcomes)} calls retried; faults injected: {injected}"
    )
    for failure in failures:
        print(f"FAILED {failure}")


if __name__ == "__main__":
    sys.exit(main())
