"""Roles checked by the server for every action, forms that refuse what cannot be saved (with the
CLI's messages beside their fields), an edit made on disk meanwhile, and the pages in French.
The tests share one project and leave it as they found it."""

from __future__ import annotations

from collections.abc import Callable

from console.console_support import (
    ADMIN,
    CONTRIBUTOR,
    VIEWER,
    Person,
    check_axe,
    http_session,
    screenshot,
)
from console.pages.conftest import Project
from console.pages.pages_support import connect, visit
from playwright.sync_api import Page, expect

from dotsync.config import load_config
from dotsync.console.context import ConsoleState, ProjectPaths

# What each role may not do, asked straight from HTTP as a crafted request would: the server
# refuses each (403) and changes nothing, whatever the pages show.
REFUSED: list[tuple[Person, str, dict[str, str]]] = [
    (VIEWER, "/exports/news/run-now", {}),
    (VIEWER, "/exports/news/cancel", {}),
    (VIEWER, "/exports/news/detach", {}),
    (VIEWER, "/exports", {"existing": "news", "connection": "dd", "segments": "valuable"}),
    (VIEWER, "/segments", {"name": "all", "kind": "where", "definition": "true"}),
    (VIEWER, "/source", {"path": "other.csv", "key": "id"}),
    (CONTRIBUTOR, "/exports/other/run-now", {}),  # its connection is not shared with carl
    (CONTRIBUTOR, "/exports/other/remove", {"confirm": "other"}),
    (CONTRIBUTOR, "/segments", {"name": "peek", "kind": "sql", "definition": "select 1"}),
    (CONTRIBUTOR, "/connections", {"name": "mine", "privacy": "yes"}),
    (CONTRIBUTOR, "/source", {"path": "other.csv", "key": "id"}),
]


def test_the_server_refuses_what_a_role_may_not_do(project: Project) -> None:
    before = project.config_path.read_text(encoding="utf-8")
    answers: dict[str, int] = {}
    for person in (VIEWER, CONTRIBUTOR):
        with http_session(project.server, person) as (client, token):
            assert client.get("/exports/news/run").status_code == 200  # reading is allowed
            for who, path, form in REFUSED:
                if who == person:
                    reply = client.post(path, data={**form, "csrf_token": token})
                    answers[f"{person.role.value} {path} {form}"] = reply.status_code
    assert answers == dict.fromkeys(answers, 403)
    assert len(answers) == len(REFUSED)
    assert project.config_path.read_text(encoding="utf-8") == before
    state = ConsoleState(ProjectPaths.of(project.config_path))
    try:
        assert state.run_requests() == []  # neither a run nor a cancel was recorded
    finally:
        state.close()


def test_buttons_follow_the_role_and_the_shared_connections(
    project: Project, signed_in: Callable[[Person], Page]
) -> None:
    viewer = signed_in(VIEWER)
    visit(viewer, project.server, "/destinations")
    expect(viewer.get_by_role("button", name="Run now news")).to_have_count(0)
    carl = signed_in(CONTRIBUTOR)
    visit(carl, project.server, "/destinations")
    expect(carl.get_by_role("button", name="Run now news")).to_be_visible()
    expect(carl.get_by_role("button", name="Run now other")).to_have_count(0)
    visit(carl, project.server, "/segments")
    expect(carl.get_by_label("A query returning profile keys (SQL, admins only)")).to_have_count(0)


def test_an_edit_on_disk_meanwhile_is_not_overwritten(
    project: Project, signed_in: Callable[[Person], Page]
) -> None:
    original = project.config_path.read_text(encoding="utf-8")
    page = signed_in(ADMIN)
    visit(page, project.server, "/segments?edit=valuable")
    form = page.locator("form[aria-labelledby=segment-form]")
    form.get_by_label("Condition or query").fill("lifetime_value > 300")
    edited = original.replace("lifetime_value > 100", "lifetime_value > 200")
    project.config_path.write_text(edited, encoding="utf-8")  # someone's editor, meanwhile
    try:
        form.get_by_role("button", name="Save the segment").click()
        expect(page.locator(".form-problems")).to_contain_text(
            "dotsync.toml was changed by someone else since this form was shown"
        )
        check_axe(page)
        assert project.config_path.read_text(encoding="utf-8") == edited
        # The form now carries the file as it is: saving again goes through.
        page.locator("form[aria-labelledby=segment-form]").get_by_role(
            "button", name="Save the segment"
        ).click()
        expect(page.locator(".flash")).to_contain_text("Segment valuable is saved.")
        text = project.config_path.read_text(encoding="utf-8")
        assert 'where = "lifetime_value > 300"' in text
        assert text.startswith("# A project the console tests share: keep this comment.")
    finally:
        project.config_path.write_text(original, encoding="utf-8")


def test_a_validation_error_is_shown_beside_its_field(
    project: Project, signed_in: Callable[[Person], Page]
) -> None:
    page = signed_in(CONTRIBUTOR)
    visit(page, project.server, "/exports/news")
    page.get_by_label("Cron expression").fill("every day")
    page.get_by_role("button", name="Save the export").click()
    error = page.locator("#schedule-error")
    expect(error).to_have_text(
        "'every day' is not a cron expression (five fields: minute hour day month weekday, "
        'e.g. "0 6 * * *" for 06:00 every day)'
    )
    expect(page.get_by_label("Cron expression")).to_have_attribute("aria-invalid", "true")
    check_axe(page)
    assert load_config(project.config_path).exports["news"].schedule is None


