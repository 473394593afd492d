"""The main paths of the ``dotsync`` command, through the installed console script."""

from __future__ import annotations

import json

from cli.cli_support import Cli, DataFieldMaker
from support.project import PASSWORD_ENV, Project, profile


def _rows() -> list[dict[str, object]]:
    rows = [profile(i) for i in range(12)]
    rows[3]["email"] = "not-an-email"
    rows[5]["lifetime_value"] = 20  # outside the `valuable` segment (lifetime_value > 100)
    return rows


def test_connect_inspect_plan_export_history_show_run(
    cli: Cli, project: Project, make_data_fields: DataFieldMaker
) -> None:
    rows = _rows()
    project.write_profiles(rows)
    project.write_config()  # maps TIER, which the account lacks; the export may create it
    valuable = [r for r in rows if int(str(r["lifetime_value"])) > 100]
    gold = [r for r in rows if r["tier"] == "gold"]
    expected_emails = {str(r["email"]) for r in valuable} - {"not-an-email"}

    connect = cli.run("connect", "dd")
    assert connect.code == 0, connect.text
    assert "OK" in connect.stdout and f"{project.book_id} 'News'" in connect.stdout
    assert "created on export" in connect.stdout and "TIER" in connect.stdout

    books = cli.run("address-books", "dd", "--json")
    assert books.code == 0, books.text
    assert {(b["id"], b["name"]) for b in json.loads(books.stdout)} >= {(project.book_id, "News")}

    make_data_fields({"TIER": "String"})  # see test_plan_when_the_export_may_create_fields
    segments = cli.run("segments", "--json")
    assert json.loads(segments.stdout) == {"valuable": len(valuable), "gold": len(gold)}

    plan = cli.run("plan", "news", "--json")
    assert plan.code == 0, plan.text
    counts = json.loads(plan.stdout)["counts"]
    assert (
        counts["profiles_in_segments"],
        counts["valid"],
        counts["entered"],
        counts["rejected"],
    ) == (len(valuable), len(expected_emails), len(expected_emails), 1)
    assert project.members() == {}  # a plan sends nothing
    assert not any("import" in call for call in project.emulator.calls())

    first = cli.run("export", "news")
    assert first.code == 0, first.text
    assert "partial" in first.stdout and "invalid_email" in first.stdout
    assert set(project.members()) == expected_emails

    again = cli.run("export", "news", "--json")
    (unchanged,) = json.loads(again.stdout)
    assert (unchanged["counts"]["sent"], unchanged["counts"]["unchanged"]) == (
        0,
        len(expected_emails),
    )

    full = cli.run("export", "--all", "--full", "--json")
    assert full.code == 0, full.text
    assert [r["counts"]["sent"] for r in json.loads(full.stdout)] == [len(expected_emails)]

    history = cli.run("history", "--json")
    runs = json.loads(history.stdout)
    assert [r["counts"]["sent"] for r in sorted(runs, key=lambda r: r["run_id"])] == [
        len(expected_emails),
        0,
        len(expected_emails),
    ]
    first_id = min(r["run_id"] for r in runs)
    shown = cli.run("show-run", str(first_id))
    assert shown.code == 0, shown.text
    assert "C00003" in shown.stdout and "invalid_email" in shown.stdout


def test_wrong_password_names_the_settings_never_the_password_nor_the_address(
    cli: Cli, project: Project
) -> None:
    project.write_profiles([profile(1)])
    project.write_config()
    wrong = "Wr0ng-Pa55word-zq"
    for run, args in (
        (cli.run, ("connect", "dd")),
        (cli.invoke, ("export", "news")),
        (cli.invoke, ("address-books", "dd")),
        (cli.invoke, ("plan", "news")),
    ):
        refused = run(*args, env={PASSWORD_ENV: wrong})
        assert refused.code == 3, refused.text
        assert "connections.dd.api_user" in refused.stderr and PASSWORD_ENV in refused.stderr
        assert wrong not in refused.text
        assert project.api_user not in refused.text  # an e-mail address: never in errors


def test_missing_password_variable_is_a_configuration_error(cli: Cli, project: Project) -> None:
    project.write_profiles([profile(1)])
    project.write_config()
    missing = cli.invoke("connect", "dd", env={PASSWORD_ENV: ""})
    assert missing.code == 2
    assert PASSWORD_ENV in missing.stderr and "password_env" in missing.stderr


def test_plan_when_the_export_may_create_fields(cli: Cli, project: Project) -> None:
    project.write_profiles([profile(i) for i in range(3)])
    project.write_config(create_missing_data_fields=True)  # TIER is not in the account yet
    plan = cli.invoke("plan", "news", "--json")
    assert plan.code == 0, plan.text
    assert json.loads(plan.stdout)["counts"]["entered"] == 3
    with project.emulator.client() as api:  # a plan writes nothing, fields included
        assert "TIER" not in {f["name"] for f in api.get("/v2/data-fields").json()}


def test_connect_warns_of_two_exports_of_one_book_mapping_a_field_apart(
    cli: Cli, project: Project
) -> None:
    """Two exports writing one book, FIRSTNAME from different columns: each run would overwrite
    the other's values. ``connect`` says so (as ``plan`` does), naming both exports and columns."""
    project.write_profiles(_rows())
    project.write_config(create_missing_data_fields=True)
    with project.config_path.open("a", encoding="utf-8") as fh:
        fh.write(
            '[exports.gold]\nconnection = "dd"\nsegments = ["gold"]\n'
            '[exports.gold.mapping]\nemail = "email"\nfirst_name = "last_name"\n'
        )

    shown = cli.run("connect", "dd")
    assert shown.code == 0, shown.text
    assert "warning: data field FIRSTNAME" in shown.stdout
    assert "'gold'" in shown.stdout and "'last_name'" in shown.stdout

    as_json = cli.run("connect", "dd", "--json")
    [conflict] = json.loads(as_json.stdout)["shared_book_conflicts"]
    assert "FIRSTNAME" in conflict and "'first_name'" in conflict


def test_connect_shows_no_warning_when_exports_of_one_book_agree(
    cli: Cli, project: Project
) -> None:
    project.write_profiles(_rows())
    project.write_config(create_missing_data_fields=True)
    with project.config_path.open("a", encoding="utf-8") as fh:
        fh.write(
            '[exports.gold]\nconnection = "dd"\nsegments = ["gold"]\n'
            '[exports.gold.mapping]\nemail = "email"\nfirst_name = "first_name"\n'
        )
    as_json = cli.run("connect", "dd", "--json")
    assert as_json.code == 0, as_json.text
    assert json.loads(as_json.stdout)["shared_book_conflicts"] == []
