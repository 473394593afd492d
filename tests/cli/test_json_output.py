"""With --json or --log-format json every line a command prints is JSON: results, progress, run
summaries and errors (message, exit code, configuration key), a failed run included. The README's
cron line gives a JSON-lines file."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from cli.cli_support import DOTSYNC, Cli, Outcome
from support.project import PASSWORD_ENV, Project, profile

CRON_LINE = "{dotsync} export --all --log-format json >> dotsync.jsonl 2>&1"


def _parsed(text: str) -> list[Any]:
    """Every line parsed; a line that is not JSON fails the test, naming the line."""
    values = []
    for line in text.splitlines():
        try:
            values.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}\nin:\n{text}") from None
    return values


def _json_lines(text: str) -> list[dict[str, Any]]:
    """Log lines: each one a JSON object."""
    records = _parsed(text)
    assert all(isinstance(r, dict) for r in records), text
    return records


def _errors(outcome: Outcome) -> list[dict[str, Any]]:
    assert outcome.stdout == "", outcome.stdout
    return [r for r in _json_lines(outcome.stderr) if r.get("event") == "error"]


def _cron(project: Project, password: str) -> int:
    """The README's cron line, run by a shell in the project's folder."""
    done = subprocess.run(
        ["/bin/sh", "-c", CRON_LINE.format(dotsync=DOTSYNC)],
        cwd=project.folder,
        env={**os.environ, PASSWORD_ENV: password, "DOTSYNC_PROGRESS_SECONDS": "0.2"},
        timeout=120,
        check=False,
    )
    return done.returncode


def _set(project: Project, old: str, new: str) -> None:
    text = project.config_path.read_text(encoding="utf-8")
    assert old in text
    project.config_path.write_text(text.replace(old, new), encoding="utf-8")


def test_the_cron_line_writes_a_json_lines_file(project: Project) -> None:
    rows = [profile(i) for i in range(20)]
    rows[4]["email"] = "not-an-email"
    project.write_profiles(rows)
    project.write_config()
    _, password = project.emulator.credentials
    log = project.folder / "dotsync.jsonl"

    assert _cron(project, password) == 0  # a row rejected: still a success without the flag
    first = _json_lines(log.read_text(encoding="utf-8"))
    [summary] = [r for r in first if r.get("event") == "run_summary"]
    assert (summary["export"], summary["status"]) == ("news", "partial")
    assert summary["counts"]["rejected"] == 1 and summary["rejects_file"]
    assert all({"ts", "level", "logger", "message"} <= set(r) for r in first)
    assert "@example.com" not in log.read_text(encoding="utf-8")

    assert _cron(project, "Wr0ng-pa55") == 3  # the same file, a failed run appended
    second = _json_lines(log.read_text(encoding="utf-8"))[len(first) :]
    [failed] = [r for r in second if r.get("event") == "run_summary"]
    assert (failed["export"], failed["status"], failed["exit_code"]) == ("news", "failed", 3)
    [error] = [r for r in second if r.get("event") == "error"]
    assert error["exit_code"] == 3 and error["level"] == "ERROR"
    assert PASSWORD_ENV in error["message"] and "Wr0ng-pa55" not in log.read_text()

    _set(project, 'segments = ["valuable"]', 'segments = ["valuable", "ghosts"]')
    assert _cron(project, password) == 2  # a configuration error: the file gets its line
    third = _json_lines(log.read_text(encoding="utf-8"))[len(first) + len(second) :]
    [config_error] = third
    assert config_error["event"] == "error" and config_error["exit_code"] == 2
    assert config_error["key"] == "exports.news.segments"
    assert "unknown segment 'ghosts'" in config_error["message"]


def test_json_results_are_one_line_and_errors_json_objects(cli: Cli, project: Project) -> None:
    project.write_profiles([profile(i) for i in range(3)])
    project.write_config()

    done = cli.run("export", "news", "--json")
    assert done.code == 0, done.text
    [result] = _parsed(done.stdout)  # one line, whatever the size of the result
    assert isinstance(result, list) and result[0]["counts"]["sent"] == 3
    _json_lines(done.stderr)

    history = cli.run("history", "--json")
    assert len(history.stdout.splitlines()) == 1

    missing = cli.run("history", "--json", "--config", "absent.toml", config=False)
    assert missing.code == 2
    [error] = _errors(missing)
    assert error["exit_code"] == 2 and "absent.toml" in error["message"]
    assert error["key"] is None

    _set(project, 'email = "email"', 'e_mail = "email"')
    for args in (("plan", "news"), ("export", "news"), ("segments",), ("remove", "news")):
        bad = cli.run(*args, "--json")
        assert bad.code == 2, bad.text
        [error] = _errors(bad)
        assert error["key"] == "exports.news.mapping.email"
        assert error["error_type"] == "ConfigError"

    project.write_config()
    unknown = cli.run("show-run", "999", "--json")
    assert (
        unknown.code == 2 and _errors(unknown)[0]["message"] == "no run 999: see `dotsync history`"
    )


def test_usage_errors_and_prompts_with_json(cli: Cli, project: Project) -> None:
    project.write_profiles([profile(1)])
    project.write_config()
    usage = cli.run("export", "news", "--json", "--no-such-flag")
    assert usage.code == 2
    [error] = _errors(usage)
    assert "--no-such-flag" in error["message"] and error["exit_code"] == 2

    in_log = cli.run("export", "--log-format", "json")
    assert in_log.code == 2 and "--all" in _errors(in_log)[0]["message"]

    # remove asks before deleting; JSON output cannot ask, so it says to pass --yes.
    remove = cli.run("remove", "news", "--json")
    assert remove.code == 2 and "--yes" in _errors(remove)[0]["message"]
    removed = cli.run("remove", "news", "--json", "--yes")
    assert removed.code == 0, removed.text
    assert len(removed.stdout.splitlines()) == 1


def test_verbose_json_keeps_every_line_json_and_quiets_http_libraries(
    cli: Cli, project: Project
) -> None:
    project.write_profiles([profile(i) for i in range(3)])
    project.write_config()
    verbose = cli.run("export", "news", "--json", "--verbose")
    assert verbose.code == 0, verbose.text
    records = _json_lines(verbose.stderr)
    loggers = {r["logger"] for r in records}
    assert any(r["level"] == "DEBUG" for r in records)  # dotsync's own debug lines
    assert all(name.startswith("dotsync") for name in loggers), loggers  # no httpx/httpcore

    _set(project, 'where = "lifetime_value > 100"', 'where = "lifetime_value > > 100"')
    failed = cli.run("export", "news", "--json", "--verbose")
    assert failed.code == 8
    [error] = _errors(failed)
    assert "Traceback" in error["traceback"]  # the trace rides in the JSON line


def test_text_verbose_shows_dotsync_debug_without_http_library_lines(
    cli: Cli, project: Project
) -> None:
    project.write_profiles([profile(1)])
    project.write_config()
    verbose = cli.run("connect", "dd", "--verbose")
    assert verbose.code == 0, verbose.text
    assert " DEBUG dotsync." in verbose.stderr or " INFO dotsync." in verbose.stderr
    assert "httpcore" not in verbose.stderr and "httpx" not in verbose.stderr


def test_plan_samples_are_objects_like_show_run_rows(cli: Cli, project: Project) -> None:
    rows = [profile(i) for i in range(4)]
    rows[2]["email"] = "broken"
    project.write_profiles(rows)
    project.write_config()
    plan = json.loads(cli.run("plan", "news", "--json").stdout)
    assert {"key": "C00000", "kind": "enter"} in plan["enter_sample"]
    assert plan["reject_sample"] == [{"key": "C00002", "reason": "invalid_email"}]

    export = cli.run("export", "news")
    assert export.code == 0
    project.write_profiles(rows[:1])
    plan = json.loads(cli.run("plan", "news", "--json").stdout)
    assert {"key": "C00001", "reason": "left"} in plan["leave_sample"]
    run_id = json.loads(cli.run("history", "--json").stdout)[0]["run_id"]
    shown = json.loads(cli.run("show-run", str(run_id), "--json").stdout)
    [rejected] = shown["rejected_rows"]
    assert {"key": "C00002", "reason": "invalid_email"}.items() <= rejected.items()


def test_history_prints_full_values_when_not_a_terminal(cli: Cli, project: Project) -> None:
    project.write_profiles([profile(1)])
    project.write_config(segments=["valuable", "gold"])
    assert cli.run("export", "news").code == 0
    _set(project, "[exports.news]", "[exports.newsletter_for_the_most_valuable_customers]")
    _set(
        project,
        "[exports.news.mapping]",
        "[exports.newsletter_for_the_most_valuable_customers.mapping]",
    )
    long_name = "newsletter_for_the_most_valuable_customers"
    assert cli.run("export", long_name).code == 0
    history = cli.run("history")  # stdout is a pipe
    runs = {r["export"]: r for r in json.loads(cli.run("history", "--json").stdout)}
    for name, run in runs.items():
        started = run["started_at"][:19].replace("T", " ")
        [line] = [line for line in history.stdout.splitlines() if f" {name} " in line]
        assert started in line and run["status"] in line, history.stdout


def test_all_exports_with_one_failing_log_both_and_exit_with_the_failure(
    cli: Cli, project: Project
) -> None:
    project.write_profiles([profile(i) for i in range(3)])
    project.write_config()
    with project.config_path.open("a", encoding="utf-8") as toml:
        toml.write(
            '[segments.broken]\nwhere = "lifetime_value > > 1"\n'
            '[exports.broken]\nconnection = "dd"\nsegments = ["broken"]\n'
            '[exports.broken.mapping]\nemail = "email"\n'
        )
    done = cli.run("export", "--all", "--log-format", "json")
    assert done.code == 8, done.text
    assert done.stdout == ""
    records = _json_lines(done.stderr)
    summaries = {r["export"]: r for r in records if r.get("event") == "run_summary"}
    assert summaries["news"]["status"] == "succeeded"
    assert (summaries["broken"]["status"], summaries["broken"]["exit_code"]) == ("failed", 8)
    [error] = [r for r in records if r.get("event") == "error"]
    assert (error["export"], error["exit_code"]) == ("broken", 8)
    assert error["message"].startswith("broken: ")
