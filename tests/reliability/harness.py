"""The reliability harness: the emulator and ``dotsync export`` as real processes, a kill switch
watching a run's checkpoints, and the record of what was survived (the invariant scenarios end on
is in ``invariant.py``).

Used by the tests in this folder and by ``benchmarks/reliability.py`` (the full matrix).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy
import sqlalchemy.exc
from support.project import PASSWORD_ENV, Project

from dotsync.emulator import EmulatorSettings, RunningEmulator
from reliability.invariant import EXPORT, state_url

DOTSYNC = Path(sys.executable).with_name("dotsync")  # the console script of this venv


# --- processes -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOTSYNC_")}
    return {**env, **extra}


class EmulatorProcess:
    """``dotsync emulator --port N --state FILE`` in its own process: killing dotsync leaves it
    alone, and ``restart`` stops it and starts it again on the same port and state."""

    def __init__(
        self, state_file: Path, *, import_rate: float | None = None, port: int | None = None
    ) -> None:
        self.state_file = state_file
        self.import_rate = import_rate
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.api = RunningEmulator(EmulatorSettings(), self.base_url)  # admin helpers over HTTP
        self.restarts = 0
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> EmulatorProcess:
        command = [
            str(DOTSYNC),
            "emulator",
            "--port",
            str(self.port),
            "--state",
            str(self.state_file),
        ]
        if self.import_rate is not None:
            command += ["--import-rate", str(self.import_rate)]
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_clean_env()
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.base_url}/_emulator/state", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the emulator did not start on port {self.port}")
            time.sleep(0.05)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(sig)
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def restart(self, down_for: float = 0.0, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop (SIGTERM: a graceful shutdown; SIGKILL: a crash), stay down ``down_for``
        seconds, start again on the same port and state file."""
        self.stop(sig)
        time.sleep(down_for)
        self.start()
        self.restarts += 1

    def close(self) -> None:
        self.stop()
        self.api.admin.close()


@dataclass(frozen=True)
class CliRun:
    """One ``dotsync export`` process: its exit code (None when we killed it), its wall time,
    the summary it printed (``--json``) when it finished."""

    code: int | None
    seconds: float
    killed_after: float | None = None
    summary: dict[str, Any] | None = None
    stderr: str = ""


def run_cli(
    project: Project,
    *,
    kill_after: float | None = None,
    kill_at: str | None = None,
    kill_delay: float = 0.0,
    act_at: tuple[str, Callable[[], None]] | None = None,
    timeout: float = 180.0,
) -> CliRun:
    """Run ``dotsync export news --json`` as a process. SIGKILL it after ``kill_after`` seconds or
    as soon as its run reaches the checkpoint ``kill_at`` (see ``Checkpoints``); or call
    ``act_at[1]`` once its run reaches the checkpoint ``act_at[0]`` (e.g. restart the emulator)."""
    password = project.emulator.credentials[1]
    command = [str(DOTSYNC), "export", EXPORT, "--config", str(project.config_path), "--json"]
    watch = Checkpoints(project)
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=project.folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_clean_env(**{PASSWORD_ENV: password}),
    )
    done = threading.Event()
    if kill_after is not None:
        threading.Thread(target=_kill_later, args=(process, done, kill_after), daemon=True).start()
    if kill_at is not None:
        act_at = (kill_at, lambda: _kill_later(process, done, kill_delay))
    watcher = None
    if act_at is not None:
        watcher = threading.Thread(target=watch.act_when_reached, args=(done, *act_at))
        watcher.start()
    try:
        out, err = process.communicate(timeout=timeout)
    finally:
        done.set()
        if process.poll() is None:
            process.kill()
            process.communicate()
        if watcher is not None:
            watcher.join()
    seconds = time.monotonic() - started
    if process.returncode == -signal.SIGKILL:
        return CliRun(None, seconds, kill_after, stderr=err.decode(errors="replace"))
    summary = None
    if process.returncode == 0 and out.strip():
        summary = json.loads(out)[0]
    return CliRun(process.returncode, seconds, kill_after, summary, err.decode(errors="replace"))


def _kill_later(process: subprocess.Popen[bytes], done: threading.Event, delay: float) -> None:
    if not done.wait(delay) and process.poll() is None:
        process.kill()  # SIGKILL: no handler, no cleanup, no last checkpoint


