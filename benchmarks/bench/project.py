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
{source}
key = "customer_id"
{marker}

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
    profiles: Path | str,
    where: str,
    api_user: str,
    book_id: int,
    api_url: str,
    max_profiles: int,
    updated_at: str | None = "updated_at",
    table: str | None = None,
) -> Path:
    """Write ``folder/dotsync.toml`` (state in ``folder/.dotsync``) and return its path.
    ``profiles`` is a file (CSV, Parquet, JSON, ``.duckdb``) or a database URL (then ``table``
    names the profiles table); ``updated_at`` the change marker column (None: none)."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "dotsync.toml"
    if isinstance(profiles, Path):
        source = f'path = "{profiles.resolve()}"'
    else:
        source = f'url = "{profiles}"'
    if table is not None:
        source += f'\ntable = "{table}"'
    config.write_text(
        CONFIG.format(
            source=source,
            marker=f'updated_at = "{updated_at}"' if updated_at else "",
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