def test_connect_refuses_a_wrong_password_and_an_unticked_privacy_box(
    project: Project, signed_in: Callable[[Person], Page]
) -> None:
    page = signed_in(ADMIN)
    connect(page, project.server, project.emulator, project.book_id, name="dd2", agree=False)
    expect(page.locator("#privacy-error")).to_have_text(
        "Tick the box to agree: nothing is connected without it."
    )
    connect(page, project.server, project.emulator, project.book_id, name="dd2", password="wrong")
    expect(page.locator(".check-failed")).to_contain_text(
        "DotDigital refused the API user of connection 'dd2' (Emulated account) (HTTP 401): "
        "check `connections.dd2.api_user` and the password in the password file"
    )
    expect(page.locator(".check-not_run")).to_have_count(3)
    check_axe(page)
    page.locator("#privacy-notice").evaluate("e => e.scrollIntoView()")
    screenshot(page, "connect-refused")
    assert "dd2" not in load_config(project.config_path).connections
    assert not (project.folder / ".secrets" / "dd2.password").exists()


def test_the_pages_in_french(project: Project, signed_in: Callable[[Person], Page]) -> None:
    page = signed_in(VIEWER)
    visit(page, project.server, "/destinations")
    page.get_by_role("button", name="Français").click()
    expect(page.locator("h1")).to_have_text("Destinations d'exportation")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    check_axe(page)
    for path, title in [
        ("/segments", "Segments"),
        ("/source", "Source"),
        ("/connections", "Connexions"),
        ("/exports/news/history", "Historique de news"),
        ("/exports/news/run", "Exécution de news"),
    ]:
        visit(page, project.server, path)
        expect(page.locator("h1")).to_have_text(title)
    page.get_by_role("button", name="English").click()


def test_forms_work_with_the_keyboard_alone(
    project: Project, signed_in: Callable[[Person], Page]
) -> None:
    page = signed_in(CONTRIBUTOR)
    visit(page, project.server, "/segments")
    page.locator("#main").focus()
    for _ in range(40):  # to the form's name field, through the table's links
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "f-name":
            break
    assert page.evaluate("document.activeElement.id") == "f-name"
    page.keyboard.type("keyboard_only")
    page.keyboard.press("Tab")  # the kind: where (checked)
    page.keyboard.press("Tab")  # the condition
    page.keyboard.type("lifetime_value > 900")
    page.keyboard.press("Tab")  # Count its members
    page.keyboard.press("Enter")
    expect(page.locator("#segment-count")).to_contain_text("Segment keyboard_only holds")
    assert "keyboard_only" not in project.config_path.read_text(encoding="utf-8")


def test_duplicate_copies_an_export_under_a_new_name(
    project: Project, signed_in: Callable[[Person], Page]
) -> None:
    original = project.config_path.read_text(encoding="utf-8")
    page = signed_in(CONTRIBUTOR)
    try:
        visit(page, project.server, "/destinations")
        page.get_by_role("link", name="Duplicate news").click()
        expect(page.get_by_label("Name", exact=True)).to_have_value("news_copy")
        expect(page.get_by_label("First name")).to_have_value("first_name")
        page.get_by_role("button", name="Save the export").click()
        expect(page.locator(".flash")).to_contain_text("Export news_copy is saved.")
        config = load_config(project.config_path)
        assert config.exports["news_copy"] == config.exports["news"]
        expect(page.get_by_role("button", name="Run now news_copy")).to_be_visible()
    finally:
        project.config_path.write_text(original, encoding="utf-8")


def test_detach_forgets_the_book_and_keeps_the_settings(
    project: Project, signed_in: Callable[[Person], Page]
) -> None:
    before = project.config_path.read_text(encoding="utf-8")
    page = signed_in(ADMIN)
    visit(page, project.server, "/destinations")
    page.get_by_role("link", name="Detach connection other").click()
    check_axe(page)
    expect(page.locator("#detach-what")).to_contain_text("address book")
    page.get_by_role("button", name="Detach export other").click()
    expect(page.locator(".flash")).to_contain_text("Export other is detached from its connection")
    expect(page.get_by_label("Connection", exact=True)).to_be_visible()  # to choose it again
    assert project.config_path.read_text(encoding="utf-8") == before
    state = ConsoleState(ProjectPaths.of(project.config_path))
    try:
        assert [e.action for e in state.audit_entries("other")][:1] == ["export.detach"]
        assert [e.action for e in state.changes("other")][:1] == ["export.detach"]  # history's
    finally:
        state.close()


def test_the_forms_render_in_french(project: Project) -> None:
    with http_session(project.server, CONTRIBUTOR) as (client, _token):
        client.cookies.set("dotsync_lang", "fr")
        for path, heading in [
            ("/exports/news", "Export news"),
            ("/exports/new?copy=news", "Nouvel export"),
            ("/exports/news/remove", "Supprimer l'export news"),
            ("/exports/news/detach", "Détacher l'export news"),
        ]:
            page = client.get(path)
            assert page.status_code == 200, (path, page.text[-500:])
            assert f"<h1>{heading}</h1>" in page.text, path
