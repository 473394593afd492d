"""Fault storms against an emulator (in-process is fine) and emulator restarts mid-run.

Each scenario runs an initial export and a refresh with changes and leavers while the emulator
misbehaves; a run that fails after its retries (exit code 5) is simply run again, as a scheduler
would, and the book must then be exactly right (``harness.assert_converged``).
"""

from __future__ import annotations

import math
import random
import signal
import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import httpx
from support.project import Project, profile

from dotsync.emulator import RunningEmulator
from dotsync.errors import DotsyncError, ExitCode
from reliability.harness import (
    EmulatorProcess,
    Outcome,
    injected_faults,
    new_project,
    run_cli,
)
from reliability.invariant import assert_converged, run_history
from reliability.kill import refreshed

MAX_RUNS = 4
CLIENT_TIMEOUT = 0.5  # seconds: the "short client timeout" slow replies are measured against

# name -> fault settings (see dotsync.emulator.faults.FaultSettings). Scripted steps are consumed
# one per request before the random rates apply.
STORMS: dict[str, dict[str, Any]] = {
    "429 storm (Retry-After, X-RateLimit-Reset)": {"script": ["429"] * 3},
    "5xx burst": {"script": ["500", "502", "503"], "error_rate": 0.2},
    "dropped connections": {"script": ["drop"] * 3, "drop_rate": 0.2},
    "replies slower than the timeout": {"slow_rate": 0.25, "slow_seconds": 1.5},
    "imports ending Failed": {"failed_imports": 1, "import_failure_status": "Failed"},
    "imports ending RejectedByWatchdog": {
        "failed_imports": 1,
        "import_failure_status": "RejectedByWatchdog",
    },
    "everything at once": {
        "script": ["429", "503", "drop"],
        "error_rate": 0.1,
        "drop_rate": 0.1,
        "slow_rate": 0.1,
        "slow_seconds": 1.5,
        "failed_imports": 1,
    },
}


class ShortTimeouts(httpx.HTTPTransport):
    """Caps every timeout of a request, whatever the client asked for (dotsync asks 121 s, as
    DotDigital advises): a test-side stand-in for a network that gives up sooner."""

    def __init__(self, limit: float) -> None:
        super().__init__()
        self.limit = limit

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        asked = request.extensions.get("timeout", {})
        request.extensions["timeout"] = {
            k: min(v or self.limit, self.limit)
            for k, v in {**dict.fromkeys(("connect", "read", "write", "pool")), **asked}.items()
        }
        return super().handle_request(request)


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower())[:40]


def converge_in_process(
    project: Project,
    rows: list[dict[str, Any]],
    outcome: Outcome,
    http_client: httpx.Client | None = None,
) -> None:
    """Run the export (in this process) until a run succeeds; only "retry later" failures
    (exit code 5) are allowed on the way. Then check the invariant."""
    project.write_profiles(rows)
    for _ in range(MAX_RUNS):
        outcome.runs += 1
        try:
            project.run(http_client=http_client)
            break
        except DotsyncError as exc:
            assert exc.exit_code is ExitCode.RETRY_LATER, f"{type(exc).__name__}: {exc}"
            outcome.notes.append(f"run {outcome.runs} exit 5 ({type(exc).__name__})")
    else:
        raise AssertionError(f"no run succeeded in {MAX_RUNS} [{'; '.join(outcome.notes)}]")
    assert_converged(project, rows)


def fault_storm(
    emulator: RunningEmulator,
    folder: Path,
    name: str,
    faults: Mapping[str, Any],
    seed: int = 0,
    profiles: int = 80,
) -> Outcome:
    """An initial export and a refresh, each under the storm ``faults`` (reseeded per phase)."""
    started = time.monotonic()
    project = new_project(emulator, folder / f"storm-{_slug(name)}-{seed}", f"{name} {seed}")
    project.write_config()
    outcome = Outcome("faults", name, seed=seed)
    rows = [profile(i) for i in range(profiles)]
    rng = random.Random(seed)  # noqa: S311
    timeouts = "slow_rate" in faults or "slow" in faults.get("script", [])
    client = httpx.Client(transport=ShortTimeouts(CLIENT_TIMEOUT)) if timeouts else None
    with client or nullcontext() as c:
        for phase in ("initial", "refresh"):
            if phase == "refresh":
                rows = refreshed(rows, rng, f"f{seed}")
            emulator.set_faults({**faults, "seed": rng.randrange(2**31)})
            converge_in_process(project, rows, outcome, http_client=c)
            for kind, n in injected_faults(emulator).items():
                outcome.faults[kind] = outcome.faults.get(kind, 0) + n
    emulator.set_faults({})
    outcome.retries = sum(r.counts.retries for r in run_history(project))
    outcome.seconds = time.monotonic() - started
    assert sum(outcome.faults.values()) > 0, "the storm injected nothing: the scenario is void"
    return outcome


