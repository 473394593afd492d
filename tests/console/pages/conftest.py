"""Fixtures of the domain pages' browser tests: a project (profiles, segments, two connections
to an emulated account, two exports) served by ``dotsync serve``, shared by a module's tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from console.console_support import (
    CONTRIBUTOR,
    ConsoleServer,
    Person,
    add_users,
    sign_in,
    start_serve,
)
from console.pages.pages_support import new_book, write_profiles
from playwright.sync_api import Browser, BrowserContext, Page

from dotsync.emulator import EmulatorSettings, RunningEmulator, run_emulator

PROJECT = """\
# A project the console tests share: keep this comment.
[source]
path = "profiles.csv"
key = "customer_id"

[segments.valuable]
where = "lifetime_value > 100"

[connections.dd]
display_name = "Shared account"
api_user = "{user}"
password_file = ".secrets/dd.password"
address_book_id = {book}
privacy_acknowledged = true
api_url = "{url}"
shared_with = ["{contributor}"]

[connections.private]
display_name = "Admins' account"
api_user = "{user}"
password_file = ".secrets/dd.password"
address_book_id = {other_book}
privacy_acknowledged = true
api_url = "{url}"

[exports.news]
connection = "dd"
segments = ["valuable"]
create_missing_data_fields = true

[exports.news.mapping]
email = "email"
first_name = "first_name"

[exports.other]
connection = "private"
segments = ["valuable"]

[exports.other.mapping]
email = "email"
"""


@dataclass
class Project:
    folder: Path
    emulator: RunningEmulator
    server: ConsoleServer
    book_id: int

    @property
    def config_path(self) -> Path:
        return self.folder / "dotsync.toml"


def make_project(
    folder: Path, emulator: RunningEmulator, *, profiles: int = 40, serve_args: tuple[str, ...] = ()
) -> Project:
    write_profiles(folder, profiles)
    user, password = emulator.credentials
    secrets = folder / ".secrets"
    secrets.mkdir(mode=0o700)
    (secrets / "dd.password").touch(mode=0o600)
    (secrets / "dd.password").write_text(password, encoding="utf-8")
    book = new_book(emulator)
    text = PROJECT.format(
        user=user,
        book=book,
        other_book=new_book(emulator, "Other"),
        url=emulator.base_url,
        contributor=CONTRIBUTOR.name,
    )
    (folder / "dotsync.toml").write_text(text, encoding="utf-8")
    add_users(folder / "dotsync.toml")
    return Project(folder, emulator, start_serve(folder, *serve_args), book)


@pytest.fixture(scope="module")
def module_emulator() -> Iterator[RunningEmulator]:
    with run_emulator(EmulatorSettings()) as running:
        yield running


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, module_emulator: RunningEmulator
) -> Iterator[Project]:
    """Shared by a module's tests: each leaves the project as it found it."""
    made = make_project(tmp_path_factory.mktemp("pages"), module_emulator)
    yield made
    made.server.kill()


@pytest.fixture(scope="module")
def signed_in(browser: Browser, project: Project) -> Iterator[Callable[[Person], Page]]:
    """A page of each person, signed in once for the module (signing in costs a second)."""
    contexts: dict[str, tuple[BrowserContext, Page]] = {}

    def page_of(person: Person) -> Page:
        if person.name not in contexts:
            context = browser.new_context()
            page = context.new_page()
            sign_in(page, project.server, person)
            contexts[person.name] = (context, page)
        return contexts[person.name][1]

    yield page_of
    for context, _page in contexts.values():
        context.close()
