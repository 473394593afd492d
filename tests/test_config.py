"""load_config: every rule gives a ConfigError naming the key and the file."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dotsync.config import Config, load_config, require_privacy_ack
from dotsync.errors import ConfigError, ExitCode

VALID = """
[state]
url = "sqlite:///.dotsync/state.sqlite"
work_dir = ".dotsync"

[source]
path = "data/profiles.parquet"
table = "customers"
key = "customer_id"
[source.tables]
churn_scores = "data/churn.parquet"

[segments.high_value]
where = "lifetime_value > 1000"
[segments.churn_risk]
sql = "select customer_id from churn_scores where score > 0.8"
[segments.cdp_vip]
membership = { path = "data/memberships.csv", segment = "vip" }

[connections.dotdigital_eu]
display_name = "DotDigital EU"
api_user = "apiuser-123@apiconnector.com"
password_env = "DOTDIGITAL_PASSWORD"
address_book_id = 123456
privacy_acknowledged = true
api_url = "https://r1-api.dotdigital.com"

[exports.newsletter]
connection = "dotdigital_eu"
segments = ["high_value", "churn_risk"]
schedule = "0 6 * * *"
timezone = "Europe/Paris"
[exports.newsletter.mapping]
email = "email"
first_name = "first_name"
postcode = "zip"
data_fields = { loyalty_tier = "tier", Score = { column = "score", type = "Numeric" } }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dotsync.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert caught.value.exit_code == ExitCode.CONFIG
    return caught.value


def test_valid_file_loads_with_paths_relative_to_the_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID))
    assert isinstance(config, Config)
    assert config.source.path == tmp_path.resolve() / "data/profiles.parquet"
    assert config.source.tables["churn_scores"] == tmp_path.resolve() / "data/churn.parquet"
    vip = config.segments["cdp_vip"].membership
    assert vip is not None and vip.path == tmp_path.resolve() / "data/memberships.csv"
    assert config.state.work_dir == tmp_path.resolve() / ".dotsync"
    assert config.state.url == f"sqlite:///{tmp_path.resolve()}/.dotsync/state.sqlite"
    export = config.find_export("newsletter")
    assert set(export.mapping.data_fields) == {"LOYALTY_TIER", "SCORE"}  # stored upper-case
    assert export.on_segment_exit == "remove" and export.subscription_status == ""
    assert config.connections[export.connection].privacy_acknowledged


def test_find_export_lists_known_exports(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID))
    with pytest.raises(ConfigError, match=r"no export named 'nope'.*known exports: newsletter"):
        config.find_export("nope")


def replace(old: str, new: str) -> str:
    assert old in VALID
    return VALID.replace(old, new)


DATABASE = replace('path = "data/profiles.parquet"', 'url = "postgresql://h/db"').replace(
    '[source.tables]\nchurn_scores = "data/churn.parquet"\n', ""
)

