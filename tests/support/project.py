"""A dotsync project in a temporary folder, wired to a running emulator: profiles as CSV, a
dotsync.toml, an address book. For end-to-end tests of exports."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dotsync.config import Config, load_config
from dotsync.emulator import RunningEmulator
from dotsync.result import RunResult
from dotsync.runner import run_export

PASSWORD_ENV = "DOTSYNC_TEST_DD_PASSWORD"
PROFILE_COLUMNS = ["customer_id", "email", "first_name", "last_name", "lifetime_value", "tier"]


def profile(i: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "customer_id": f"C{i:05d}",
        "email": f"person{i}@example.com",
        "first_name": f"Ann{i}",
        "last_name": "Lee",
        "lifetime_value": 500 + i,
        "tier": "gold" if i % 2 else "silver",
    }
    row.update(overrides)
    return row


@dataclass
class Project:
    folder: Path
    emulator: RunningEmulator
    book_id: int
    api_user: str
    export: dict[str, Any] = field(default_factory=dict)
    state_url: str | None = None
    connection: dict[str, Any] = field(default_factory=dict)  # more keys of [connections.dd]
    extra_toml: str = ""  # tables appended to dotsync.toml ([pull], [source.tables], segments)
    source: dict[str, Any] = field(
        default_factory=lambda: {"path": "profiles.csv", "key": "customer_id"}
    )

    @property
    def config_path(self) -> Path:
        return self.folder / "dotsync.toml"

    def write_profiles(self, rows: Iterable[Mapping[str, Any]]) -> None:
        with (self.folder / "profiles.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=PROFILE_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)

    def write_config(self, **export: Any) -> Config:
        settings = {
            "connection": "dd",
            "segments": ["valuable"],
            "create_missing_data_fields": True,
            **self.export,
            **export,
        }
        lines = [
            "[state]",
            f"url = {self.state_url!r}" if self.state_url else "",
            "[source]",
            *[f"{k} = {_toml(v)}" for k, v in self.source.items()],
            "[segments.valuable]",
            'where = "lifetime_value > 100"',
            "[segments.gold]",
            "where = \"tier = 'gold'\"",
            "[connections.dd]",
            'display_name = "Test account"',
            f'api_user = "{self.api_user}"',
            f'password_env = "{PASSWORD_ENV}"',
            f"address_book_id = {self.book_id}",
            "privacy_acknowledged = true",
            f'api_url = "{self.emulator.base_url}"',
            *[f"{k} = {_toml(v)}" for k, v in self.connection.items()],
            "[exports.news]",
            *[f"{k} = {_toml(v)}" for k, v in settings.items() if k != "mapping"],
            "[exports.news.mapping]",
            *[
                f"{k} = {_toml(v)}"
                for k, v in settings.get(
                    "mapping",
                    {
                        "email": "email",
                        "first_name": "first_name",
                        "last_name": "last_name",
                        "data_fields": {"TIER": "tier"},
                    },
                ).items()
            ],
            self.extra_toml,
        ]
        self.config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return load_config(self.config_path)

    def run(self, **kwargs: Any) -> RunResult:
        return run_export(load_config(self.config_path), "news", **kwargs)

    def members(self) -> dict[str, dict[str, Any]]:
        """The address book as the emulator holds it: e-mail → contact."""
        return {
            m["email"].lower(): m for m in self.emulator.book_members(self.api_user, self.book_id)
        }


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)
