"""Three ``dotsync serve`` workers, each with its own host name (a UTS namespace each, as on three
machines) and its own work folder, sharing one PostgreSQL state: twenty exports every fifteen
seconds on four DotDigital accounts of the emulator. The worker in the middle of a run is
SIGKILLed, another is SIGSTOPped past its lease then continued. Then: every tick claimed was run to
its end once (a resumed run is that tick's run), the killed run was finished by another worker,
the emulator never saw two runs of one account at once, and every book is exact."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine, select
from state.pg_schema import state_url
from support.waiting import wait_for

from dotsync.emulator import EmulatorSettings, RunningEmulator
from dotsync.emulator.settings import AccountSettings
from dotsync.state.schema import runs, serve_ticks

UNSHARE = shutil.which("unshare")
pytestmark = pytest.mark.skipif(
    UNSHARE is None or os.geteuid() != 0,
    reason="needs root and unshare (a host name per worker)",
)

ACCOUNTS = [f"a{n}@apiconnector.com" for n in range(4)]
PASSWORD = "pw-workers"
EXPORTS = 20
PROFILES = 200
LEASE = 4.0
SCHEDULE = "* * * * * */15"  # croniter's sixth field: seconds


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def project_text(url: str, emulator: RunningEmulator, books: list[int]) -> str:
    parts = [
        f"""
[state]
url = "{url}"
work_dir = "work"

[source]
path = "profiles.csv"
key = "customer_id"

[segments.everyone]
where = "true"

[serve]
lease_seconds = {LEASE}
"""
    ]
    for n in range(EXPORTS):
        parts.append(f"""
[connections.c{n:02d}]
api_user = "{ACCOUNTS[n % len(ACCOUNTS)]}"
password_env = "DOTDIGITAL_PASSWORD"
address_book_id = {books[n]}
privacy_acknowledged = true
api_url = "{emulator.base_url}"

