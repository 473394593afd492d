"""Helpers of the domain pages' browser tests: a project folder with profiles, an address book in
the emulator, and the steps a person takes in the pages (each checked with axe-core)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from console.console_support import ConsoleServer, check_axe, screenshot
from playwright.sync_api import Page, expect

from dotsync.emulator import RunningEmulator

COLUMNS = ["customer_id", "email", "first_name", "last_name", "lifetime_value", "tier"]


def write_profiles(folder: Path, count: int, *, bad_emails: int = 0) -> None:
    """``count`` profiles, one in four under the segments' bar (``lifetime_value > 100``); profiles
    1 to ``bad_emails`` (over the bar) have an address that validation rejects."""
    with (folder / "profiles.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for i in range(count):
            email = f"not-an-address-{i}" if 1 <= i <= bad_emails else f"person{i}@example.com"
            value = 50 if i % 4 == 0 else 500 + i  # one in four is under the segment's bar
            writer.writerow([f"C{i:05d}", email, f"Ann{i}", "Lee", value, "gold"])


def new_book(emulator: RunningEmulator, name: str = "Newsletter") -> int:
    with emulator.client() as api:
        return int(api.post("/v2/address-books", json={"name": name}).json()["id"])


def visit(page: Page, server: ConsoleServer, path: str, *, shot: str | None = None) -> None:
    page.goto(f"{server.url}{path}")
    check_axe(page)
    if shot:
        screenshot(page, shot)


def set_source(page: Page, server: ConsoleServer, path: str = "profiles.csv") -> None:
    visit(page, server, "/source")
    page.get_by_label("File").fill(path)
    page.get_by_label("Key column").fill("customer_id")
    page.get_by_role("button", name="Test the source").click()
    expect(page.locator(".check-passed")).to_contain_text("columns")
    check_axe(page)
    page.locator("#f-key").evaluate("e => e.scrollIntoView()")
    screenshot(page, "source")
    page.get_by_role("button", name="Save the source").click()
    expect(page.locator(".flash")).to_contain_text("The source is saved.")


def add_segment(page: Page, server: ConsoleServer, name: str, where: str) -> str:
    """Adds a ``where`` segment after counting it; returns the count shown."""
    visit(page, server, "/segments")
    form = page.locator("form[aria-labelledby=segment-form]")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Condition or query").fill(where)
    form.get_by_role("button", name="Count its members").click()
    shown = page.locator("#segment-count").inner_text()
    page.locator("form[aria-labelledby=segment-form]").get_by_role(
        "button", name="Save the segment"
    ).click()
    expect(page.locator(".flash")).to_contain_text(f"Segment {name} is saved.")
    return shown


def connect(
    page: Page,
    server: ConsoleServer,
    emulator: RunningEmulator,
    book_id: int,
    *,
    name: str = "dd",
    password: str | None = None,
    agree: bool = True,
    share_with: str | None = None,
) -> None:
    user, real_password = emulator.credentials
    visit(page, server, "/connections")
    form = page.locator("form[aria-labelledby=connection-form]")
    form.get_by_label("Name", exact=True).fill(name)
    form.get_by_label("Display name").fill("Emulated account")
    form.get_by_label("API user").fill(user)
    form.get_by_label("Password").fill(password or real_password)
    form.get_by_label("API address").fill(emulator.base_url)
    if password is None:  # the right password lists the account's books: pick from the list
        form.get_by_role("button", name="List the account's address books").click()
        form.get_by_label("Address books of the account").select_option(str(book_id))
    else:
        form.get_by_label("Address book ID").fill(str(book_id))
    if agree:
        form.get_by_label("I agree").check()
    if share_with:
        form.get_by_label(share_with).check()
    form.get_by_role("button", name="Connect").click()
    page.wait_for_load_state()


def wait_for_result(page: Page) -> str:
    """Waits on the run page until the run is over; its status."""
    expect(page.locator("#run-status")).to_be_visible(timeout=60_000)
    return re.split(r"\s", page.locator("#run-status").inner_text().strip())[0]