CASES = {
    "missing-email": (
        replace('email = "email"\n', ""),
        "exports.newsletter.mapping.email: field required",
    ),
    "unknown-key": (
        replace('timezone = "Europe/Paris"', 'timezone = "UTC"\nretries = 3'),
        "exports.newsletter.retries: unknown key",
    ),
    "misspelt-key": (
        replace('timezone = "Europe/Paris"', 'time_zone = "Europe/Paris"'),
        "exports.newsletter.time_zone: unknown key: did you mean 'timezone'",
    ),
    "unknown-key-lists-its-table": (
        replace('timezone = "Europe/Paris"', 'timezone = "Europe/Paris"\nretries = 3'),
        "exports.newsletter.retries: unknown key: .*known keys here: .*max_profiles.*timezone",
    ),
    "key-of-another-table": (
        replace("[source]\n", "lease_seconds = 5\n\n[source]\n"),
        r"state.lease_seconds: unknown key here: it belongs in \[serve\]",
    ),
    "misspelt-mapping-key": (
        replace('email = "email"\n', 'emial = "email"\n'),
        "exports.newsletter.mapping.emial: unknown key: did you mean 'email'",
    ),
    "plain-password": (
        replace('password_env = "DOTDIGITAL_PASSWORD"', 'password = "hunter2"'),
        "connections.dotdigital_eu.password: a password is never written.*password_env.*"
        "password_file.*password_keyring",
    ),
    "two-password-sources": (
        replace(
            'password_env = "DOTDIGITAL_PASSWORD"', 'password_env = "X"\npassword_keyring = true'
        ),
        "connections.dotdigital_eu: a connection needs exactly one of",
    ),
    "unknown-connection": (
        replace('connection = "dotdigital_eu"', 'connection = "dd_us"'),
        "exports.newsletter.connection: unknown connection 'dd_us';"
        " known connections: dotdigital_eu",
    ),
    "unknown-segment": (
        replace('segments = ["high_value", "churn_risk"]', 'segments = ["high_value", "vips"]'),
        "exports.newsletter.segments: unknown segment 'vips'; known segments: "
        "cdp_vip, churn_risk, high_value",
    ),
    "segment-two-definitions": (
        replace('where = "lifetime_value > 1000"', 'where = "x > 1"\nsql = "select 1"'),
        "segments.high_value: a segment needs exactly one of `where`, `sql`, `membership`",
    ),
    "segment-no-definition": (
        replace('where = "lifetime_value > 1000"', ""),
        "segments.high_value: a segment needs exactly one of",
    ),
    "source-path-and-url": (
        replace('path = "data/profiles.parquet"', 'path = "a.csv"\nurl = "postgresql://h/db"'),
        r"source: \[source\] needs exactly one of `path`, `url`",
    ),
    "source-neither": (
        replace('path = "data/profiles.parquet"\n', ""),
        r"source: \[source\] needs exactly one of",
    ),
    "bad-data-field-name": (
        replace('loyalty_tier = "tier"', '"loyalty tier!" = "tier"'),
        "exports.newsletter.mapping.data_fields: data field name 'loyalty tier!' is invalid",
    ),
    "data-field-too-long": (
        replace('loyalty_tier = "tier"', 'ABCDEFGHIJKLMNOPQRSTU = "tier"'),
        "data field name 'ABCDEFGHIJKLMNOPQRSTU' is invalid: DotDigital names are 1 to 20",
    ),
    "data-field-standard-duplicate": (
        replace('loyalty_tier = "tier"', 'firstname = "tier"'),
        "mapped twice: map it with `first_name = ...`",
    ),
    "data-field-case-duplicate": (
        replace('loyalty_tier = "tier"', 'tier = "a", TIER = "b"'),
        "data field 'TIER' is mapped twice",
    ),
    "bad-field-type": (
        replace('type = "Numeric"', 'type = "Integer"'),
        "exports.newsletter.mapping.data_fields.Score.type: Input should be 'String'",
    ),
    "on-segment-exit": (
        replace('schedule = "0 6 * * *"', 'schedule = "0 6 * * *"\non_segment_exit = "delete"'),
        "exports.newsletter.on_segment_exit: Input should be 'remove', 'keep' or 'unsubscribe'",
    ),
    "bad-cron": (
        replace('schedule = "0 6 * * *"', 'schedule = "every morning"'),
        "exports.newsletter.schedule: 'every morning' is not a cron expression",
    ),
    "bad-timezone": (
        replace('timezone = "Europe/Paris"', 'timezone = "Mars/Olympus"'),
        "exports.newsletter.timezone: unknown time zone 'Mars/Olympus'",
    ),
    "http-remote": (
        replace('"https://r1-api.dotdigital.com"', '"http://r1-api.dotdigital.com"'),
        "connections.dotdigital_eu.api_url: plain http is refused",
    ),
    "not-a-url": (
        replace('"https://r1-api.dotdigital.com"', '"ftp://x"'),
        "connections.dotdigital_eu.api_url: 'ftp://x' is not an http",
    ),
    "empty-segments": (
        replace('segments = ["high_value", "churn_risk"]', "segments = []"),
        "exports.newsletter.segments: List should have at least 1 item",
    ),
    "max-profiles": (
        replace('schedule = "0 6 * * *"', 'schedule = "0 6 * * *"\nmax_profiles = 0'),
        "exports.newsletter.max_profiles: Input should be greater than or equal to 1",
    ),
    "pull-path-with-a-database": (
        DATABASE + '[pull]\npath = "status.parquet"\n',
        r"pull.path: the source is a database .*remove `path`",
    ),
    "pull-schema-with-a-file": (
        VALID + '[pull]\nschema = "cdp"\n',
        r"pull.schema: the source is a file .*writes a Parquet file, `path`; remove `schema`",
    ),
    "pull-table-not-a-name": (
        DATABASE + '[pull]\ntable = "status; drop table x"\n',
        r"pull.table: 'status; drop table x' is not a plain SQL name",
    ),
    "pull-path-not-parquet": (
        VALID + '[pull]\npath = "status.csv"\n',
        r"pull.path: 'status.csv' must be a .parquet file",
    ),
    "pull-misspelt-key": (
        VALID + "[pull]\nmax_call = 10\n",
        r"pull.max_call: unknown key: did you mean 'max_calls'",
    ),
    "pull-budget-too-small": (
        VALID + "[pull]\nmax_calls = 1\n",
        r"pull.max_calls: Input should be greater than or equal to 2",
    ),
    "pull-schedule": (
        replace(
            "privacy_acknowledged = true", 'privacy_acknowledged = true\npull_schedule = "soon"'
        ),
        r"connections.dotdigital_eu.pull_schedule: 'soon' is not a cron expression",
    ),
    "membership-both": (
        replace(
            '{ path = "data/memberships.csv", segment = "vip" }', '{ path = "m.csv", table = "t" }'
        ),
        "segments.cdp_vip.membership: membership needs exactly one of `path`, `table`",
    ),
}


