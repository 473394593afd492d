"""``dotsync history | head -1``: a reader that stops early is no bug. The command stops quietly
with 141 (128 + SIGPIPE, as commands stopped by a closed pipe do), not 1 and a bug report."""

from __future__ import annotations

import os
import subprocess

from cli.cli_support import DOTSYNC, Cli
from support.project import Project, profile


def _into_a_closed_pipe(cli: Cli, *args: str) -> tuple[int, str]:
    """Runs the real command with stdout a pipe whose reader has already gone."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [
                str(DOTSYNC),
                *args,
                "--config",
                str(cli.project.config_path),
            ],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **cli.env},
            timeout=60,
            cwd=cli.project.folder,
            check=False,
        )
    finally:
        os.close(write_end)
    return done.returncode, done.stderr


def test_history_into_a_closed_pipe_stops_quietly(cli: Cli, project: Project) -> None:
    project.write_profiles([profile(i) for i in range(3)])
    project.write_config()
    assert cli.run("export", "news").code == 0
    for args in (("history",), ("history", "--json"), ("show-run", "1")):
        code, stderr = _into_a_closed_pipe(cli, *args)
        assert code == 141, (args, code, stderr)
        assert stderr == "", (args, stderr)


def test_head_reads_the_first_line_of_history(cli: Cli, project: Project) -> None:
    project.write_profiles([profile(i) for i in range(3)])
    project.write_config()
    for _ in range(3):
        assert cli.run("export", "news").code == 0
    config = str(project.config_path)
    piped = subprocess.run(
        [
            "/bin/bash",
            "-o",
            "pipefail",
            "-c",
            '"$0" history --config "$1" | head -1',
            DOTSYNC,
            config,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **cli.env},
        timeout=60,
        check=False,
    )
    assert len(piped.stdout.splitlines()) == 1 and piped.stderr == "", piped
    assert piped.returncode in (0, 141), piped  # 0 when all fitted in the pipe before head left
