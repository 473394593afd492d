"""Signing in and out in a real browser, the headers every page carries, and axe-core on the
sign-in page."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from console.console_support import (
    ADMIN,
    VIEWER,
    ConsoleServer,
    check_axe,
    screenshot,
    sign_in,
)
from playwright.sync_api import Page

from dotsync.console.security import CSP


def test_sign_in_and_out(console_server: ConsoleServer, new_page: Callable[..., Page]) -> None:
    page = new_page()
    page.goto(f"{console_server.url}/users")
    assert "/login?next=/users" in page.url  # nobody signed in: the sign-in page first
    check_axe(page)
    screenshot(page, "login")
    sign_in(page, console_server, ADMIN)
    assert page.url.endswith("/users")
    assert page.get_by_role("heading", name="Users").is_visible()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login")
    page.goto(f"{console_server.url}/users")
    assert "/login" in page.url


def test_a_wrong_password_is_refused(
    console_server: ConsoleServer, new_page: Callable[..., Page]
) -> None:
    page = new_page()
    page.goto(f"{console_server.url}/login")
    page.get_by_label("User name").fill(VIEWER.name)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "Wrong user name or password."
    assert "/login" in page.url


def test_security_headers_on_pages_and_endpoints(console_server: ConsoleServer) -> None:
    for path in ("/login", "/healthz", "/static/console.css"):
        headers = httpx.get(f"{console_server.url}{path}").headers
        assert headers["content-security-policy"] == CSP
        assert "frame-ancestors 'none'" in CSP and "unsafe" not in CSP
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"
        assert "strict-transport-security" not in headers  # plain HTTP on loopback
    cookie = httpx.get(f"{console_server.url}/login").headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