@pytest.mark.parametrize(("text", "expected"), CASES.values(), ids=CASES.keys())
def test_each_rule_names_the_key_and_the_file(tmp_path: Path, text: str, expected: str) -> None:
    error = error_of(tmp_path, text)
    assert str(tmp_path / "dotsync.toml") in str(error)
    assert error.key is not None
    import re

    assert re.search(expected, str(error)), str(error)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8765", "http://127.9.9.9", "http://localhost:1", "http://[::1]:8765"]
)
def test_plain_http_is_allowed_on_loopback(tmp_path: Path, url: str) -> None:
    config = load_config(write(tmp_path, replace('"https://r1-api.dotdigital.com"', f'"{url}"')))
    assert config.connections["dotdigital_eu"].api_url == url


def test_plain_password_value_never_echoed(tmp_path: Path) -> None:
    error = error_of(
        tmp_path, replace('password_env = "DOTDIGITAL_PASSWORD"', 'password = "s3cr3t!"')
    )
    assert "s3cr3t!" not in str(error) and "s3cr3t!" not in (error.detail or "")


def test_toml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    error = error_of(tmp_path, "[source]\npath = 'a.csv'\nkey = \n")
    assert "TOML syntax error" in str(error) and "line 3" in str(error)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"configuration file not found.*--config"):
        load_config(tmp_path / "absent.toml")


def test_privacy_not_acknowledged_blocks_the_export(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, replace("privacy_acknowledged = true", "")))
    connection = config.connections["dotdigital_eu"]
    with pytest.raises(ConfigError) as caught:
        require_privacy_ack("dotdigital_eu", connection)
    message = str(caught.value)
    assert "personal data" in message and "e-mail addresses" in message and "DotDigital" in message
    assert "privacy_acknowledged = true" in message and "[connections.dotdigital_eu]" in message
    require_privacy_ack(
        "dotdigital_eu", load_config(write(tmp_path, VALID)).connections["dotdigital_eu"]
    )


def test_pull_defaults_and_dates(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID))
    assert config.pull.path == tmp_path / "dotdigital_status.parquet"  # beside the file
    assert (config.pull.table, config.pull.schema_name, config.pull.start_date) == (
        "dotdigital_status",
        None,
        None,
    )
    assert config.pull.max_calls == 100
    dated = load_config(write(tmp_path, VALID + "[pull]\nstart_date = 2024-03-01\n"))
    assert dated.pull.start_date == datetime(2024, 3, 1, tzinfo=UTC)  # a date: midnight UTC
    timed = load_config(write(tmp_path, VALID + '[pull]\nstart_date = "2024-03-01T06:00:00"\n'))
    assert timed.pull.start_date == datetime(2024, 3, 1, 6, tzinfo=UTC)


def test_state_defaults_live_beside_the_config_file(tmp_path: Path) -> None:
    """Regression: without [state], the state went to the current directory, so two projects
    run from one shell shared (and corrupted) one state."""
    (tmp_path / "p.csv").write_text("id\n1\n")
    (tmp_path / "dotsync.toml").write_text('[source]\npath = "p.csv"\nkey = "id"\n')
    config = load_config(tmp_path / "dotsync.toml")
    assert config.state.url == f"sqlite:///{tmp_path.resolve() / '.dotsync' / 'state.sqlite'}"
    assert config.state.work_dir == tmp_path.resolve() / ".dotsync"
