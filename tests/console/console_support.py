"""Helpers of the console tests: a real ``dotsync serve`` in a folder, users, sign-in over HTTP
and in a browser, axe-core checks and screenshots.

The browser is Debian's chromium driven by Playwright (it cannot download browsers here); axe-core
comes from the npm registry into ``.ci/node_modules`` (``.ci/run`` installs both). Without them
the browser tests skip, unless ``DOTSYNC_REQUIRE_BROWSER=1`` (CI), where they fail.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import IO, Any

import httpx
from playwright.sync_api import Page, ViewportSize

from dotsync.console.context import ConsoleState, ProjectPaths
from dotsync.console.passwords import hash_password
from dotsync.console.users import Role

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE_SCRIPT = REPO / ".ci" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOT_DIR = REPO / "docs" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # root in CI has no user namespace sandbox
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Read when the tests are collected: the autouse fixture of tests/conftest.py clears DOTSYNC_*
# variables before each test.
REQUIRE_BROWSER = os.environ.get("DOTSYNC_REQUIRE_BROWSER") == "1"
TAKE_SCREENSHOTS = os.environ.get("DOTSYNC_SCREENSHOTS") == "1"
SCREENSHOT_SIZE: ViewportSize = {"width": 1100, "height": 700}


@dataclass(frozen=True)
class Person:
    name: str
    role: Role
    password: str


# One user of each role in every test console (made-up passwords).
ADMIN = Person("ada", Role.ADMIN, "ada-password-1")
CONTRIBUTOR = Person("carl", Role.CONTRIBUTOR, "carl-password-1")
VIEWER = Person("vera", Role.VIEWER, "vera-password-1")
PEOPLE = {p.role: p for p in (ADMIN, CONTRIBUTOR, VIEWER)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium; .ci/run does it)"
    if not AXE_SCRIPT.exists():
        return f"{AXE_SCRIPT} is missing (npm install --prefix .ci axe-core; .ci/run does it)"
    return None


def add_users(config_path: Path, people: Mapping[Role, Person] = PEOPLE) -> None:
    """Users straight into the project's state (the CLI's own test goes through `dotsync users`)."""
    state = ConsoleState(ProjectPaths.of(config_path))
    try:
        for person in people.values():
            state.accounts.add(
                person.name, person.role, hash_password(person.password), created_by="test"
            )
    finally:
        state.close()


def dotsync(
    folder: Path, *args: str, env: Mapping[str, str] | None = None, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """The installed ``dotsync`` command, run in ``folder``."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("dotsync")), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=folder,
        env={**os.environ, **(env or {})},
        check=False,
        **kwargs,
    )


@dataclass
class ConsoleServer:
    """``dotsync serve`` running in ``folder`` as its own process."""

    folder: Path
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    scheme: str = "http"
    _log: IO[bytes] | None = field(default=None, repr=False)
    verify: ssl.SSLContext | bool = True  # trusts a test certificate, under TLS

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def setup_link(self) -> str | None:
        found = re.findall(r"(https?://\S+/setup\?token=[\w-]+)", self.log())
        return found[-1] if found else None

    def wait_ready(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"dotsync serve exited {self.process.returncode}:\n{self.log()[-3000:]}"
                )
            try:
                answer = httpx.get(f"{self.url}/healthz", timeout=2, verify=self.verify)
                if answer.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"dotsync serve did not answer /healthz:\n{self.log()[-3000:]}")

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, as a service manager stops it; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self._close_log()
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def start_serve(
    folder: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    wait: bool = True,
    scheme: str = "http",
    verify: ssl.SSLContext | bool = True,
) -> ConsoleServer:
    """Starts ``dotsync serve --port PORT ARGS`` in ``folder`` (waits for /healthz unless
    ``wait`` is false)."""
    port = port or free_port()
    log_path = folder / f"serve-{port}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("dotsync")), "serve", "--port", str(port), *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=folder,
        env={**os.environ, **(env or {})},
    )
    server = ConsoleServer(folder, port, process, log_path, scheme, log, verify)
    if wait:
        server.wait_ready()
    return server


# --- signing in --------------------------------------------------------------------------------

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


@contextmanager
def http_session(
    server: ConsoleServer, person: Person | None = None
) -> Iterator[tuple[httpx.Client, str]]:
    """An HTTP client signed in as ``person`` (or anonymous) and its CSRF token: requests a page
    would not offer, sent as the server would receive them from a browser."""
    with httpx.Client(base_url=server.url, timeout=10, verify=server.verify) as client:
        yield client, _signed_in(client, person)


def _signed_in(client: httpx.Client, person: Person | None) -> str:
    token = csrf_of(client.get("/login").text)
    if person is None:
        return token
    done = client.post(
        "/login",
        data={
            "name": person.name,
            "password": person.password,
            "csrf_token": token,
            "next": "/users",
        },
    )
    assert done.status_code == 303, done.text[-500:]
    return csrf_of(client.get("/login?next=/audit", follow_redirects=True).text)


def sign_in(page: Page, server: ConsoleServer, person: Person) -> None:
    """Signs in through the form (the one shown, when the page is at the sign-in page already)."""
    if "/login" not in page.url:
        page.goto(f"{server.url}/login")
    page.get_by_label("User name").fill(person.name)
    page.get_by_label("Password").fill(person.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert "/login" not in page.url, page.content()[-800:]


# --- checks -----------------------------------------------------------------------------------


@cache
def _axe_source() -> str:
    return AXE_SCRIPT.read_text(encoding="utf-8")


def check_axe(page: Page) -> None:
    """axe-core on the page as shown: fails on serious or critical violations, listed.

    The script is evaluated through DevTools rather than added as a <script> tag, which the
    console's CSP (script-src 'self') rightly refuses."""
    if not page.evaluate("() => typeof axe !== 'undefined'"):
        page.evaluate(_axe_source())
    results: dict[str, Any] = page.evaluate("async () => await axe.run(document)")
    bad = [v for v in results["violations"] if v.get("impact") in ("serious", "critical")]
    listed = "\n".join(
        f"- {v['id']} ({v['impact']}): {v['help']}; "
        + "; ".join(", ".join(n["target"]) for n in v["nodes"][:5])
        for v in bad
    )
    assert not bad, f"axe-core found on {page.url}:\n{listed}"


def screenshot(page: Page, name: str) -> None:
    """A small PNG of the page in docs/screenshots/NAME.png, only with DOTSYNC_SCREENSHOTS=1 (the
    files are tracked: ordinary runs leave them alone)."""
    if not TAKE_SCREENSHOTS:
        return
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size(SCREENSHOT_SIZE)
    page.screenshot(path=str(SCREENSHOT_DIR / f"{name}.png"), full_page=False)


def json_lines(text: str) -> list[dict[str, Any]]:
    found = []
    for line in text.splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return found
