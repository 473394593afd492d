"""The examples (examples/quickstart, examples/pull) work as written, and as their READMEs say,
against the emulator."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from dotsync.cli import app
from dotsync.config import load_config
from dotsync.emulator import RunningEmulator
from dotsync.runner import run_export

EXAMPLE = Path(__file__).parents[1] / "examples" / "quickstart"
DOTSYNC = Path(sys.executable).with_name("dotsync")  # the venv's console script


def test_quickstart_exports_its_segments(
    emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "quickstart"
    shutil.copytree(EXAMPLE, folder)
    with emulator.client() as api:
        book = api.post("/v2/address-books", json={"name": "Newsletter"}).json()["id"]
    text = (folder / "dotsync.toml").read_text(encoding="utf-8")
    text = text.replace("address_book_id = 3", f"address_book_id = {book}")
    text = text.replace("http://127.0.0.1:8765", emulator.base_url)
    (folder / "dotsync.toml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("DOTDIGITAL_PASSWORD", emulator.credentials[1])

    result = run_export(load_config(folder / "dotsync.toml"), "newsletter")

    members = {m["email"] for m in emulator.book_members(emulator.credentials[0], book)}
    # C002 and C005 by churn, C001/C003 by value; C004's e-mail is invalid; C006 duplicates C001
    assert members == {
        "ann.lee@example.com",
        "bob@example.org",
        "chloe+news@example.com",
        "eve@exämple.de",
    }
    assert result.counts.rejected_by_reason == {"invalid_email": 1, "duplicate_email": 1}


def test_quickstart_readme_commands_do_what_it_says(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    """The README of examples/quickstart, followed: its curl creates book 3, then each of its
    dotsync commands runs (against this test's emulator) and says what the README says."""
    readme = (EXAMPLE / "README.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```bash\n(.*?)```", readme, re.S) if "curl" in b]
    folder = tmp_path / "quickstart"
    shutil.copytree(EXAMPLE, folder)
    config = folder / "dotsync.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("http://127.0.0.1:8765", emulator.base_url),
        encoding="utf-8",
    )
    with emulator.client() as api:
        assert api.post("/v2/address-books", json={"name": "Newsletter"}).json()["id"] == 3
    env = {**os.environ, "DOTDIGITAL_PASSWORD": emulator.credentials[1]}
    commands = [
        shlex.split(line.split("#")[0])
        for line in block.splitlines()
        if line.startswith("dotsync ")
    ]
    assert [c[1] for c in commands] == ["connect", "segments", "plan", "export"]
    said = {}
    for command in commands:
        done = subprocess.run(
            [str(DOTSYNC), *command[1:], "--json"],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        said[command[1]] = json.loads(done.stdout)
    planned = said["plan"]["counts"]
    assert planned["segment_sizes"] == {"high_value": 4, "churn_risk": 2}
    assert (planned["entered"], planned["rejected"]) == (4, 2)
    (run,) = said["export"]
    assert (run["status"], run["counts"]["sent"]) == ("partial", 4)
    assert run["counts"]["rejected_by_reason"] == {"invalid_email": 1, "duplicate_email": 1}


PULL_EXAMPLE = Path(__file__).parents[1] / "examples" / "pull"


def _commands(block: str) -> list[list[str]]:
    """The block's commands, a line continued by a backslash joined to the next."""
    joined = block.replace("\\\n", " ")
    return [shlex.split(line.split(" #")[0]) for line in joined.splitlines() if line.strip()]


def _curl(emulator: RunningEmulator, command: list[str]) -> None:
    """A curl of the README, sent to this test's emulator."""
    url = next(arg for arg in command if arg.startswith("http://127.0.0.1:8765"))
    body = json.loads(command[command.index("-d") + 1])
    auth = None
    if "-u" in command:
        user, password = command[command.index("-u") + 1].split(":", 1)
        auth = (user, password)
    reply = httpx.post(
        url.replace("http://127.0.0.1:8765", emulator.base_url), json=body, auth=auth
    )
    reply.raise_for_status()


def test_pull_example_readme_leaves_out_who_unsubscribed_or_bounced(
    emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """examples/pull's README, followed: its curls against this test's emulator, its dotsync
    commands in process (with --json), each saying what the README says."""
    readme = (PULL_EXAMPLE / "README.md").read_text(encoding="utf-8")
    blocks = [_commands(b) for b in re.findall(r"```bash\n(.*?)```", readme, re.S) if "curl" in b]
    folder = tmp_path / "pull"
    shutil.copytree(PULL_EXAMPLE, folder)
    config = folder / "dotsync.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("http://127.0.0.1:8765", emulator.base_url),
        encoding="utf-8",
    )
    monkeypatch.chdir(folder)
    monkeypatch.setenv("DOTDIGITAL_PASSWORD", emulator.credentials[1])
    said: list[tuple[str, Any]] = []
    for command in [c for block in blocks for c in block]:
        if command[0] == "curl":
            _curl(emulator, command)
        elif command[0] == "dotsync":
            done = CliRunner().invoke(app, [*command[1:], "--json"], catch_exceptions=False)
            assert done.exit_code == 0, done.stderr
            said.append((command[1], json.loads(done.stdout)))
    assert [s for s, _ in said] == ["pull", "export", "pull", "export"]
    (first_pull,), (first_run,), (pull,), (run,) = (out for _, out in said)
    assert first_pull["status"] == "skipped"
    assert first_run["counts"]["sent"] == 5
    assert pull["counts"]["written"] == {"Subscribed": 0, "Unsubscribed": 1, "Suppressed": 1}
    assert (run["counts"]["left"], run["counts"]["removed"]) == (2, 2)
    members = {m["email"] for m in emulator.book_members(emulator.credentials[0], 3)}
    assert members == {"chloe@example.com", "eve@example.de", "femi@example.com"}
