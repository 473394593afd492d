"""The pydantic model tree of ``dotsync.toml`` (keys as in docs/ARCHITECTURE.md).

Every model forbids unknown keys, so a typo is an error naming the key rather than a setting that
silently does nothing. Relative paths are resolved against the configuration file's folder, which
the loader passes in the validation context as ``base_dir``.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

FieldType = Literal["String", "Numeric", "Date", "Boolean"]
DATA_FIELD_NAME = re.compile(r"^[A-Za-z0-9_-]{1,20}$")
PASSWORD_SOURCES = ("password_env", "password_file", "password_keyring")


def _resolve_path(value: Any, info: ValidationInfo) -> Any:
    """Resolve a relative path against the folder of the configuration file."""
    if value is None or not isinstance(value, str | Path):
        return value
    path = Path(value).expanduser()
    base = (info.context or {}).get("base_dir")
    if base is not None and not path.is_absolute():
        path = Path(base) / path
    return path


RelPath = Annotated[Path, BeforeValidator(_resolve_path)]


class KeyedValueError(ValueError):
    """A validation error about a sub-key (e.g. ``password``) of the model being validated."""

    def __init__(self, subkey: str, message: str) -> None:
        super().__init__(message)
        self.subkey = subkey


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _exactly_one(model: BaseModel, names: tuple[str, ...], what: str) -> None:
    given = [name for name in names if getattr(model, name) not in (None, False)]
    if len(given) != 1:
        listed = ", ".join(f"`{name}`" for name in names)
        found = ", ".join(given) if given else "none"
        raise ValueError(f"{what} needs exactly one of {listed} (found: {found})")


class StateConfig(_Model):
    # validate_default: the defaults are relative paths too, resolved against the config file.
    url: str = Field(default="sqlite:///.dotsync/state.sqlite", validate_default=True)
    work_dir: RelPath = Field(default=Path(".dotsync"), validate_default=True)
    rejects_retention_days: int = Field(default=30, ge=0)
    # "source": the diff runs inside the source database (a SQL URL): a mirror of the confirmed
    # members' keys and row digests lives there, in `members_schema` (docs/ARCHITECTURE.md).
    members_in: Literal["state", "source"] = "state"
    members_schema: str = "dotsync"

    @field_validator("members_schema")
    @classmethod
    def _schema_name(cls, value: str) -> str:
        if not SQL_NAME.match(value):
            raise ValueError(
                f"{value!r} is not a plain SQL name: letters, digits and '_', starting with a "
                "letter or '_' (at most 63 characters)"
            )
        return value

    @field_validator("url")
    @classmethod
    def _relative_sqlite(cls, value: str, info: ValidationInfo) -> str:
        # sqlite:///relative/file (three slashes) is relative; make it relative to the config file.
        prefix = "sqlite:///"
        rest = value[len(prefix) :]
        base = (info.context or {}).get("base_dir")
        relative = value.startswith(prefix) and rest and not rest.startswith("/")
        if relative and rest != ":memory:" and base is not None:
            return prefix + str((Path(base) / rest).resolve())
        return value


class SourceConfig(_Model):
    path: RelPath | None = None
    url: str | None = None
    table: str | None = None
    key: str
    tables: dict[str, RelPath] = Field(default_factory=dict)
    # Rows per streamed batch of SQLAlchemy sources; PostgreSQL's rows come by COPY instead.
    batch_size: int = Field(default=50_000, ge=1)
    # A change marker column (e.g. a last-modified timestamp): a refresh reads, validates and
    # digests again only the rows whose marker differs from the one DotDigital confirmed.
    updated_at: str | None = None

    @model_validator(mode="after")
    def _one_location(self) -> SourceConfig:
        _exactly_one(self, ("path", "url"), "[source]")
        if self.url is not None and self.tables:
            raise ValueError(
                "`tables` registers files for DuckDB sources; with a database `url`, "
                "segment SQL can use the database's own tables"
            )
        if self.url is not None and self.table is None:
            raise ValueError("a database source needs `table` (the profiles table)")
        return self


class MembershipConfig(_Model):
    path: RelPath | None = None
    table: str | None = None
    segment_column: str = "segment"
    key_column: str = "key"
    segment: str | None = None  # value in segment_column; defaults to the segment's own name

    @model_validator(mode="after")
    def _one_location(self) -> MembershipConfig:
        _exactly_one(self, ("path", "table"), "membership")
        return self


class SegmentConfig(_Model):
    where: str | None = None
    sql: str | None = None
    membership: MembershipConfig | None = None

    @model_validator(mode="after")
    def _one_definition(self) -> SegmentConfig:
        _exactly_one(self, ("where", "sql", "membership"), "a segment")
        for text in (self.where, self.sql):
            if text is not None and not text.strip().rstrip(";").strip():
                raise ValueError("the segment's SQL is empty")
        return self


def _cron_expression(value: str | None) -> str | None:
    if value is not None and not croniter.is_valid(value):
        raise ValueError(
            f"{value!r} is not a cron expression (five fields: minute hour day month "
            'weekday, e.g. "0 6 * * *" for 06:00 every day)'
        )
    return value


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ConnectionConfig(_Model):
    display_name: str | None = None
    api_user: str = Field(min_length=1)
    password_env: str | None = None
    password_file: RelPath | None = None
    password_keyring: bool = False
    address_book_id: int = Field(ge=1)
    privacy_acknowledged: bool = False
    region: str | None = Field(default=None, pattern=r"^r\d+$")
    api_url: str = "https://r1-api.dotdigital.com"
    # When `dotsync serve` runs `dotsync pull` for every export of this connection (cron, UTC).
    pull_schedule: str | None = None
    # Contributors of the console (``dotsync serve``) who may export through this connection:
    # admins create connections and share them; viewers only look. The CLI does not read it.
    shared_with: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _refuse_plain_password(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                if "password" in str(key).lower() and key not in PASSWORD_SOURCES:
                    raise KeyedValueError(
                        str(key),
                        "a password is never written in the configuration file. Remove it "
                        'and use `password_env = "VARIABLE"` (an environment variable), '
                        '`password_file = "path"` (a file of mode 0600) or '
                        '`password_keyring = true` (the system keyring, service "dotsync")',
                    )
        return data

    @model_validator(mode="after")
    def _one_password_source(self) -> ConnectionConfig:
        _exactly_one(self, PASSWORD_SOURCES, "a connection")
        return self

    @field_validator("pull_schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return _cron_expression(value)

    @field_validator("api_url")
    @classmethod
    def _https_unless_loopback(cls, value: str) -> str:
        parts = urlsplit(value)
        host = parts.hostname or ""
        if parts.scheme not in ("https", "http") or not host:
            raise ValueError(f"{value!r} is not an http(s) URL, e.g. https://r1-api.dotdigital.com")
        if parts.scheme == "http" and not _is_loopback(host):
            raise ValueError(
                f"plain http is refused for {host!r}: credentials and personal data would travel "
                "unencrypted. Use https (plain http is allowed only on 127.0.0.0/8, ::1, localhost)"
            )
        if parts.username or parts.password:
            raise ValueError("credentials do not belong in api_url; use api_user and password_env")
        return value.rstrip("/")


class DataFieldMapping(_Model):
    column: str = Field(min_length=1)
    type: FieldType | None = None  # declared type; None means "take the account's type"


class MappingConfig(_Model):
    email: str = Field(min_length=1)
    first_name: str | None = None
    last_name: str | None = None
    full_name: str | None = None
    gender: str | None = None
    postcode: str | None = None
    data_fields: dict[str, str | DataFieldMapping] = Field(default_factory=dict)

    @field_validator("data_fields")
    @classmethod
    def _valid_names(
        cls, value: dict[str, str | DataFieldMapping]
    ) -> dict[str, str | DataFieldMapping]:
        seen: dict[str, str] = {name: name for name in STANDARD_FIELDS.values()}
        result: dict[str, str | DataFieldMapping] = {}
        for name, column in value.items():
            if not DATA_FIELD_NAME.match(name):
                raise ValueError(
                    f"data field name {name!r} is invalid: DotDigital names are 1 to 20 "
                    "characters of letters, digits, '_' and '-'"
                )
            upper = name.upper()
            if upper in seen:
                hint = (
                    f"map it with `{_STANDARD_KEY[upper]} = ...` instead"
                    if upper in _STANDARD_KEY
                    else f"it clashes with {seen[upper]!r} (names are upper-cased)"
                )
                raise ValueError(f"data field {name!r} is mapped twice: {hint}")
            seen[upper] = name
            result[upper] = column
        return result


STANDARD_FIELDS: dict[str, str] = {
    "first_name": "FIRSTNAME",
    "last_name": "LASTNAME",
    "full_name": "FULLNAME",
    "gender": "GENDER",
    "postcode": "POSTCODE",
}
_STANDARD_KEY = {field: key for key, field in STANDARD_FIELDS.items()}


class ExportConfig(_Model):
    connection: str
    segments: list[str] = Field(min_length=1)
    mapping: MappingConfig
    max_profiles: int = Field(default=1_000_000, ge=1)
    on_segment_exit: Literal["remove", "keep", "unsubscribe"] = "remove"
    # The mass-removal guard: a run that would take more than this share of the export's members
    # out of the book (and more than ``min_removals_guarded`` of them) stops before removing or
    # sending anything, unless a person passes --allow-mass-removal for that one run.
    max_removal_fraction: float = Field(default=0.2, ge=0, le=1)
    min_removals_guarded: int = Field(default=10, ge=0)
    create_missing_data_fields: bool = False
    send_empty_values: bool = False
    # "" never sends a status: an import must not re-subscribe someone who unsubscribed.
    subscription_status: Literal["", "subscribed", "unsubscribed"] = ""
    merge_option: Literal["overwrite", "overwriteIfNotEmpty", "overwriteIfEmpty"] = "overwrite"
    schedule: str | None = None
    # When `dotsync serve` runs `dotsync verify` on the export's book (cron, like schedule): it
    # reports drift in /metrics and repairs nothing.
    verify_schedule: str | None = None
    timezone: str = "UTC"
    rejected_rows_alert: float = Field(default=0.05, ge=0, le=1)

    @field_validator("segments")
    @classmethod
    def _no_repeats(cls, value: list[str]) -> list[str]:
        repeated = sorted({name for name in value if value.count(name) > 1})
        if repeated:
            raise ValueError(f"segments listed twice: {', '.join(repeated)}")
        return value

    @field_validator("schedule", "verify_schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return _cron_expression(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f'unknown time zone {value!r}; use an IANA name such as "Europe/Paris" or "UTC"'
            ) from exc
        return value


class ServeConfig(_Model):
    host: str = "127.0.0.1"
    port: int = Field(default=9465, ge=1, le=65535)
    # How long a run's locks stay its own without a renewal (renewed every third of it): a dead
    # worker's run is resumed by another after at most this long. Also each worker's heartbeat.
    lease_seconds: float = Field(default=60.0, ge=1.0, le=3600.0)


class AlertsConfig(_Model):
    webhook_url_env: str | None = None
    slow_run_factor: float = Field(default=3.0, gt=0)


SQL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class PullConfig(_Model):
    """``[pull]``: where ``dotsync pull`` writes what it brings back from DotDigital
    (unsubscribes, bounces, suppressions, resubscriptions), and how far it reads."""

    # A database source (`[source] url`): a table of that database, in `schema` if given.
    table: str = "dotdigital_status"
    schema_name: str | None = Field(default=None, alias="schema")
    # A file source (`[source] path`): a Parquet file, replaced atomically by each pull.
    path: RelPath = Field(default=Path("dotdigital_status.parquet"), validate_default=True)
    # Where the first pull starts reading (default: the export's first run).
    start_date: datetime | None = None
    max_calls: int = Field(default=100, ge=2)  # DotDigital calls at most per export and pull

    @field_validator("table", "schema_name")
    @classmethod
    def _sql_name(cls, value: str | None) -> str | None:
        if value is not None and not SQL_NAME.match(value):
            raise ValueError(
                f"{value!r} is not a plain SQL name: letters, digits and '_', starting with a "
                "letter or '_' (at most 63 characters)"
            )
        return value

    @field_validator("path")
    @classmethod
    def _parquet(cls, value: Path) -> Path:
        if value.suffix.lower() != ".parquet":
            raise ValueError(f"{value.name!r} must be a .parquet file")
        return value

    @field_validator("start_date", mode="before")
    @classmethod
    def _date_or_time(cls, value: Any) -> Any:
        # TOML gives a bare date (2024-01-01) as a date: midnight UTC.
        if isinstance(value, date) and not isinstance(value, datetime):
            return datetime(value.year, value.month, value.day, tzinfo=UTC)
        return value

    @field_validator("start_date")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # a time without an offset is UTC
        return value
