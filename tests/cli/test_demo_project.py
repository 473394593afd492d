"""``dotsync demo --dir X`` leaves a project that runs again: the test follows the commands the
demo prints (start the emulator on its data, run the export) and checks that they work."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from cli.cli_support import DOTSYNC

PROFILES = 600


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _path(*, with_venv: bool) -> str:
    """PATH with the venv's ``bin`` first (an activated venv), or without it (the README's
    ``.venv/bin/dotsync demo``, typed without activating it)."""
    rest = [d for d in os.environ.get("PATH", "").split(os.pathsep) if Path(d) != DOTSYNC.parent]
    return os.pathsep.join([str(DOTSYNC.parent), *rest] if with_venv else rest)


def _dotsync(
    args: list[str], cwd: Path, *, venv_on_path: bool = False
) -> subprocess.CompletedProcess[str]:
    """The demo's output with stderr folded into stdout, to check what comes before what."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOTSYNC_")}
    return subprocess.run(
        [str(DOTSYNC), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=180,
        cwd=cwd,
        env={**env, "PATH": _path(with_venv=venv_on_path)},
        check=False,
    )


def _printed_commands(output: str) -> list[list[str]]:
    """The indented ``cd DIR && dotsync ...`` lines at the end, as (folder, argv) pairs."""
    lines = [line.strip() for line in output.splitlines() if line.startswith("  cd ")]
    assert len(lines) == 2, output
    return [shlex.split(line) for line in lines]


def _argv(command: list[str], cwd: Path) -> tuple[Path, list[str]]:
    # dotsync is not on PATH in these runs: the commands name the one that ran, by its path.
    assert command[0] == "cd" and command[2] == "&&" and command[3] == str(DOTSYNC), command
    return cwd / command[1], [str(DOTSYNC), *command[4:]]


@contextmanager
def _started(argv: list[str], folder: Path, port: int) -> Iterator[None]:
    process = subprocess.Popen(
        argv, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/_emulator/state", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, "no emulator"
                time.sleep(0.05)
        yield
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.mark.long
def test_demo_leaves_a_project_that_runs_again(tmp_path: Path) -> None:
    port = _free_port()
    demo = _dotsync(
        ["demo", "--profiles", str(PROFILES), "--dir", "project", "--port", str(port)], tmp_path
    )
    assert demo.returncode == 0, demo.stdout
    output = demo.stdout
    assert "Traceback" not in output

    # Run 1's summary comes before the refresh starts; each `partial` is explained under it.
    words = " ".join(output.split())  # a table's title may wrap
    first, refresh = words.index("run 1 partial"), words.index("run 2 partial")
    assert first < words.index("refreshing") < refresh
    legends = [line for line in output.splitlines() if line.startswith("partial: finished, but")]
    assert len(legends) == 2 and "rows were rejected before sending" in legends[0]
    assert words.index("run 1 partial") < words.index(legends[0]) < words.index("refreshing")

    folder = tmp_path / "project"
    for name in ("README.md", "dotsync.toml", "profiles.parquet", "emulator.sqlite"):
        assert (folder / name).is_file(), name
    assert (folder / "demo-password").stat().st_mode & 0o077 == 0

    (start_folder, start), (run_folder, run) = (
        _argv(command, tmp_path) for command in _printed_commands(output)
    )
    assert start[1:] == ["emulator", "--state", "emulator.sqlite", "--port", str(port)]
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert shlex.join(["dotsync", *start[1:]]) in readme
    assert shlex.join(["dotsync", *run[1:]]) in readme

    # Running the demo again over its own folder needs --force: the project may have been edited.
    config = folder / "dotsync.toml"
    edited = config.read_text(encoding="utf-8") + "# my edit\n"
    config.write_text(edited, encoding="utf-8")
    kept = _dotsync(
        ["demo", "--profiles", "100", "--dir", "project", "--port", str(port)], tmp_path
    )
    assert kept.returncode == 2, kept.stdout
    assert "holds an earlier demo" in kept.stdout and "pass --force to replace it" in kept.stdout
    assert config.read_text(encoding="utf-8") == edited
    assert (folder / "emulator.sqlite").is_file()

    with _started(start, start_folder, port):
        # Not even with --force while the emulator it printed serves the project's data.
        busy = _dotsync(
            ["demo", "--profiles", "100", "--dir", "project", "--port", str(port), "--force"],
            tmp_path,
        )
        assert busy.returncode == 2, busy.stdout
        assert "emulator.sqlite is open in a running program" in " ".join(busy.stdout.split())
        assert config.read_text(encoding="utf-8") == edited
        again = subprocess.run(
            run, cwd=run_folder, capture_output=True, text=True, timeout=120, check=False
        )
        assert again.returncode == 0, again.stderr
        assert "run 3 partial" in " ".join(again.stdout.split())
        assert "partial: finished, but" in again.stdout
        # The book survived the demo's emulator: nothing to send, every member unchanged.
        counted = subprocess.run(
            [*run, "--json"],
            cwd=run_folder,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert counted.returncode == 0, counted.stderr
        (result,) = json.loads(counted.stdout)
        counts = result["counts"]
        assert counts["sent"] == 0 and counts["entered"] == 0
        assert counts["unchanged"] == counts["valid"] > 0

    # Something else answering on the project's port (an emulator started without --state).
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        answered = _dotsync(
            ["demo", "--profiles", "100", "--dir", "project", "--port", str(port), "--force"],
            tmp_path,
        )
    assert answered.returncode == 2, answered.stdout
    assert f"something answers on port {port}" in " ".join(answered.stdout.split())

    # With --force and nothing running, the demo starts over.
    rerun = _dotsync(
        ["demo", "--profiles", str(PROFILES), "--dir", "project", "--port", str(port), "--force"],
        tmp_path,
    )
    assert rerun.returncode == 0, rerun.stdout
    assert "starting over" in rerun.stdout and "run 1 partial" in " ".join(rerun.stdout.split())
    assert "# my edit" not in config.read_text(encoding="utf-8")


def test_demo_leaves_another_project_alone(tmp_path: Path) -> None:
    (tmp_path / "dotsync.toml").write_text("[source]\n", encoding="utf-8")
    refused = _dotsync(["demo", "--profiles", "100", "--dir", "."], tmp_path)
    assert refused.returncode == 2, refused.stdout
    assert "already holds dotsync.toml, which the demo did not write" in refused.stdout
    assert (tmp_path / "dotsync.toml").read_text(encoding="utf-8") == "[source]\n"


def test_demo_without_dir_refuses_port_and_says_its_files_are_gone(tmp_path: Path) -> None:
    refused = _dotsync(["demo", "--profiles", "100", "--port", "9999"], tmp_path)
    assert refused.returncode == 2, refused.stdout
    assert "--port applies to the project left by --dir: pass --dir FOLDER too" in refused.stdout

    for venv_on_path, program in ((True, "dotsync"), (False, str(DOTSYNC))):
        temporary = _dotsync(["demo", "--profiles", "100"], tmp_path, venv_on_path=venv_on_path)
        assert temporary.returncode == 0, temporary.stdout
        words = " ".join(temporary.stdout.split())
        assert "were in a temporary folder, deleted now" in words
        assert f"`{program} demo --dir demo` keeps them" in words
    assert list(tmp_path.iterdir()) == []  # nothing left behind
