"""Fixtures of the console tests (helpers in ``console_support``):

- ``browser`` (session): Debian's chromium through Playwright; skips when it or axe-core is
  missing, fails instead under ``DOTSYNC_REQUIRE_BROWSER=1``.
- ``console_server`` (session): ``dotsync serve`` in an empty folder with one user of each role
  (``ADMIN``, ``CONTRIBUTOR``, ``VIEWER``), shared by the tests; a test that changes one of them
  puts it back (a server starts in seconds: the budget of CI is tight).
- ``serve_factory``: start more servers in folders of the test's own (``dotsync.toml`` or not);
  all are stopped at teardown.
- ``new_page``: a fresh browser context (no cookies) and its page; ``page_as(person, server)``: a
  page signed in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from console.console_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    REQUIRE_BROWSER,
    ConsoleServer,
    Person,
    add_users,
    missing_browser,
    sign_in,
    start_serve,
)
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

ServeFactory = Callable[..., ConsoleServer]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    reason = missing_browser()
    if reason is not None:
        if REQUIRE_BROWSER:
            pytest.fail(f"DOTSYNC_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    folder = tmp_path_factory.mktemp("console")
    add_users(folder / "dotsync.toml")
    server = start_serve(folder)
    yield server
    server.kill()


@pytest.fixture
def serve_factory() -> Iterator[ServeFactory]:
    started: list[ConsoleServer] = []

    def start(folder: Path, *args: str, users: bool = True, **kwargs: Any) -> ConsoleServer:
        if users:
            add_users(folder / "dotsync.toml")
        server = start_serve(folder, *args, **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


@pytest.fixture
def new_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    contexts: list[BrowserContext] = []

    def make(**options: Any) -> Page:
        context = browser.new_context(**options)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page_as(new_page: Callable[..., Page]) -> Callable[..., Page]:
    def make(person: Person, server: ConsoleServer, **options: Any) -> Page:
        page = new_page(**options)
        sign_in(page, server, person)
        return page

    return make
