"""``dotsync serve`` as an operator starts it: without the console, beyond loopback, over TLS;
and ``dotsync users`` from the command line."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import httpx
import pytest
from console.conftest import ServeFactory
from console.console_support import ADMIN, dotsync, free_port, http_session, start_serve
from support.certificates import self_signed_certificate

from dotsync.console.context import ConsoleState, ProjectPaths
from dotsync.console.first_admin import announce_setup_link
from dotsync.console.security import CSP
from dotsync.console.users import Role

SCHEDULED = """
[state]
work_dir = "work"
[source]
path = "profiles.csv"
key = "id"
[segments.all]
where = "true"
[connections.c]
api_user = "demo@apiconnector.com"
password_env = "DOTSYNC_TEST_UNSET_PASSWORD"
address_book_id = 1
privacy_acknowledged = true
api_url = "http://127.0.0.1:9"
[exports.news]
connection = "c"
segments = ["all"]
schedule = "0 6 * * *"
[exports.news.mapping]
email = "email"
"""


def test_no_console_serves_only_the_operations_endpoints(tmp_path: Path) -> None:
    (tmp_path / "dotsync.toml").write_text(SCHEDULED)
    (tmp_path / "profiles.csv").write_text("id,email\n1,a@example.com\n")
    server = start_serve(tmp_path, "--no-console")
    try:
        assert httpx.get(f"{server.url}/healthz").json()["status"] == "ok"
        metrics = httpx.get(f"{server.url}/metrics")
        assert metrics.status_code == 200 and "dotsync_runs_total" in metrics.text
        for path in ("/login", "/users", "/static/console.css", "/"):
            answer = httpx.get(f"{server.url}{path}")
            assert answer.status_code == 404, path
            assert answer.text == "not found: try /healthz or /metrics\n"
        assert "setup?token" not in server.log()
    finally:
        assert server.stop() == 0, server.log()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--host", "0.0.0.0"], "in plain HTTP"),  # noqa: S104 (refused: never bound)
        (["--host", "192.0.2.10"], "--behind-proxy"),
        (["--tls-cert", "cert.pem"], "--tls-cert and --tls-key go together"),
        (["--tls-cert", "missing.pem", "--tls-key", "missing.pem"], "missing.pem: no such file"),
    ],
    ids=["all-addresses", "another-address", "cert-alone", "missing-files"],
)
def test_unsafe_or_incomplete_listening_is_refused(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    done = dotsync(tmp_path, "serve", "--port", str(free_port()), *args)
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr
    assert "Traceback" not in done.stderr


def test_the_console_over_tls(tmp_path: Path, serve_factory: ServeFactory) -> None:
    cert, key = self_signed_certificate(tmp_path)
    server = serve_factory(
        tmp_path,
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(key),
        scheme="https",
        verify=ssl.create_default_context(cafile=str(cert)),
    )
    page = httpx.get(f"{server.url}/login", verify=server.verify)
    assert page.headers["strict-transport-security"].startswith("max-age=")
    assert page.headers["content-security-policy"] == CSP
    cookie = page.headers["set-cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie
    with http_session(server, ADMIN) as (client, _token):
        assert client.get("/users").status_code == 200  # signed in over HTTPS
    assert "https://127.0.0.1" in server.log()


def test_users_from_the_command_line(tmp_path: Path) -> None:
    env = {"NEW_PASSWORD": "cli-password-1"}
    added = dotsync(
        tmp_path,
        "users",
        "add",
        "olga",
        "--role",
        "admin",
        "--password-env",
        "NEW_PASSWORD",
        env=env,
    )
    assert added.returncode == 0, added.stderr
    prompted = dotsync(
        tmp_path,
        "users",
        "add",
        "pat",
        "--role",
        "viewer",
        input="pat-password-1\npat-password-1\n",
    )
    assert prompted.returncode == 0, prompted.stderr
    listed = dotsync(tmp_path, "users", "list", "--json")
    assert [(u["name"], u["role"], u["created_by"]) for u in json.loads(listed.stdout)] == [
        ("olga", "admin", "command line"),
        ("pat", "viewer", "command line"),
    ]
    assert dotsync(tmp_path, "users", "set-role", "pat", "contributor").returncode == 0

    # Each command starts a Python process (seconds on a busy machine): the refusals' wording is
    # tested once here, their rules in the pages' tests and in test_users_rules.py.
    for args, message in [
        (["users", "remove", "olga"], "'olga' is the only admin"),
        (["users", "add", "ann@example.com", "--password-env", "NEW_PASSWORD"], "no e-mail"),
    ]:
        refused = dotsync(tmp_path, *args, env=env)
        assert refused.returncode == 2, (args, refused.stderr)
        assert message in refused.stderr, (args, refused.stderr)

    # serve reads the same state in this folder (no dotsync.toml yet): an admin, no setup link.
    state = ConsoleState(ProjectPaths.of(tmp_path / "dotsync.toml"))
    try:
        assert state.accounts.has_admin()
        assert {a.name: a.role for a in state.accounts.all()} == {
            "olga": Role.ADMIN,
            "pat": Role.CONTRIBUTOR,
        }
        assert announce_setup_link(state.accounts, "http://127.0.0.1:9465") is None
        assert [e.action for e in state.audit_entries(target="pat")] == ["user.role", "user.add"]
    finally:
        state.close()
