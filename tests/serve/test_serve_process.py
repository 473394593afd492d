"""``dotsync serve`` as a real process against the emulator: a due export runs, ``/metrics`` shows
it, SIGTERM (taken by uvicorn, which serves the console) stops it cleanly mid-run at a checkpoint,
and the next start resumes and finishes the sync."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cli.cli_support import Outcome
from prometheus_client.parser import text_string_to_metric_families
from support.waiting import wait_for

from dotsync.config import load_config
from dotsync.emulator import EmulatorSettings, RunningEmulator
from dotsync.result import RunStatus
from dotsync.state import StateStore

API_USER, PASSWORD = "demo@apiconnector.com", "demo"
PROFILES = 3000
# Slow enough that an import is still in flight a few seconds after it was submitted.
IMPORT_RATE = 200.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_project(tmp_path: Path, emulator: RunningEmulator, book_id: int, port: int) -> Path:
    rows = ["customer_id,email,first_name,tier"]
    rows += [
        f"{i:05d},user{i}@example.com,Name{i},{'gold' if i % 2 else 'silver'}"
        for i in range(PROFILES)
    ]
    (tmp_path / "profiles.csv").write_text("\n".join(rows) + "\n")
    config = tmp_path / "dotsync.toml"
    config.write_text(f"""
[state]
url = "sqlite:///state.sqlite"
work_dir = "work"

[source]
path = "profiles.csv"
key = "customer_id"

[segments.gold]
where = "tier = 'gold'"

[connections.emulator]
api_user = "{API_USER}"
password_env = "DOTDIGITAL_PASSWORD"
address_book_id = {book_id}
privacy_acknowledged = true
api_url = "{emulator.base_url}"

[exports.newsletter]
connection = "emulator"
segments = ["gold"]
schedule = "* * * * *"
timezone = "Europe/Paris"
[exports.newsletter.mapping]
email = "email"
first_name = "first_name"

[serve]
host = "127.0.0.1"
port = {port}
""")
    return config


class ServeProcess:
    def __init__(self, config: Path, log_file: Path) -> None:
        self.log_file = log_file
        env = {**os.environ, "DOTDIGITAL_PASSWORD": PASSWORD}
        self._log = log_file.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from dotsync.cli import main; main()",
                "serve",
                "--config",
                str(config),
                "--log-format",
                "json",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=config.parent,
        )

    def summaries(self) -> list[dict[str, Any]]:
        found = []
        for line in self.log_file.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("event") == "run_summary":
                found.append(record)
        return found

    def ended_early(self) -> bool:
        """The process exited, or its run ended, before the test could stop it."""
        return self.process.poll() is not None or bool(self.summaries())

    def log_tail(self) -> str:
        return self.log_file.read_text()[-3000:]

    def stop(self, timeout: float = 60) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self._log.close()
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._log.close()


@pytest.fixture
def processes() -> Iterator[list[ServeProcess]]:
    started: list[ServeProcess] = []
    yield started
    for process in started:
        process.kill()


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    """Every sample of one /metrics scrape, by name and sorted labels."""
    text = httpx.get(f"{url}/metrics", timeout=5).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): float(sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def total(samples: Samples, name: str) -> float:
    return sum(value for (sample_name, _), value in samples.items() if sample_name == name)


def imports_submitted(emulator: RunningEmulator) -> int:
    calls = emulator.calls()
    return sum(n for key, n in calls.items() if key.startswith("PUT /contacts/v3/import"))


def test_serve_runs_reports_stops_on_sigterm_and_resumes(
    tmp_path: Path, emulator_factory: Callable[..., RunningEmulator], processes: list[ServeProcess]
) -> None:
    emulator = emulator_factory(EmulatorSettings(import_rate=IMPORT_RATE))
    created = httpx.post(
        f"{emulator.base_url}/v2/address-books",
        json={"name": "Newsletter", "visibility": "Private"},
        auth=(API_USER, PASSWORD),
    )
    created.raise_for_status()
    book_id = int(created.json()["id"])
    port = free_port()
    ops = f"http://127.0.0.1:{port}"
    config = write_project(tmp_path, emulator, book_id, port)

    # First start: never run, so due at once. Stop it while its import is in flight.
    first = ServeProcess(config, tmp_path / "first.log")
    processes.append(first)
    wait_for(lambda: httpx.get(f"{ops}/healthz", timeout=5).status_code == 200, "/healthz")
    wait_for(
        lambda: imports_submitted(emulator) >= 1 or first.ended_early(),
        "an import to be submitted",
    )
    assert not first.ended_early(), first.log_tail()
    assert sample(scrape(ops), "dotsync_run_in_progress", export="newsletter") == 1
    assert first.stop() == 0, first.log_tail()
    [interrupted] = first.summaries()
    assert interrupted["status"] == "interrupted"  # uvicorn took the signal; the run stopped too
    with StateStore(load_config(config).state.url) as store:
        [recorded] = store.list_runs("newsletter")
    assert (recorded.status, recorded.started_by) == (RunStatus.INTERRUPTED, "scheduler")
    members_after_stop = len(emulator.book_members(API_USER, book_id))
    assert members_after_stop < PROFILES // 2  # it really stopped mid-run

    # Second start: the interrupted run is still owed, so it runs at once and resumes.
    second = ServeProcess(config, tmp_path / "second.log")
    processes.append(second)

    def after_success() -> Samples | None:
        samples = scrape(ops)
        succeeded = sample(samples, "dotsync_runs_total", export="newsletter", status="succeeded")
        return samples if succeeded else None

    samples = wait_for(after_success, "the resumed run to succeed")
    assert sample(samples, "dotsync_runs_total", export="newsletter", status="failed") is None
    assert (sample(samples, "dotsync_run_duration_seconds_count", export="newsletter") or 0) >= 1
    assert (sample(samples, "dotsync_last_success_timestamp_seconds", export="newsletter") or 0) > 0
    assert total(samples, "dotsync_api_calls_total") > 0
    assert second.stop() == 0, second.log_tail()
    # A minute boundary passed during the run may start one more run (the slot it owes): the
    # resumed run is the first summary.
    resumed, *later = second.summaries()
    assert resumed["status"] == "succeeded"
    assert resumed["resumed_imports"] >= 1  # polled the first run's import, did not resend it
    assert all(s["status"] in ("succeeded", "interrupted") for s in later)

    expected = {f"user{i}@example.com" for i in range(PROFILES) if i % 2}
    members = {str(m["email"]).lower() for m in emulator.book_members(API_USER, book_id)}
    assert members == expected


def run_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from dotsync.cli import main; main()",
            "serve",
            "--config",
            str(config),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=config.parent,
        env={**os.environ, "DOTDIGITAL_PASSWORD": PASSWORD},
        check=False,
    )


def test_once_runs_what_is_due_and_exits(
    tmp_path: Path, emulator_factory: Callable[..., RunningEmulator]
) -> None:
    emulator = emulator_factory(EmulatorSettings())
    created = httpx.post(
        f"{emulator.base_url}/v2/address-books",
        json={"name": "Newsletter", "visibility": "Private"},
        auth=(API_USER, PASSWORD),
    )
    book_id = int(created.json()["id"])
    config = write_project(tmp_path, emulator, book_id, free_port())
    done = run_cli(config, "--once", "--log-format", "json")
    assert done.returncode == 0, done.stderr[-3000:]
    summaries = [json.loads(line) for line in done.stderr.splitlines() if '"run_summary"' in line]
    assert [s["status"] for s in summaries] == ["succeeded"]
    assert len(emulator.book_members(API_USER, book_id)) == PROFILES // 2
    assert "@example.com" not in done.stderr  # e-mail addresses are not logged


def test_serve_without_console_nor_schedule_says_what_to_add(tmp_path: Path) -> None:
    config = tmp_path / "dotsync.toml"
    config.write_text("""
