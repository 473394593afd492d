"""``dotsync pull`` from the command line: its summary, ``--json``, ``--all``, and the exit code and
one-line message of each mistake (a missing name, an unknown export, a file that is not ours)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
from support.project import PASSWORD_ENV, Project, profile
from typer.testing import CliRunner

from dotsync.cli import app
from dotsync.errors import ExitCode
from dotsync.pull.destination import ARROW_SCHEMA
from pull.conftest import parquet_rows, unsubscribe


def _dotsync(project: Project, *args: str) -> tuple[int, str, str]:
    _, password = project.emulator.credentials
    result = CliRunner().invoke(
        app,
        [*args, "--config", str(project.config_path)],
        env={PASSWORD_ENV: password},
        catch_exceptions=False,
    )
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


def test_pull_prints_what_it_wrote_and_what_it_cost(project: Project) -> None:
    project.write_profiles([profile(i) for i in range(4)])
    project.write_config()
    code, stdout, _ = _dotsync(project, "pull", "news")
    assert code == 0
    assert "has not run yet" in stdout  # nothing of it is in DotDigital: nothing to pull
    assert parquet_rows(project.folder / "dotdigital_status.parquet") == []  # but ready, empty
    assert (project.folder / "dotdigital_status.parquet").exists()
    project.run()
    unsubscribe(project, "person1@example.com")
    project.emulator.suppress(project.api_user, "nobody@example.com", "HardBounced")

    code, stdout, _ = _dotsync(project, "pull", "news")

    said = " ".join(stdout.split())
    assert code == 0, stdout
    assert re.search(r"written: Unsubscribed\W+1\b", said)
    assert re.search(r"written: Suppressed\W+0\b", said)
    assert re.search(r"unknown to this export \(not written\)\W+1\b", said)
    assert "account_suppressions" in said and "account_changes" in said
    assert "dotdigital_status.parquet" in said
    assert "@" not in stdout  # never an e-mail address

    code, stdout, _ = _dotsync(project, "pull", "--all", "--json")

    assert code == 0
    (report,) = json.loads(stdout)
    assert (report["export"], report["status"]) == ("news", "succeeded")
    assert report["counts"]["written"] == {"Subscribed": 0, "Unsubscribed": 0, "Suppressed": 0}
    assert report["counts"]["unchanged"] == 1
    assert report["api_calls"] <= report["budget"] == 100


def test_pull_mistakes_exit_with_a_message_naming_what_to_fix(project: Project) -> None:
    project.write_profiles([profile(i) for i in range(2)])
    project.write_config()

    code, _, stderr = _dotsync(project, "pull")
    assert (code, "name an export (known: news)" in stderr) == (ExitCode.CONFIG, True)
    code, _, stderr = _dotsync(project, "pull", "nwes")
    assert code == ExitCode.CONFIG and "did you mean 'news'?" in stderr
    code, _, stderr = _dotsync(project, "pull", "news", "--all")
    assert code == ExitCode.CONFIG and "not both" in stderr

    project.run()
    pq.write_table(pa.table({"email": ["x@example.com"]}), project.folder / "theirs.parquet")
    project.extra_toml = '[pull]\npath = "theirs.parquet"\n'
    project.write_config()
    code, _, stderr = _dotsync(project, "pull", "news", "--json")
    error = json.loads(stderr.splitlines()[-1])
    assert (code, error["exit_code"]) == (ExitCode.SOURCE, ExitCode.SOURCE)
    assert error["message"].startswith("pull.path:")
    assert "not a file `dotsync pull` wrote" in error["message"]
    assert "x@example.com" not in stderr

    edited = {"key": ["C1"], "export": ["news"], "address_book_id": [project.book_id]}
    edited |= {"status": ["Gone"], "reason": ["?"], "scope": ["account"]}
    edited |= {"changed_at": [datetime.now(UTC)], "pulled_at": [datetime.now(UTC)]}
    pq.write_table(pa.table(edited, ARROW_SCHEMA), project.folder / "theirs.parquet")
    code, _, stderr = _dotsync(project, "pull", "news")
    said = " ".join(stderr.split())
    assert code == ExitCode.SOURCE
    assert "pull.path: the row of key 'C1' does not say what `dotsync pull` writes" in said
