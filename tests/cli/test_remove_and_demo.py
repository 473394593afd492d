"""``dotsync remove`` (confirmation, --purge-members, nothing left behind) and ``dotsync demo``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import duckdb
from cli.cli_support import DOTSYNC, Cli
from support.project import Project, profile

from dotsync.config import load_config
from dotsync.state import StateStore


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_remove_asks_then_forgets_everything_and_purges_the_book(
    cli: Cli, project: Project
) -> None:
    rows = [profile(i) for i in range(8)]
    rows[2]["email"] = "broken"  # so that a rejected-rows file exists
    project.write_profiles(rows)
    project.write_config()
    assert cli.invoke("export", "news").code == 0
    rows[1]["first_name"] = "Changed"
    project.write_profiles(rows)
    assert cli.invoke("export", "news").code == 0
    work = load_config(project.config_path).state.work_dir
    members = set(project.members())
    assert len(members) == 7
    assert list((work / "members").glob("news*")) and list((work / "rejects").glob("news*"))

    declined = cli.invoke("remove", "news", "--purge-members", stdin="n\n")
    assert declined.code == 0 and "nothing was removed" in declined.stderr
    no_answer = cli.run("remove", "news")  # stdin closed, as under cron
    assert no_answer.code == 2 and "--yes" in no_answer.stderr
    assert set(project.members()) == members
    assert len(json.loads(cli.invoke("history", "--json").stdout)) == 2

    removed = cli.invoke("remove", "news", "--purge-members", stdin="y\n")
    assert removed.code == 0, removed.text
    assert "7 members forgotten, 7 removed from the address book" in removed.stdout
    assert project.members() == {}
    with project.emulator.client() as api:  # out of the book, still in the account
        for email in members:
            assert api.get(f"/v2/contacts/{email}").status_code == 200
    assert json.loads(cli.invoke("history", "--json").stdout) == []
    assert _files(work) == [work / "state.sqlite"]
    store = StateStore(load_config(project.config_path).state.url)
    try:
        assert store.members.count("news") == 0
        assert store.pending_imports("news", project.book_id) == []
    finally:
        store.close()

    again = cli.invoke("export", "news", "--json")  # a fresh start: everyone is new again
    assert json.loads(again.stdout)[0]["counts"]["entered"] == 7


def test_remove_with_yes_keeps_the_book(cli: Cli, project: Project) -> None:
    project.write_profiles([profile(i) for i in range(3)])
    project.write_config()
    assert cli.invoke("export", "news").code == 0
    removed = cli.run("remove", "news", "--yes", "--json")
    assert removed.code == 0, removed.text
    report = json.loads(removed.stdout)
    assert (report["members_forgotten"], report["members_removed_from_book"]) == (3, 0)
    assert len(project.members()) == 3


def test_demo(tmp_path: Path) -> None:
    command = [str(DOTSYNC), "demo", "--profiles", "2000", "--json", "--dir", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    outcome = json.loads(done.stdout)
    first, refresh = outcome["first"]["counts"], outcome["refresh"]["counts"]
    # Independent of dotsync: the segments of the demo's configuration, over its profile file.
    with duckdb.connect() as duck:
        row = duck.execute(
            f"select count(*) from '{tmp_path / 'profiles.parquet'}' "
            "where lifetime_value > 1000 or churn_score > 0.8"
        ).fetchone()
    in_segments = int(row[0]) if row else 0
    assert 0 < in_segments < 2000
    assert first["profiles_in_segments"] == in_segments
    assert first["valid"] + first["rejected"] == in_segments
    assert first["rejected"] > 0  # the demo's data has bad e-mails and duplicates
    assert outcome["address_book_contacts"] == first["valid"] - first["suppressed"]
    assert outcome["expected_members"] == first["valid"]
    assert (refresh["sent"], refresh["unchanged"]) == (0, first["valid"])
