"""The first admin through the one-time setup link, and the users page used with the keyboard
alone; axe-core on each page."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from console.conftest import ServeFactory
from console.console_support import ADMIN, ConsoleServer, check_axe, screenshot, start_serve
from playwright.sync_api import Page


def test_the_setup_link_creates_the_first_admin_once(
    tmp_path: Path, serve_factory: ServeFactory, new_page: Callable[..., Page]
) -> None:
    server = serve_factory(tmp_path, users=False)  # an empty folder: no dotsync.toml, no user
    link = server.setup_link()
    assert link is not None, server.log()
    assert httpx.get(f"{server.url}/setup?token=guessed").status_code == 403

    page = new_page()
    page.goto(link)
    check_axe(page)
    screenshot(page, "setup")
    page.get_by_label("User name").fill("first")
    page.get_by_label("Password", exact=True).fill("first-password-1")
    page.get_by_label("Password again").fill("another-password")
    page.get_by_role("button", name="Create the admin").click()
    assert page.get_by_role("alert").inner_text() == "the two passwords differ"
    page.get_by_label("Password", exact=True).fill("first-password-1")
    page.get_by_label("Password again").fill("first-password-1")
    page.get_by_role("button", name="Create the admin").click()
    page.wait_for_url("**/users")
    assert (
        page.get_by_role("row").filter(has_text="first").get_by_role("cell").first.inner_text()
        == "admin"
    )

    again = new_page()
    again.goto(link)  # used: it works once
    assert again.get_by_text("set up already").is_visible()
    assert httpx.get(link).status_code == 410

    # A restart with an admin prints no new link.
    assert server.stop() == 0
    restarted = start_serve(tmp_path)
    try:
        assert restarted.setup_link() is None, restarted.log()
    finally:
        restarted.kill()


def test_sign_in_and_add_a_user_with_the_keyboard_alone(
    console_server: ConsoleServer, new_page: Callable[..., Page]
) -> None:
    page = new_page()
    page.goto(f"{console_server.url}/login")
    # The name field has the focus: type, Tab to the password, Enter sends the form. Chromium
    # moves the focus to an autofocus field at its next rendering step, which can come after the
    # load event `goto` waits for: wait for it, or the first keys go to the page's body.
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'name'")
    page.keyboard.type(ADMIN.name)
    page.keyboard.press("Tab")
    page.keyboard.type(ADMIN.password)
    page.keyboard.press("Enter")
    page.wait_for_url("**/destinations")
    page.goto(f"{console_server.url}/users")
    check_axe(page)
    screenshot(page, "users")

    for _ in range(80):  # Tab through the page to the new user's name
        if page.evaluate("() => document.activeElement && document.activeElement.id") == "new-name":
            break
        page.keyboard.press("Tab")
    else:
        raise AssertionError("the add-user form cannot be reached with Tab")
    page.keyboard.type("kim")
    page.keyboard.press("Tab")
    page.keyboard.press("ArrowUp")  # viewer -> contributor
    page.keyboard.press("Tab")
    page.keyboard.type("kim-password-1")
    page.keyboard.press("Tab")
    page.keyboard.type("kim-password-1")
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    assert page.get_by_role("status").inner_text() == "User kim added."
    row = page.get_by_role("row").filter(has_text="kim")
    assert row.get_by_role("cell").first.inner_text() == "contributor"
    assert row.get_by_role("cell").nth(2).inner_text() == ADMIN.name  # added by


def test_the_audit_page_lists_who_did_what(
    console_server: ConsoleServer, page_as: Callable[..., Page]
) -> None:
    page = page_as(ADMIN, console_server)
    page.goto(f"{console_server.url}/audit")
    check_axe(page)
    screenshot(page, "audit")
    assert page.get_by_role("row").filter(has_text="login").count() >= 1
    page.get_by_label("Only what concerns").fill(ADMIN.name)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/audit?target={ADMIN.name}")
    targets = page.locator("tbody tr td:nth-child(4)").all_inner_texts()
    assert targets and set(targets) == {ADMIN.name}
    assert "@" not in page.content()  # no e-mail address on the page
