"""Setup mistakes a first-time user makes, each told as a configuration or connection problem that
names the setting to fix (never the API user's e-mail address), with the matching exit code. Each
runs the real command against the emulator."""

from __future__ import annotations

import json

from cli.cli_support import Cli
from support.project import PASSWORD_ENV, Project, profile


def _set(project: Project, old: str, new: str) -> None:
    text = project.config_path.read_text(encoding="utf-8")
    assert old in text
    project.config_path.write_text(text.replace(old, new), encoding="utf-8")


def test_https_to_a_plain_http_server_is_a_setup_mistake_not_an_outage(
    cli: Cli, project: Project
) -> None:
    project.write_profiles([profile(1)])
    project.write_config()
    http_url = project.emulator.base_url
    _set(project, f'api_url = "{http_url}"', f'api_url = "{http_url.replace("http:", "https:")}"')
    for args in (("connect", "dd"), ("export", "news")):
        outcome = cli.run(*args)
        assert outcome.code == 3, outcome.text  # a connection problem: cron must not retry it
        assert "TLS handshake" in outcome.stderr
        assert "WRONG_VERSION_NUMBER" in outcome.stderr
        assert "is the server speaking http, not https?" in outcome.stderr
        assert "`connections.dd.api_url`" in outcome.stderr
        assert "sending again" not in outcome.text  # not retried


def test_a_refused_login_names_the_setting_not_the_address(cli: Cli, project: Project) -> None:
    project.write_profiles([profile(1)])
    project.write_config()
    for args in (("connect", "dd"), ("export", "news")):
        refused = cli.invoke(*args, env={PASSWORD_ENV: "wrong"})
        assert refused.code == 3, refused.text
        assert "DotDigital refused the API user of connection 'dd'" in refused.stderr
        assert "`connections.dd.api_user`" in refused.stderr
        assert project.api_user not in refused.text
        assert "@" not in refused.stderr


def test_plan_json_counts_the_calls_it_made(cli: Cli, project: Project) -> None:
    project.write_profiles([profile(i) for i in range(3)])
    project.write_config()
    outcome = cli.run("plan", "news", "--json")
    assert outcome.code == 0, outcome.text
    counts = json.loads(outcome.stdout)["counts"]
    by_endpoint = counts["api_calls_by_endpoint"]
    assert "GET /v2/account-info" in by_endpoint
    assert "GET /v2/data-fields" in by_endpoint
    assert any(endpoint.startswith("GET /v2/address-books/") for endpoint in by_endpoint)
    assert counts["api_calls"] == sum(by_endpoint.values()) >= 3


def test_misspelt_names_suggest_the_close_match(cli: Cli, project: Project) -> None:
    project.write_profiles([profile(1)])
    project.write_config()
    unknown_export = cli.invoke("export", "newz")
    assert unknown_export.code == 2, unknown_export.text
    assert "no export named 'newz'" in unknown_export.stderr
    assert "did you mean 'news'?" in unknown_export.stderr
    unknown_connection = cli.invoke("address-books", "ddd")
    assert unknown_connection.code == 2, unknown_connection.text
    assert "did you mean 'dd'?" in unknown_connection.stderr

    _set(project, 'segments = ["valuable"]', 'segments = ["valueable"]')
    segment = cli.invoke("plan", "news")
    assert segment.code == 2, segment.text
    assert "unknown segment 'valueable'; did you mean 'valuable'?" in segment.stderr

    _set(project, 'segments = ["valueable"]', 'segments = ["valuable"]')
    _set(project, 'connection = "dd"', 'connection = "ddd"')
    connection = cli.invoke("plan", "news")
    assert connection.code == 2, connection.text
    assert "unknown connection 'ddd'; did you mean 'dd'?" in connection.stderr


def test_a_missing_password_variable_names_the_file_like_other_config_errors(
    cli: Cli, project: Project
) -> None:
    project.write_profiles([profile(1)])
    project.write_config()
    for args in (("connect", "dd"), ("plan", "news"), ("export", "news")):
        missing = cli.run(*args, env={PASSWORD_ENV: ""})
        assert missing.code == 2, missing.text
        assert (
            f"{project.config_path}: connections.dd.password_env: the environment variable "
            f"{PASSWORD_ENV} is not set or empty"
        ) in missing.stderr


def test_a_mapping_to_a_missing_column_names_the_key(cli: Cli, project: Project) -> None:
    project.write_profiles([profile(1)])
    project.write_config(
        mapping={"email": "email", "postcode": "postal_code", "data_fields": {"TIER": "tier"}}
    )
    for args in (("plan", "news"), ("export", "news")):
        outcome = cli.run(*args)
        assert outcome.code == 2, outcome.text
        assert (
            f"{project.config_path}: exports.news.mapping.postcode: the profiles table has no "
            "column 'postal_code'"
        ) in outcome.stderr
    assert project.members() == {}  # nothing was sent
