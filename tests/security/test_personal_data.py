"""Personal data stays where it belongs: no e-mail address in logs (text or JSON, INFO or DEBUG)
unless DOTSYNC_LOG_EMAILS=1; the state and member store hold keys, ids and hashes only;
rejected-rows files are owner-only and expire; no import body outlives its run."""

from __future__ import annotations

import os
import stat
import time

from cli.cli_support import Cli
from security.stored_text import leaks
from support.project import Project, profile

from dotsync.config import load_config

SURNAME = "Vandermolen-Quist"


def _rows() -> list[dict[str, object]]:
    rows = [
        profile(
            i, email=f"pd.person{i}@privacy-test.org", first_name=f"Ysolde{i}", last_name=SURNAME
        )
        for i in range(15)
    ]
    rows[7]["email"] = "broken-address"
    rows[8]["email"] = str(rows[9]["email"]).upper()  # a duplicate
    return rows


def _personal(rows: list[dict[str, object]]) -> list[str]:
    return [
        *{str(r["email"]).lower() for r in rows if "@" in str(r["email"])},
        *{str(r["first_name"]) for r in rows},
        SURNAME,
    ]


def test_logs_state_and_files_hold_no_personal_data(cli: Cli, project: Project) -> None:
    rows = _rows()
    project.write_profiles(rows)
    project.write_config()
    work = load_config(project.config_path).state.work_dir

    logged = [
        cli.run("export", "news", "--verbose", "--log-format", "json"),
        cli.invoke("plan", "news", "--verbose"),
        cli.invoke("connect", "dd", "--verbose"),
    ]
    rows[0]["lifetime_value"] = 1  # a leaver, removed by contact id
    rows[1]["first_name"] = "Ysolde-changed"
    project.write_profiles(rows)
    logged.append(cli.invoke("export", "news", "--verbose"))
    logged.append(cli.invoke("export", "news", "--log-format", "json"))
    assert all(o.code == 0 for o in logged), [o.stderr[-500:] for o in logged]
    assert len(project.members()) == 12  # the data did travel: it is only absent from the logs
    stderr = "\n".join(o.stderr for o in logged)
    assert '"event": "run_summary"' in stderr and " DEBUG " in stderr
    emails = [e for e in _personal(rows) if "@" in e]
    assert [e for e in emails if e in stderr.lower()] == []

    assert leaks(work, [*_personal(rows), "Ysolde-changed"]) == []  # state, members, rejects
    assert not list((work / "runs").rglob("*.json*"))  # no import body outlives the run

    rejects = sorted((work / "rejects").glob("*.csv"))
    assert rejects
    assert stat.S_IMODE((work / "rejects").stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in rejects} == {0o600}


def test_rejected_rows_files_expire_after_the_retention(cli: Cli, project: Project) -> None:
    project.write_profiles(_rows())
    project.write_config()
    text = project.config_path.read_text(encoding="utf-8")
    project.config_path.write_text(
        text.replace("[state]", "[state]\nrejects_retention_days = 2"), encoding="utf-8"
    )
    assert cli.invoke("export", "news").code == 0
    folder = load_config(project.config_path).state.work_dir / "rejects"
    (first,) = folder.glob("*.csv")
    day = 86_400
    os.utime(first, (time.time() - 1.5 * day, time.time() - 1.5 * day))  # within the retention
    assert cli.invoke("export", "news").code == 0
    assert first.exists() and len(list(folder.glob("*.csv"))) == 2
    os.utime(first, (time.time() - 2.5 * day, time.time() - 2.5 * day))  # past it
    assert cli.invoke("export", "news").code == 0
    assert not first.exists() and len(list(folder.glob("*.csv"))) == 2


def test_emails_in_logs_only_when_asked(cli: Cli, project: Project) -> None:
    # A positive control for the redaction in the real command: the run summary line carries the
    # rejected-rows path, here under a work folder named like an address.
    project.write_profiles(_rows())
    project.write_config()
    text = project.config_path.read_text(encoding="utf-8")
    project.config_path.write_text(
        text.replace("[state]", '[state]\nwork_dir = "ops@privacy-test.org"'), encoding="utf-8"
    )
    hidden = cli.run("export", "news", "--log-format", "json")
    assert hidden.code == 0 and '"event": "run_summary"' in hidden.stderr
    assert "ops@privacy-test.org" not in hidden.stderr and "<email>" in hidden.stderr
    shown = cli.invoke("export", "news", "--log-format", "json", env={"DOTSYNC_LOG_EMAILS": "1"})
    assert shown.code == 0 and "ops@privacy-test.org" in shown.stderr


def test_remove_leaves_no_personal_data_behind(cli: Cli, project: Project) -> None:
    rows = _rows()
    project.write_profiles(rows)
    project.write_config()
    assert cli.invoke("export", "news").code == 0
    work = load_config(project.config_path).state.work_dir
    assert cli.invoke("remove", "news", "--yes").code == 0
    assert sorted(p.name for p in work.rglob("*") if p.is_file()) == ["state.sqlite"]
    assert leaks(work, [*_personal(rows), "news-run", "C000"]) == []
