"""``dotsync export`` stopped by the mass-removal guard: exit 9, a message that says how many and
why, the book untouched; ``--allow-mass-removal`` proceeds for that one run."""

from __future__ import annotations

import json

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