[exports.e{n:02d}]
connection = "c{n:02d}"
segments = ["everyone"]
schedule = "{SCHEDULE}"
[exports.e{n:02d}.mapping]
email = "email"
first_name = "first_name"
""")
    return "".join(parts)


class Worker:
    """``dotsync serve`` in a UTS namespace of its own: its host name is ``name``."""

    def __init__(self, name: str, folder: Path) -> None:
        self.name, self.port = name, free_port()
        self.log_file = folder / "serve.log"
        self._log = self.log_file.open("w")
        self.process = subprocess.Popen(
            [
                str(UNSHARE),
                "--uts",
                "/bin/sh",
                "-c",
                f'hostname {name} && exec "$0" "$@"',
                sys.executable,
                "-c",
                "from dotsync.cli import main; main()",
                "serve",
                "--config",
                str(folder / "dotsync.toml"),
                "--no-console",
                "--port",
                str(self.port),
                "--log-format",
                "json",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "DOTDIGITAL_PASSWORD": PASSWORD},
            cwd=folder,
        )

    def health(self) -> dict[str, Any]:
        return dict(httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=5).json())

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text

    def events(self) -> list[dict[str, Any]]:
        found = []
        for line in self.log_file.read_text().splitlines():
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
        return found

    def signal(self, sig: int) -> None:
        os.kill(self.process.pid, sig)

    def stop(self) -> int:
        self.signal(signal.SIGTERM)
        return self.process.wait(60)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._log.close()


@pytest.fixture
def state(tmp_path: Path, pg_url: str) -> Iterator[str]:
    with state_url("postgresql", tmp_path, pg_url) as url:
        yield url


@pytest.mark.long
def test_three_workers_one_killed_one_paused_run_every_tick_once(
    tmp_path: Path, state: str, emulator_factory: Callable[..., RunningEmulator]
) -> None:
    emulator = emulator_factory(
        EmulatorSettings(
            accounts=[
                AccountSettings(api_user=user, password=SecretStr(PASSWORD)) for user in ACCOUNTS
            ],
            import_rate=150.0,  # a first run's import takes over a second: runs are caught mid-way
        )
    )
    books = []
    for n in range(EXPORTS):
        created = httpx.post(
            f"{emulator.base_url}/v2/address-books",
            json={"name": f"Book {n}", "visibility": "Private"},
            auth=(ACCOUNTS[n % len(ACCOUNTS)], PASSWORD),
        )
        created.raise_for_status()
        books.append(int(created.json()["id"]))
    profiles = "customer_id,email,first_name\n" + "".join(
        f"{i:05d},user{i}@example.com,Name{i}\n" for i in range(PROFILES)
    )
    text = project_text(state, emulator, books)
    workers: dict[str, Worker] = {}
    try:
        for name in ("w1", "w2", "w3"):
            folder = tmp_path / name  # the same dotsync.toml; a work folder of its own
            folder.mkdir()
            (folder / "dotsync.toml").write_text(text)
            (folder / "profiles.csv").write_text(profiles)
            workers[name] = Worker(name, folder)
        engine = create_engine(state)
        for worker in workers.values():
            wait_for(partial(_worker_id, worker), f"{worker.name}'s /healthz", seconds=90)

        def running_with_import(hosts: set[str]) -> tuple[int, str, str] | None:
            """A run going on on one of ``hosts`` that has submitted an import."""
            submitted = {
                c["run"]
                for c in emulator.timeline()
                if c["call"] == "PUT /contacts/v3/import" and c["run"]
            }
            with engine.connect() as conn:
                rows = conn.execute(
                    select(runs.c.id, runs.c.host, runs.c.export).where(runs.c.status == "running")
                ).all()
            for run_id, host, export in rows:
                if host in hosts and str(run_id) in submitted:
                    return int(run_id), str(host), str(export)
            return None

        # SIGKILL a worker in the middle of a run (an import of it submitted).
        killed_run, killed_host, killed_export = wait_for(
            lambda: running_with_import(set(workers)), "a run with an import in flight", seconds=90
        )
        killed = workers[killed_host]
        killed_id = killed.health()["worker"]
        killed.signal(signal.SIGKILL)
        killed.process.wait(10)
        with engine.connect() as conn:
            status = conn.execute(select(runs.c.status).where(runs.c.id == killed_run)).scalar()
        assert status == "running"  # killed mid-run

        # SIGSTOP another in the middle of a run, past its lease, then let it go on.
        others = {name for name in workers if name != killed_host}
        paused_run, paused_host, paused_export = wait_for(
            lambda: running_with_import(others), "a run on another worker", seconds=120
        )
        paused = workers[paused_host]
        paused.signal(signal.SIGSTOP)
        time.sleep(3 * LEASE)
        paused.signal(signal.SIGCONT)
        cut = datetime.now(UTC) + timedelta(seconds=20)

        def ticks() -> list[Any]:
            with engine.connect() as conn:
                return list(conn.execute(select(serve_ticks)).mappings())

        def settled() -> bool:
            due = [t for t in ticks() if _aware(t["tick_at"]) <= cut]
            return (
                datetime.now(UTC) > cut
                and bool(due)
                and all(t["status"] == "done" for t in due)
                and len({t["job"] for t in due}) == EXPORTS
            )

        wait_for(settled, "every tick up to the cut to be done", seconds=240)
        alive = [w for w in workers.values() if w is not killed]
        health = alive[0].health()
        assert set(health["workers"]) >= {w.health()["worker"] for w in alive}
        assert killed_id not in health["workers"]  # its heartbeat passed
        assert {v["host"] for v in health["workers"].values()} == {w.name for w in alive}
        assert 'dotsync_worker_runs{host="' in alive[0].metrics()
        for worker in alive:
            assert worker.stop() == 0, worker.log_file.read_text()[-3000:]

        # Every tick claimed and done was run to its end by one run, each run of one tick; no
        # succeeded run serves no tick (nothing ran twice).
        all_ticks = ticks()
        done = [t for t in all_ticks if t["status"] == "done"]
        bad = [t for t in done if t["run_status"] not in ("succeeded", "partial")]
        assert not bad, bad
        tick_runs = [int(t["run_id"]) for t in done]
        assert len(tick_runs) == len(set(tick_runs))
        with engine.connect() as conn:
            run_rows = {int(r["id"]): r for r in conn.execute(select(runs)).mappings()}
        for t in done:
            assert run_rows[int(t["run_id"])]["export"] == t["job"]
        succeeded = {i for i, r in run_rows.items() if r["status"] in ("succeeded", "partial")}
        assert succeeded == set(tick_runs)

        # The killed run was resumed and finished by another worker, as its tick's run.
        killed_row = run_rows[killed_run]
        assert killed_row["status"] == "interrupted"
        resumer = int(str(killed_row["error"]).rsplit(" ", 1)[-1])
        assert run_rows[resumer]["host"] != killed_host
        assert run_rows[resumer]["resumed_imports"] >= 1 or run_rows[resumer]["status"] in (
            "succeeded",
            "partial",
        )
        [killed_tick] = [
            t
            for t in all_ticks
            if t["job"] == killed_export and killed_id in (t["workers"] or "").split()
        ]
        assert killed_tick["status"] == "done" and killed_tick["attempts"] >= 2
        assert int(killed_tick["run_id"]) == resumer

        # The paused run lost its lease: it stopped without writing (its row stays as another
        # worker's resume marked it), and another worker's run finished its work.
        lost = [
            e
            for e in paused.events()
            if e.get("event") == "run_summary" and e.get("status") == "lost"
        ]
        assert paused_export in {e["export"] for e in lost}
        paused_row = run_rows[paused_run]
        assert paused_row["status"] == "interrupted", paused_row
        assert "resumed by run" in str(paused_row["error"])
        # By a worker that took its tick over, or by the paused worker itself at a later tick
        # (it came back: a live worker like the others).
        paused_resumer = int(str(paused_row["error"]).rsplit(" ", 1)[-1])
        assert paused_resumer > paused_run
        assert run_rows[paused_resumer]["export"] == paused_export

        # Never two runs of one account at once (the emulator's clock).
        spans: dict[str, dict[str, list[float]]] = defaultdict(dict)
        for call in emulator.timeline():
            if call["run"] is None:
                continue
            span = spans[call["api_user"]].setdefault(call["run"], [call["started"], call["ended"]])
            span[0], span[1] = min(span[0], call["started"]), max(span[1], call["ended"])
        for user, by_run in spans.items():
            ordered = sorted(by_run.items(), key=lambda item: item[1][0])
            for (run_a, (_, end_a)), (run_b, (start_b, _)) in pairwise(ordered):
                assert start_b >= end_a, f"{user}: runs {run_a} and {run_b} overlapped"

        # Every book exact.
        expected = {f"user{i}@example.com" for i in range(PROFILES)}
        for n in range(EXPORTS):
            members = emulator.book_members(ACCOUNTS[n % len(ACCOUNTS)], books[n])
            assert {str(m["email"]).lower() for m in members} == expected, f"book of e{n:02d}"
        engine.dispose()
    finally:
        for worker in workers.values():
            if worker.process.poll() is None:
                worker.signal(signal.SIGCONT)
            worker.close()


def _worker_id(worker: Worker) -> Any:
    return worker.health().get("worker")


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
