"""The mass-removal guard against the emulator: an empty source, a ``where`` that matches nobody,
or a large share of leavers stops the run before it removes or sends anything; the book read back
through the API is exactly what it was. ``allow_mass_removal`` lets one run proceed."""

from __future__ import annotations

import pytest
from support.project import Project, profile

from dotsync.config import load_config
from dotsync.errors import ExitCode, MassRemovalError
from dotsync.result import RunStatus
from dotsync.runner import plan_export


def _emails(rows: list[dict[str, object]]) -> set[str]:
    return {str(r["email"]) for r in rows if float(str(r["lifetime_value"])) > 100}


def test_an_empty_source_stops_before_removing_or_sending(project: Project) -> None:
    rows = [profile(i) for i in range(12)]
    project.write_profiles(rows)
    project.write_config()
    project.run()
    # a broken upstream job zeroed every value: the segment matches nobody
    project.write_profiles([{**r, "lifetime_value": 0} for r in rows])
    project.emulator.reset_calls()

    with pytest.raises(MassRemovalError) as caught:
        project.run()

    assert caught.value.exit_code is ExitCode.MASS_REMOVAL
    assert int(ExitCode.MASS_REMOVAL) == 9  # documented in the README
    assert "came back empty" in str(caught.value) and "12" in str(caught.value)
    assert set(project.members()) == _emails(rows)
    calls = project.emulator.calls()
    assert not any("import" in c or "delete" in c.lower() for c in calls), calls
    dry = plan_export(load_config(project.config_path), "news")
    assert dry.mass_removal is not None and "empty" in dry.mass_removal

    allowed = project.run(allow_mass_removal=True)
    assert allowed.status is RunStatus.SUCCEEDED and allowed.counts.removed == 12
    assert project.members() == {}


def test_a_where_that_matches_nobody_stops_with_its_exit_code(project: Project) -> None:
    rows = [profile(i) for i in range(15)]
    project.write_profiles(rows)
    project.write_config()
    project.run()
    project.write_config(segments=["gold"])
    project.write_profiles([{**r, "tier": "bronze"} for r in rows])  # nobody is gold any more

    with pytest.raises(MassRemovalError):
        project.run()
    assert set(project.members()) == _emails(rows)


def test_a_large_share_of_leavers_stops_and_a_small_one_goes_on(project: Project) -> None:
    rows = [profile(i) for i in range(40)]
    project.write_profiles(rows)
    project.write_config()
    project.run()

    few = [dict(r) for r in rows]
    for r in few[:5]:  # 5 of 40 leave: under the floor of 10
        r["lifetime_value"] = 1
    many = [dict(r) for r in few]
    for r in many[5:20]:  # 20 of the 35 members left: 57 %
        r["lifetime_value"] = 1
    many[30]["email"] = "moved@example.com"  # a changed e-mail is not a leaver
    project.write_profiles(few)
    assert project.run().counts.removed == 5

    project.write_profiles(many)
    with pytest.raises(MassRemovalError) as caught:
        project.run()
    assert "15 of its 35 members" in str(caught.value)
    assert set(project.members()) == _emails(few)

    project.write_config(max_removal_fraction=0.5)
    assert project.run().counts.removed == 16  # 15 leavers and the old contact of the move
    assert set(project.members()) == _emails(many)
