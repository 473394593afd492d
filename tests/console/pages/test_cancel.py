"""Run now, followed live, then Cancel during a slow import: the run stops at its next checkpoint
(like SIGTERM), is recorded as interrupted with who cancelled it, and the next run resumes."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from console.console_support import CONTRIBUTOR, Person, screenshot
from console.pages.conftest import Project, make_project
from console.pages.pages_support import visit, wait_for_result
from playwright.sync_api import Page, expect

from dotsync.emulator import EmulatorSettings, RunningEmulator, run_emulator

# 30 members at 6 contacts a second: the import takes 5 s at DotDigital's (emulated) end.
SLOW = EmulatorSettings(import_rate=6)


@pytest.fixture(scope="module")
def module_emulator() -> Iterator[RunningEmulator]:
    with run_emulator(SLOW) as running:
        yield running


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, module_emulator: RunningEmulator
) -> Iterator[Project]:
    made = make_project(tmp_path_factory.mktemp("cancel"), module_emulator)
    yield made
    made.server.kill()


def test_cancel_during_a_slow_import_then_resume(
    project: Project, signed_in: Callable[[Person], Page]
) -> None:
    page = signed_in(CONTRIBUTOR)
    visit(page, project.server, "/destinations")
    page.get_by_role("button", name="Run now news").click()
    live = page.locator("#live")
    expect(live).to_contain_text("Sending contacts", timeout=20_000)
    expect(live).to_contain_text("1 import in flight at DotDigital")
    screenshot(page, "run-live")
    page.get_by_role("button", name="Cancel the run").click()
    assert wait_for_result(page) == "interrupted"
    expect(page.locator(".error")).to_contain_text(f"cancelled by {CONTRIBUTOR.name}")

    visit(page, project.server, "/destinations")
    page.get_by_role("button", name="Run now news").click()
    assert wait_for_result(page) == "succeeded"  # it polled the import the first one sent
    user, _password = project.emulator.credentials
    assert len(project.emulator.book_members(user, project.book_id)) == 30