def tiered_clock(seconds_left: float) -> Callable[[], float]:
    """A clock for the emulator's rate limiter whose current one-minute window ends in
    ``seconds_left`` seconds, so a tiny budget is spent and refilled within a test."""
    now = time.time()
    offset = (math.floor(now / 60) + 1) * 60 - seconds_left - now
    return lambda: time.time() + offset


def tiered_storm(emulator: RunningEmulator, folder: Path, profiles: int = 80) -> Outcome:
    """DotDigital's tiered limits with a budget of a few calls a minute: the run is refused with
    429s (``X-RateLimit-Reset`` and ``Retry-After``) until the window turns. The emulator must
    run on ``tiered_clock`` (the test starts it so)."""
    started = time.monotonic()
    project = new_project(emulator, folder / "tiered", "Tiered")
    project.write_config()
    outcome = Outcome("faults", "tiered rate limits, tiny budget")
    rows = [profile(i) for i in range(profiles)]
    budget = {"low_per_minute": 2, "medium_per_minute": 2, "high_per_minute": 8}
    emulator.set_rate_limits({"mode": "tiered", **budget})
    # Another client of the same account (a second tool, a colleague's script) has just spent
    # the minute's budget: dotsync's first calls meet 429s, not its own throttle.
    with emulator.client() as neighbour:
        for _ in range(budget["high_per_minute"]):
            neighbour.get("/v2/account-info")
        for _ in range(budget["low_per_minute"]):
            neighbour.get("/v2/address-books")
        assert neighbour.get("/v2/account-info").status_code == 429
    try:
        converge_in_process(project, rows, outcome)
    finally:
        emulator.set_rate_limits({"mode": "off"})
    limited = sum(sum(r.counts.rate_limited_by_endpoint.values()) for r in run_history(project))
    outcome.faults = {"429 to dotsync": limited}
    outcome.retries = sum(r.counts.retries for r in run_history(project))
    outcome.seconds = time.monotonic() - started
    assert limited > 0, "the budget was never spent: the scenario is void"
    return outcome


def restart_mid_run(
    emulator: EmulatorProcess,
    folder: Path,
    checkpoint: str,
    sig_name: str = "SIGTERM",
    profiles: int = 120,
) -> Outcome:
    """A refresh during which the emulator process is stopped and started again (same port, same
    ``--state`` file) the moment the run reaches ``checkpoint``."""
    started = time.monotonic()
    name = checkpoint.replace(" ", "-")
    project = new_project(
        emulator.api, folder / f"restart-{name}-{sig_name}", f"Restart {sig_name} {checkpoint}"
    )
    project.write_config()
    rows = [profile(i) for i in range(profiles)]
    project.write_profiles(rows)
    project.run()
    rows = refreshed(rows, random.Random(11), name)  # noqa: S311
    project.write_profiles(rows)
    outcome = Outcome("restart", f"emulator {sig_name} at '{checkpoint}'")
    restarts = emulator.restarts
    for _ in range(MAX_RUNS):
        act = None
        if emulator.restarts == restarts:  # restart once, during the first run only
            act = (checkpoint, lambda: emulator.restart(0.5, signal.Signals[sig_name]))
        run = run_cli(project, act_at=act)
        outcome.runs += 1
        if run.code == 0:
            break
        assert run.code == ExitCode.RETRY_LATER, f"exit {run.code}: {run.stderr[-400:]}"
        outcome.notes.append(f"run {outcome.runs} exit 5")
    assert emulator.restarts == restarts + 1, f"the run never reached {checkpoint}"
    assert_converged(project, rows)
    outcome.faults = {"restart": 1}
    outcome.retries = sum(r.counts.retries for r in run_history(project))
    outcome.seconds = time.monotonic() - started
    return outcome
