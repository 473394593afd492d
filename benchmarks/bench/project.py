"""A dotsync project folder for the benchmark: ``dotsync.toml`` and its state beside it."""

from __future__ import annotations

from pathlib import Path

EXPORT = "newsletter"
PASSWORD_ENV = "DOTSYNC_BENCH_PASSWORD"  # noqa: S105 - the name of a variable, not a secret

CONFIG = """\
# Written by benchmarks/run.py
[state]
url = "sqlite:///.dotsync/state.sqlite"
work_dir = ".dotsync"

[source]
path = "{profiles}"
key = "customer_id"

[segments.most_customers]
where = "{where}"

[connections.emulator]
display_name = "DotDigital emulator (benchmark)"
api_user = "{api_user}"
password_env = "{password_env}"
address_book_id = {book_id}
privacy_acknowledged = true
api_url = "{api_url}"

[exports.{export}]
connection = "emulator"
segments = ["most_customers"]
create_missing_data_fields = true
max_profiles = {max_profiles}
on_segment_exit = "remove"

[exports.{export}.mapping]
email = "email"
first_name = "first_name"
last_name = "last_name"
full_name = "full_name"
gender = "gender"
postcode = "zip"
data_fields = {{ LOYALTY_TIER = "tier" }}
"""


def write_project(
    folder: Path,
    *,
    profiles: Path,
    where: str,
    api_user: str,
    book_id: int,
    api_url: str,
    max_profiles: int,
) -> Path:
    """Write ``folder/dotsync.toml`` (state in ``folder/.dotsync``) and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "dotsync.toml"
    config.write_text(
        CONFIG.format(
            profiles=profiles.resolve(),
            where=where,
            api_user=api_user,
            password_env=PASSWORD_ENV,
            book_id=book_id,
            api_url=api_url,
            export=EXPORT,
            max_profiles=max_profiles,
        ),
        encoding="utf-8",
    )
    return config
