"""``dotsync export`` stopped by the mass-removal guard: exit 9, a message that says how many and
why, the book untouched; ``--allow-mass-removal`` proceeds for that one run."""

from __future__ import annotations

import json
import re

from cli.cli_support import Cli
from support.project import Project, profile


def test_guard_exit_code_message_and_override(cli: Cli, project: Project) -> None:
    rows = [profile(i) for i in range(12)]
    project.write_profiles(rows)
    project.write_config()
    assert cli.run("export", "news").code == 0
    project.write_profiles([{**r, "lifetime_value": 0} for r in rows])

    plan = cli.invoke("plan", "news", "--json")
    assert plan.code == 0, plan.text
    assert "came back empty" in json.loads(plan.stdout)["mass_removal"]

    stopped = cli.run("export", "news")
    assert stopped.code == 9, stopped.text
    assert "12 members" in stopped.stderr and "--allow-mass-removal" in stopped.stderr
    assert len(project.members()) == 12

    allowed = cli.run("export", "news", "--allow-mass-removal", "--json")
    assert allowed.code == 0, allowed.text
    assert json.loads(allowed.stdout)[0]["counts"]["removed"] == 12
    assert project.members() == {}


def _words(text: str) -> str:
    return " ".join(text.split())  # a long line may wrap at the terminal's width


def test_guard_names_the_export_to_override_and_a_plan_sends_nothing(
    cli: Cli, project: Project
) -> None:
    rows = [profile(i) for i in range(12)]
    project.write_profiles(rows)
    project.write_config()
    assert cli.run("export", "news").code == 0
    project.write_profiles([{**r, "lifetime_value": 0} for r in rows])

    plan = cli.run("plan", "news")
    assert plan.code == 0, plan.text
    said = _words(plan.stdout)
    assert "`dotsync export news` would stop here: export 'news': its segments came back" in said
    assert "Nothing was removed or sent" not in said and "an export would stop" not in said
    (leave,) = [line for line in plan.stdout.splitlines() if line.startswith("leave sample: ")]
    assert "C00000" in leave and "(left)" not in leave

    stopped = cli.run("export", "news")
    assert stopped.code == 9, stopped.text
    said = _words(stopped.stderr)
    assert "Nothing was removed or sent" in said
    override = re.search(r"run `dotsync (export news --allow-mass-removal)` once", said)
    assert override is not None, said
    pasted = cli.run(*override.group(1).split())
    assert pasted.code == 0, pasted.text
    assert project.members() == {}


def test_export_without_a_name_lists_the_known_ones(cli: Cli, project: Project) -> None:
    project.write_profiles([profile(1)])
    project.write_config()
    unnamed = cli.run("export")
    assert unnamed.code == 2, unnamed.text
    assert "name an export (known: news) or pass --all" in _words(unnamed.stderr)
    assert "not both" not in unnamed.stderr
    both = cli.run("export", "news", "--all")
    assert both.code == 2 and "name one export, or pass --all (not both)" in _words(both.stderr)
