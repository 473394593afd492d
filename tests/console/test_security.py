"""What the server refuses, whatever a page shows: requests without the CSRF token, actions above
the user's role (sent directly, with a valid token), repeated wrong passwords; and sessions that
end when the user's role changes or the user goes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from console.conftest import ServeFactory
from console.console_support import (
    ADMIN,
    CONTRIBUTOR,
    VIEWER,
    ConsoleServer,
    Person,
    csrf_of,
    http_session,
)
from playwright.sync_api import Page

from dotsync.console.context import ConsoleState, ProjectPaths
from dotsync.console.users import Role


def user_names(server: ConsoleServer) -> set[str]:
    state = ConsoleState(ProjectPaths.of(server.folder / "dotsync.toml"))
    try:
        return {account.name for account in state.accounts.all()}
    finally:
        state.close()


def audit_actions(server: ConsoleServer) -> list[tuple[str, str, str, str]]:
    state = ConsoleState(ProjectPaths.of(server.folder / "dotsync.toml"))
    try:
        return [(e.actor, e.action, e.target, e.outcome) for e in state.audit_entries()]
    finally:
        state.close()


NEW_USER = {"name": "newbie", "role": "viewer", "password": "x" * 12, "confirm": "x" * 12}


@pytest.mark.parametrize("token", ["", "forged-token"], ids=["no-token", "wrong-token"])
def test_a_post_without_the_session_token_is_refused(
    console_server: ConsoleServer, token: str
) -> None:
    with http_session(console_server, ADMIN) as (client, _right):
        refused = client.post("/users", data={**NEW_USER, "csrf_token": token})
        assert refused.status_code == 403
        assert "did not come from this console" in refused.text
        header = client.post("/users", data=NEW_USER, headers={"X-CSRF-Token": token or "x"})
        assert header.status_code == 403
    assert "newbie" not in user_names(console_server)


@pytest.mark.parametrize("person", [VIEWER, CONTRIBUTOR], ids=["viewer", "contributor"])
def test_admin_actions_are_refused_by_the_server_to_other_roles(
    console_server: ConsoleServer, person: Person
) -> None:
    with http_session(console_server, person) as (client, token):
        for path, data in [
            ("/users", {**NEW_USER, "name": f"by-{person.name}"}),
            (f"/users/{VIEWER.name}/role", {"role": "admin"}),
            (f"/users/{ADMIN.name}/remove", {}),
        ]:
            refused = client.post(path, data={**data, "csrf_token": token})
            assert refused.status_code == 403, path
            assert "does not allow this" in refused.text
        assert client.get("/users").status_code == 403
        assert client.get("/audit").status_code == 403
    assert f"by-{person.name}" not in user_names(console_server)
    denied = [a for a in audit_actions(console_server) if a[1] == "access.denied"]
    assert (person.name, "access.denied", "/users", "refused") in denied


def test_the_csrf_header_is_accepted_like_the_field(console_server: ConsoleServer) -> None:
    with http_session(console_server, ADMIN) as (client, token):
        done = client.post(
            "/users", data={**NEW_USER, "name": "by-header"}, headers={"X-CSRF-Token": token}
        )
        assert done.status_code == 303
    assert "by-header" in user_names(console_server)


def test_repeated_wrong_passwords_are_throttled(
    tmp_path: Path, serve_factory: ServeFactory
) -> None:
    server = serve_factory(tmp_path)
    with http_session(server) as (client, token):
        for _ in range(5):
            wrong = client.post(
                "/login",
                data={"name": VIEWER.name, "password": "wrong-password", "csrf_token": token},
            )
            assert wrong.status_code == 401
        right = {"name": VIEWER.name, "password": VIEWER.password, "csrf_token": token}
        throttled = client.post("/login", data=right)
        assert throttled.status_code == 429  # even the right password waits: no oracle
        assert 0 < int(throttled.headers["retry-after"]) <= 15 * 60
        assert "Too many failed sign-ins" in throttled.text
        other = {"name": ADMIN.name, "password": ADMIN.password, "csrf_token": token}
        assert client.post("/login", data=other).status_code == 303  # another user may sign in
    actions = [a[1] for a in audit_actions(server)]
    assert actions.count("login.failed") == 5 and "login.throttled" in actions


def test_a_role_change_and_a_removal_end_the_users_sessions(
    console_server: ConsoleServer, page_as: Callable[..., Page]
) -> None:
    admin = page_as(ADMIN, console_server)
    viewer = page_as(VIEWER, console_server)
    viewer.goto(f"{console_server.url}/audit")
    assert (
        "/login" not in viewer.url
        and viewer.get_by_role("heading", name="Not allowed").is_visible()
    )

    admin.goto(f"{console_server.url}/users")
    row = admin.get_by_role("row").filter(has_text=VIEWER.name)
    row.get_by_label(f"Role of {VIEWER.name}").select_option("contributor")
    row.get_by_role("button", name="Change role").click()
    admin.wait_for_load_state()
    assert admin.get_by_role("status").inner_text() == f"{VIEWER.name} is now contributor."
    viewer.reload()
    assert "/login" in viewer.url  # the old role's session ended

    # Back to viewer, for the module's other tests.

    admin.get_by_role("row").filter(has_text=VIEWER.name).get_by_label(
        f"Role of {VIEWER.name}"
    ).select_option("viewer")
    admin.get_by_role("row").filter(has_text=VIEWER.name).get_by_role(
        "button", name="Change role"
    ).click()
    admin.wait_for_load_state()
    assert ("ada", "user.role", VIEWER.name, "ok") in audit_actions(console_server)


def test_removing_a_user_ends_their_session(
    console_server: ConsoleServer, page_as: Callable[..., Page]
) -> None:
    leaver = Person("leaver", Role.CONTRIBUTOR, "leaver-password-1")
    with http_session(console_server, ADMIN) as (admin_client, token):
        data = {
            "name": leaver.name,
            "role": "contributor",
            "password": leaver.password,
            "confirm": leaver.password,
            "csrf_token": token,
        }
        assert admin_client.post("/users", data=data).status_code == 303
        page = page_as(leaver, console_server)
        page.goto(f"{console_server.url}/destinations")
        assert "/login" not in page.url
        removed = admin_client.post(f"/users/{leaver.name}/remove", data={"csrf_token": token})
        assert removed.status_code == 303
    page.reload()
    assert "/login" in page.url


def test_the_last_admin_cannot_be_removed_nor_demoted(console_server: ConsoleServer) -> None:
    with http_session(console_server, ADMIN) as (client, token):
        demoted = client.post(
            f"/users/{ADMIN.name}/role", data={"role": "viewer", "csrf_token": token}
        )
        assert demoted.status_code == 400 and "only admin" in demoted.text
        removed = client.post(f"/users/{ADMIN.name}/remove", data={"csrf_token": token})
        assert removed.status_code == 400 and "only admin" in removed.text
        assert csrf_of(client.get("/users").text) == token  # still signed in
