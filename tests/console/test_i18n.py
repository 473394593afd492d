"""English and French: every message of the console is in the French catalog, the browser's
language picks, the switcher overrides it, and catalogs of several files merge."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from console.console_support import ADMIN, ConsoleServer, check_axe, screenshot, sign_in
from playwright.sync_api import Page

from dotsync.console import i18n
from dotsync.console.users import Role
from dotsync.console.web import NAV

CONSOLE = Path(i18n.__file__).parent


def used_messages() -> set[str]:
    """Every message id of the console's templates and Python code (the pages' included)."""
    method_map = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
    keywords = {"_": None, "gettext": (2,), "ngettext": (1, 2)}
    found = {
        message if isinstance(message, str) else message[0]
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(CONSOLE), method_map=method_map, keywords=keywords
        )
    }
    # Ids translated through a variable: the navigation's labels and the roles' names.
    return found | {item.label for item in NAV} | {role.value for role in Role}


def french_messages() -> set[str]:
    """The ids that a French .po file translates (some words are the same in both languages)."""
    translated: set[str] = set()
    for po in (i18n.LOCALE_DIR / "fr" / "LC_MESSAGES").glob("*.po"):
        with po.open("rb") as fh:
            # A plural's id is (singular, plural): the extractor above names it by its singular.
            translated |= {
                str(m.id if isinstance(m.id, str) else m.id[0])
                for m in read_po(fh)
                if m.id and m.string
            }
    return translated


def test_every_message_has_a_french_translation() -> None:
    missing = sorted(used_messages() - french_messages())
    assert not missing, "add these to a fr/LC_MESSAGES/*.po:\n" + "\n".join(missing)


def test_catalogs_of_several_files_are_merged(tmp_path: Path) -> None:
    folder = tmp_path / "fr" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "console.po").write_text('msgid "Sign in"\nmsgstr "Se connecter"\n')
    (folder / "pages.po").write_text('msgid "Run now"\nmsgstr "Exécuter maintenant"\n')
    merged = i18n.load_catalogs("fr", tmp_path)
    assert merged.gettext("Sign in") == "Se connecter"
    assert merged.gettext("Run now") == "Exécuter maintenant"
    assert merged.gettext("Untranslated") == "Untranslated"


@pytest.mark.parametrize(
    ("cookie", "header", "expected"),
    [
        (None, None, "en"),
        (None, "fr-FR,fr;q=0.9,en;q=0.8", "fr"),
        (None, "de-DE,de;q=0.9,fr;q=0.5", "fr"),
        (None, "en;q=0.4,fr;q=0.6", "fr"),
        (None, "de, es", "en"),
        ("en", "fr-FR", "en"),
        ("fr", None, "fr"),
        ("xx", "fr", "fr"),
    ],
    ids=[
        "nothing",
        "french-browser",
        "second-choice",
        "by-quality",
        "unsupported",
        "choice-wins",
        "choice-alone",
        "unknown-choice",
    ],
)
def test_the_language_of_a_request(cookie: str | None, header: str | None, expected: str) -> None:
    assert i18n.negotiate(cookie, header) == expected


def test_a_french_browser_gets_french_pages_and_the_switcher_changes_them(
    console_server: ConsoleServer, new_page: Callable[..., Page]
) -> None:
    page = new_page(locale="fr-FR", extra_http_headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    page.goto(f"{console_server.url}/login")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.get_by_role("heading", name="Se connecter").is_visible()
    check_axe(page)
    screenshot(page, "login-fr")
    page.get_by_label("Nom d'utilisateur").fill(ADMIN.name)
    page.get_by_label("Mot de passe").fill(ADMIN.password)
    page.get_by_role("button", name="Se connecter").click()
    page.goto(f"{console_server.url}/users")
    assert page.get_by_role("heading", name="Utilisateurs").is_visible()
    check_axe(page)

    page.get_by_role("button", name="English").click()  # the user's choice beats the browser's
    page.wait_for_load_state()
    assert page.url.endswith("/users")
    assert page.get_by_role("heading", name="Users").is_visible()
    page.goto(f"{console_server.url}/audit")
    assert page.get_by_role("heading", name="Audit log").is_visible()
    page.get_by_role("button", name="Français").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Journal d'audit").is_visible()


def test_the_switcher_works_before_signing_in(
    console_server: ConsoleServer, new_page: Callable[..., Page]
) -> None:
    page = new_page()
    page.goto(f"{console_server.url}/login")
    page.get_by_role("button", name="Français").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Se connecter").is_visible()
    sign_in_fr = page.get_by_role("button", name="Se connecter")
    assert sign_in_fr.is_visible()
    page.get_by_role("button", name="English").click()
    page.wait_for_load_state()
    sign_in(page, console_server, ADMIN)
