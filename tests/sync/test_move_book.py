"""A changed ``address_book_id``: ``plan`` shows it, ``export`` stops with instructions and sends
nothing; ``--move-book`` exports everyone to the new book, then removes from the old one what
dotsync added there (ledger rules), also when the old book no longer exists."""

from __future__ import annotations

import pytest
from support.project import Project, profile

from dotsync.config import load_config
from dotsync.errors import BookChangedError, ExitCode
from dotsync.runner import plan_export


def _new_book(project: Project, name: str) -> int:
    with project.emulator.client() as api:
        return int(api.post("/v2/address-books", json={"name": name}).json()["id"])


def _book(project: Project, book_id: int) -> set[str]:
    return {m["email"].lower() for m in project.emulator.book_members(project.api_user, book_id)}


def test_a_changed_book_stops_then_moves(project: Project) -> None:
    old = project.book_id
    with project.emulator.client() as api:  # in the old book before dotsync
        api.post(f"/v2/address-books/{old}/contacts", json={"email": "person2@example.com"})
    rows = [profile(i) for i in range(5)]
    project.write_profiles(rows)
    project.write_config()
    project.run()
    everyone = {f"person{i}@example.com" for i in range(5)}
    assert _book(project, old) == everyone

    project.book_id = new = _new_book(project, "News 2")
    project.write_config()
    dry = plan_export(load_config(project.config_path), "news")
    assert dry.book_change is not None and "--move-book" in dry.book_change
    with pytest.raises(BookChangedError) as caught:
        project.run()
    assert caught.value.exit_code is ExitCode.CONFIG
    assert f"address book {old}" in str(caught.value)
    assert _book(project, new) == set() and _book(project, old) == everyone

    moved = project.run(move_book=True)
    assert moved.counts.sent == 5 and moved.counts.removed_from_previous_book == 4
    assert _book(project, new) == everyone
    assert _book(project, old) == {"person2@example.com"}  # found there: never dotsync's
    again = project.run()
    assert (again.counts.sent, again.counts.removed) == (0, 0)


def test_a_move_copes_with_an_old_book_that_is_gone(project: Project) -> None:
    old = project.book_id
    rows = [profile(i) for i in range(3)]
    project.write_profiles(rows)
    project.write_config()
    project.run()
    project.book_id = new = _new_book(project, "News 3")
    with project.emulator.client() as api:
        api.delete(f"/v2/address-books/{old}").raise_for_status()
    project.write_config()

    moved = project.run(move_book=True)

    assert moved.counts.removed_from_previous_book == 0, moved.counts
    assert moved.counts.sent == 3, moved.counts
    assert _book(project, new) == {f"person{i}@example.com" for i in range(3)}
    assert project.run().counts.sent == 0