[source]
path = "profiles.csv"
key = "customer_id"
[segments.all]
where = "true"
[connections.c]
api_user = "demo@apiconnector.com"
password_env = "DOTDIGITAL_PASSWORD"
address_book_id = 1
[exports.newsletter]
connection = "c"
segments = ["all"]
[exports.newsletter.mapping]
email = "email"
""")
    done = run_cli(config, "--no-console")
    assert done.returncode == 2
    assert "no export has a `schedule`" in done.stderr


def run_serve(folder: Path, *args: str, env: dict[str, str] | None = None) -> Outcome:
    """``dotsync serve ARGS`` through the installed console script, in ``folder``."""
    done = subprocess.run(
        [str(Path(sys.executable).with_name("dotsync")), "serve", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=folder,
        env={**os.environ, "DOTDIGITAL_PASSWORD": PASSWORD, **(env or {})},
        check=False,
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


def small_project_with_a_rejected_row(
    folder: Path, emulator: RunningEmulator, book_name: str
) -> Path:
    folder.mkdir()
    created = httpx.post(
        f"{emulator.base_url}/v2/address-books",
        json={"name": book_name, "visibility": "Private"},
        auth=(API_USER, PASSWORD),
    )
    config = write_project(folder, emulator, int(created.json()["id"]), free_port())
    (folder / "profiles.csv").write_text(
        "customer_id,email,first_name,tier\n"
        "1,one@example.com,One,gold\n"
        "2,not-an-email,Two,gold\n"
        "3,three@example.com,Three,gold\n"
    )
    return config


def test_once_exits_4_for_rejected_rows_only_with_fail_on_rejects(
    tmp_path: Path, emulator_factory: Callable[..., RunningEmulator]
) -> None:
    emulator = emulator_factory(EmulatorSettings())
    plain = small_project_with_a_rejected_row(tmp_path / "plain", emulator, "Plain")
    strict = small_project_with_a_rejected_row(tmp_path / "strict", emulator, "Strict")

    # The configuration from DOTSYNC_CONFIG, as every other command reads it.
    done = run_serve(tmp_path, "--once", "--json", env={"DOTSYNC_CONFIG": str(plain)})
    assert done.code == 0, done.stderr[-3000:]
    [outcome] = json.loads(done.stdout)
    assert (outcome["export"], outcome["status"], outcome["exit_code"]) == (
        "newsletter",
        "partial",
        0,
    )
    assert outcome["counts"]["rejected"] == 1 and outcome["rejects_file"]
    assert all(json.loads(line) for line in done.stderr.splitlines())  # JSON logs with --json

    failing = run_serve(strict.parent, "--once", "--fail-on-rejects", "--config", str(strict))
    assert failing.code == 4, failing.stderr[-3000:]


def test_serve_errors_are_json_lines_with_the_key(tmp_path: Path) -> None:
    (tmp_path / "dotsync.toml").write_text("[source]\npath = 'p.csv'\nkey = 'id'\nbogus = 1\n")
    done = run_serve(tmp_path, "--once", "--log-format", "json")
    assert done.code == 2
    [error] = [json.loads(line) for line in done.stderr.splitlines()]
    assert (error["event"], error["exit_code"]) == ("error", 2)
    assert error["key"] == "source.bogus"
    verbose = run_serve(tmp_path, "--verbose")
    assert verbose.code == 2 and "Traceback" in verbose.stderr
