"""Every documented failure of ``dotsync connect``/``export``: its exit code and a message a
person can act on, never a traceback (the Cli helper asserts that on every call)."""

from __future__ import annotations

import json

from cli.cli_support import Cli
from support.emulator_fixtures import EmulatorFactory
from support.project import Project, profile

from dotsync.config import load_config
from dotsync.emulator import AccountSettings
from dotsync.state import StateStore
from dotsync.state.locks import run_locks


def _book_id(project: Project, name: str) -> int:
    with project.emulator.client() as api:
        return next(int(b["id"]) for b in api.get("/v2/address-books").json() if b["name"] == name)


def _set(project: Project, old: str, new: str) -> None:
    text = project.config_path.read_text(encoding="utf-8")
    assert old in text
    project.config_path.write_text(text.replace(old, new), encoding="utf-8")


def test_address_book_that_does_not_exist_or_is_not_writable(cli: Cli, project: Project) -> None:
    project.write_profiles([profile(1)])
    project.write_config()
    _set(project, f"address_book_id = {project.book_id}", "address_book_id = 987654")
    for args in (("connect", "dd"), ("export", "news")):
        missing = cli.invoke(*args)
        assert missing.code == 3, missing.text
        assert "987654" in missing.stderr and "dotsync address-books" in missing.stderr

    test_book = _book_id(project, "Test")
    _set(project, "address_book_id = 987654", f"address_book_id = {test_book}")
    for args in (("connect", "dd"), ("export", "news")):
        reserved = cli.invoke(*args)
        assert reserved.code == 3, reserved.text
        assert "'Test'" in reserved.stderr and "address_book_id" in reserved.stderr
    assert project.emulator.book_members(project.api_user, test_book) == []


def test_wrong_region(cli: Cli, project: Project, emulator_factory: EmulatorFactory) -> None:
    american = emulator_factory(
        accounts=[AccountSettings(api_user="us@apiconnector.com", region="r2")]
    )
    with american.client(region="r2") as api:
        book = int(api.post("/v2/address-books", json={"name": "US"}).json()["id"])
    project.write_profiles([profile(1)])
    project.write_config()
    _set(project, project.emulator.base_url, american.base_url)
    _set(project, project.api_user, "us@apiconnector.com")
    _set(
        project, f"address_book_id = {project.book_id}", f'address_book_id = {book}\nregion = "r1"'
    )
    refused = cli.invoke("connect", "dd")
    assert refused.code == 3, refused.text
    assert "region r2" in refused.stderr and "not r1" in refused.stderr

    _set(project, 'region = "r1"', 'region = "r2"')  # right region: discovery finds the r2 host
    connect = cli.invoke("connect", "dd", "--json")
    assert connect.code == 0, connect.text
    assert json.loads(connect.stdout)["region"] == "r2"


def test_export_exit_codes(cli: Cli, project: Project) -> None:
    project.write_profiles([profile(i) for i in range(12)])
    project.write_config()

    cfg = load_config(project.config_path)
    locks = run_locks("news", project.emulator.base_url, project.api_user)
    store = StateStore(cfg.state.url)
    try:
        store.acquire_locks(locks, "news")
        busy = cli.run("export", "news")
        assert busy.code == 6, busy.text
        assert "is starting (no run recorded yet" in busy.stderr  # 0.1 said "run None"
        assert "None" not in busy.stderr
    finally:
        store.release_locks(locks)
        store.close()

    project.write_config(max_profiles=10)
    too_many = cli.invoke("export", "news")
    assert too_many.code == 7, too_many.text
    assert "12 profiles (valuable: 12)" in too_many.stderr
    assert "max_profiles = 10" in too_many.stderr
    assert project.members() == {}

    project.write_config()
    rejected = cli.invoke("export", "news", "--fail-on-rejects")
    assert rejected.code == 0  # no row rejected
    project.write_profiles([profile(1), profile(2, email="broken")])
    rejected = cli.invoke("export", "news", "--fail-on-rejects")
    assert rejected.code == 4, rejected.text


def test_source_and_configuration_errors(cli: Cli, project: Project) -> None:
    project.write_profiles([profile(i) for i in range(3)])
    project.write_config()
    _set(project, 'where = "lifetime_value > 100"', 'where = "lifetime_value > > 100"')
    for args in (("export", "news"), ("segments",), ("plan", "news")):
        syntax = cli.invoke(*args)
        assert syntax.code == 8, syntax.text
        assert "segment 'valuable'" in syntax.stderr and "syntax error" in syntax.stderr.lower()
    verbose = cli.invoke("export", "news", "--verbose")
    assert verbose.code == 8 and "Traceback" in verbose.stderr  # the trace only on request

    project.write_config()
    unknown = cli.invoke("export", "nope")
    assert unknown.code == 2 and "no export named 'nope'" in unknown.stderr
    assert "known exports: news" in unknown.stderr
    neither = cli.invoke("export")
    assert neither.code == 2 and "--all" in neither.stderr

    _set(project, 'segments = ["valuable"]', 'segments = ["valuable", "ghosts"]')
    segment = cli.invoke("export", "news")
    assert segment.code == 2
    assert "exports.news.segments: unknown segment 'ghosts'" in segment.stderr

    project.write_config()
    _set(project, 'email = "email"', 'e_mail = "email"')
    key = cli.invoke("export", "news")
    assert key.code == 2
    assert "exports.news.mapping.email: field required" in key.stderr
    assert "exports.news.mapping.e_mail: unknown key" in key.stderr

    project.write_config()
    _set(project, "privacy_acknowledged = true", 'privacy_acknowledged = false\npassword = "x"')
    plain = cli.invoke("connect", "dd")
    assert plain.code == 2 and "connections.dd.password" in plain.stderr
    assert "password_env" in plain.stderr

    _set(project, 'password = "x"', "")
    privacy = cli.invoke("export", "news")
    assert privacy.code == 2 and "[connections.dd]" in privacy.stderr  # markup is not eaten
    assert "personal data" in privacy.stderr

    missing = cli.invoke("history", "--config", str(project.folder / "absent.toml"), config=False)
    assert missing.code == 2 and "absent.toml: configuration file not found" in missing.stderr