class Checkpoints:
    """Watches a project's SQLite state from outside the run, as a kill switch: the checkpoints
    of runs started after this object was made, as "run started", "import prepared", "import
    submitted", "import committed", "removal prepared", "removal submitted", "removal committed"
    (a checkpoint counts as reached once any row reached it or went past it)."""

    ORDER = ("prepared", "submitted", "committed")

    def __init__(self, project: Project) -> None:
        url = state_url(project)
        self.engine = None if url.startswith("sqlite:///") else sqlalchemy.create_engine(url)
        self.path = Path(url.removeprefix("sqlite:///"))
        self.after_run = self._max_run()

    def _query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        if self.engine is not None:  # a PostgreSQL state
            try:
                with self.engine.connect() as conn:
                    return [tuple(r) for r in conn.exec_driver_sql(sql.replace("?", "%s"), args)]
            except sqlalchemy.exc.ProgrammingError:  # tables not created yet
                return []
        if not self.path.exists():
            return []
        with closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)) as conn:
            try:
                return conn.execute(sql, args).fetchall()
            except sqlite3.OperationalError:  # tables not created yet
                return []

    def _max_run(self) -> int:
        rows = self._query("select coalesce(max(id), 0) from runs")
        return int(rows[0][0]) if rows else 0

    def reached(self) -> set[str]:
        found: set[str] = set()
        if self._max_run() > self.after_run:
            found.add("run started")
        for table, kind in (("imports", "import"), ("removals", "removal")):
            for (status,) in self._query(
                f"select status from {table} where run_id > ?", self.after_run
            ):
                if status in self.ORDER:
                    found |= {f"{kind} {s}" for s in self.ORDER[: self.ORDER.index(status) + 1]}
        return found

    def act_when_reached(
        self, done: threading.Event, checkpoint: str, action: Callable[[], None]
    ) -> None:
        """Call ``action`` once a run reaches ``checkpoint`` (polled every 5 ms), unless
        ``done`` is set first."""
        while not done.wait(0.005):
            if checkpoint in self.reached():
                action()
                return


# --- projects ------------------------------------------------------------------------------------


def new_project(emulator: RunningEmulator, folder: Path, book_name: str = "News") -> Project:
    """A project folder with its own address book on ``emulator`` (see support.project)."""
    folder.mkdir(parents=True, exist_ok=True)
    with emulator.client() as api:
        reply = api.post("/v2/address-books", json={"name": book_name})
        reply.raise_for_status()
    return Project(
        folder=folder,
        emulator=emulator,
        book_id=int(reply.json()["id"]),
        api_user=emulator.credentials[0],
    )


# --- what was survived ---------------------------------------------------------------------------


@dataclass
class Outcome:
    """One scenario that held: what it threw at dotsync and what dotsync needed to converge."""

    suite: str  # kill | faults | restart | suppression
    scenario: str
    seed: int | None = None
    runs: int = 0  # dotsync runs until the book converged (killed and failed ones included)
    retries: int = 0  # calls dotsync repeated (from the runs' counts)
    faults: dict[str, int] = field(default_factory=dict)  # injected by the emulator, by kind
    notes: list[str] = field(default_factory=list)  # e.g. where a kill landed
    seconds: float = 0.0


class SurvivalLog:
    """Outcomes of this process (the pytest session or the benchmark), for the summary."""

    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()

    def add(self, outcome: Outcome) -> Outcome:
        with self._lock:
            self.outcomes.append(outcome)
        return outcome

    def lines(self) -> list[str]:
        out = []
        for o in self.outcomes:
            faults = ", ".join(f"{k} x{v}" for k, v in sorted(o.faults.items())) or "-"
            seed = "" if o.seed is None else f" seed {o.seed}"
            notes = f"; {'; '.join(o.notes)}" if o.notes else ""
            out.append(
                f"{o.suite:<11} {o.scenario}{seed}: held after {o.runs} run(s), "
                f"{o.retries} retries, faults {faults}, {o.seconds:.1f} s{notes}"
            )
        return out


SURVIVED = SurvivalLog()


def injected_faults(emulator: RunningEmulator) -> dict[str, int]:
    reply = emulator.admin.get("/_emulator/faults")
    reply.raise_for_status()
    return {str(k): int(v) for k, v in reply.json()["injected"].items()}
