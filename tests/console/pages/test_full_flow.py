"""The whole flow in a browser, as a person would: ``dotsync serve`` in a folder holding only the
profiles, then source, segments, connection, export, run, a changed mapping run again, history,
and the destination removed, checked in the emulator's address book at each step."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from console.console_support import ADMIN, ConsoleServer, check_axe, screenshot
from console.pages.pages_support import (
    add_segment,
    connect,
    new_book,
    set_source,
    visit,
    wait_for_result,
    write_profiles,
)
from playwright.sync_api import Page, expect

from dotsync.config import load_config
from dotsync.emulator import RunningEmulator

PROFILES = 40  # 30 over the bar, 2 of them with a bad address


@pytest.mark.long
def test_from_an_empty_folder_to_a_removed_destination(
    tmp_path: Path,
    serve_factory: Callable[..., ConsoleServer],
    page_as: Callable[..., Page],
    emulator: RunningEmulator,
) -> None:
    write_profiles(tmp_path, PROFILES, bad_emails=2)
    book_id = new_book(emulator)
    server = serve_factory(tmp_path)
    page = page_as(ADMIN, server)

    visit(page, server, "/destinations")
    expect(page.get_by_text("This project has no dotsync.toml yet")).to_be_visible()
    set_source(page, server)
    counted = add_segment(page, server, "valuable", "lifetime_value > 100")
    assert counted == "Segment valuable holds 30 profiles."
    screenshot(page, "segments")

    connect(page, server, emulator, book_id)
    for check in ("credentials", "region", "address book", "data fields"):
        expect(page.locator(".checks")).to_contain_text(f"{check}: passed")
    check_axe(page)
    page.locator("#privacy-notice").evaluate("e => e.scrollIntoView()")
    screenshot(page, "connection")
    secret = tmp_path / ".secrets" / "dd.password"
    assert secret.stat().st_mode & 0o777 == 0o600
    assert secret.read_text() == emulator.credentials[1]
    assert 'password_file = ".secrets/dd.password"' in (tmp_path / "dotsync.toml").read_text()

    visit(page, server, "/exports/new")
    page.get_by_label("Name", exact=True).fill("news")
    page.get_by_label("Connection", exact=True).select_option("dd")
    page.get_by_label("valuable").check()
    page.get_by_label("Email", exact=True).select_option("email")
    page.get_by_label("First name").select_option("first_name")
    page.get_by_label("Data field, row 1").fill("TIER")
    page.get_by_label("Column, row 1").select_option("tier")
    page.get_by_label("Create the data fields the account does not have").check()
    page.get_by_label("Cron expression").fill("0 6 * * 1-5")
    expect(page.locator("#schedule-text")).to_contain_text("At 06:00, Monday through Friday")
    # Saved with a schedule, an export that never ran would start at once: this one waits for
    # Run now.
    page.get_by_label("Cron expression").fill("")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#plan-enter")).to_have_text("28")
    expect(page.locator("#plan-reject")).to_have_text("2")
    check_axe(page)
    page.locator("#preview-title").evaluate("e => e.scrollIntoView()")
    screenshot(page, "export-form")
    page.get_by_role("button", name="Save the export").click()
    expect(page.locator(".flash")).to_contain_text("Export news is saved.")
    assert load_config(tmp_path / "dotsync.toml").exports["news"].mapping.first_name == "first_name"

    visit(page, server, "/destinations")
    page.get_by_role("button", name="Run now news").click()
    assert wait_for_result(page) == "partial"
    check_axe(page)
    screenshot(page, "run")
    assert len(emulator.book_members(emulator.credentials[0], book_id)) == 28
    expect(page.locator("table").nth(1)).to_contain_text("invalid_email")

    # A new mapping: the last name joins; every member changes and is sent again.
    visit(page, server, "/exports/news")
    page.get_by_label("Last name").select_option("last_name")
    page.get_by_role("button", name="Save the export").click()
    expect(page.locator(".flash")).to_contain_text("Export news is saved.")
    visit(page, server, "/destinations", shot="destinations")
    page.get_by_role("button", name="Run now news").click()
    assert wait_for_result(page) == "partial"
    members = emulator.book_members(emulator.credentials[0], book_id)
    assert {m["dataFields"]["LASTNAME"] for m in members} == {"Lee"}

    # A member bounces in DotDigital; `dotsync pull` brings it back; history shows the count.
    emulator.suppress(emulator.credentials[0], "person3@example.com", "HardBounced")
    pulled = subprocess.run(
        [str(Path(sys.executable).with_name("dotsync")), "pull", "news"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert pulled.returncode == 0, pulled.stderr

    visit(page, server, "/exports/news/history", shot="history")
    expect(page.locator("#runs tbody tr")).to_have_count(2)
    pull_counts = page.locator("table[aria-labelledby=pull-title]")
    expect(pull_counts.locator("th").nth(2)).to_have_text("Suppressed")
    expect(pull_counts.locator("td").nth(2)).to_have_text("1")
    expect(page.locator("svg.history-chart")).to_be_visible()
    expect(page.locator("#runs")).to_contain_text(ADMIN.name)

    visit(page, server, "/exports/news/remove")
    expect(page.locator("#remove-what")).to_contain_text(f"address book {book_id}")
    expect(page.locator("#remove-what")).to_contain_text("28 members")
    page.get_by_label("Also take its 28 members out").check()
    page.get_by_label("Type news to confirm").fill("news")
    page.get_by_role("button", name="Remove export news").click()
    expect(page.locator(".flash").last).to_contain_text("28 removed from the address book")
    assert emulator.book_members(emulator.credentials[0], book_id) == []
    assert "news" not in load_config(tmp_path / "dotsync.toml").exports
