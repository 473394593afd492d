"""``dotsync demo``: the main job on embedded defaults, with nothing but the install.

Makes a realistic synthetic profile set, starts the DotDigital emulator in this process, exports
two segments to it over HTTP, then refreshes once to show that only changes travel."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from dotsync.config import load_config
from dotsync.dotdigital import DotDigitalClient
from dotsync.emulator import EmulatorSettings, run_emulator
from dotsync.result import RunResult
from dotsync.runner import ProgressFn, run_export
from dotsync.synthetic import write_profiles

DEMO_USER = "demo@apiconnector.com"
DEMO_PASSWORD_ENV = "DOTSYNC_DEMO_PASSWORD"  # noqa: S105 - the name of a variable, not a secret

CONFIG_TEMPLATE = """\
# Written by `dotsync demo`: a complete, working configuration to copy from.
[state]
url = "sqlite:///.dotsync/state.sqlite"
work_dir = ".dotsync"

[source]
path = "profiles.parquet"
key = "customer_id"

[segments.high_value]
where = "lifetime_value > 1000"

[segments.churn_risk]
where = "churn_score > 0.8"

[connections.demo]
display_name = "DotDigital (local emulator)"
api_user = "{api_user}"
password_env = "{password_env}"
address_book_id = {book_id}
privacy_acknowledged = true
api_url = "{api_url}"

[exports.newsletter]
connection = "demo"
segments = ["high_value", "churn_risk"]
create_missing_data_fields = true

[exports.newsletter.mapping]
email = "email"
first_name = "first_name"
last_name = "last_name"
full_name = "full_name"
gender = "gender"
postcode = "zip"
data_fields = {{ LOYALTY_TIER = "tier" }}
"""


@dataclass(frozen=True)
class DemoOutcome:
    folder: Path
    first: RunResult
    refresh: RunResult
    book_contacts: int
    expected_members: int


def run_demo(
    folder: Path,
    *,
    profiles: int = 50_000,
    progress: ProgressFn | None = None,
    say: Callable[[str], None] = lambda _m: None,
) -> DemoOutcome:
    folder.mkdir(parents=True, exist_ok=True)
    say(f"writing {profiles:,} synthetic profiles to {folder / 'profiles.parquet'}")
    write_profiles(folder / "profiles.parquet", profiles)
    password = "demo"  # noqa: S105 - the emulator's documented demo account
    with run_emulator(EmulatorSettings()) as emulator:
        say(f"DotDigital emulator listening on {emulator.base_url}")
        with DotDigitalClient(DEMO_USER, SecretStr(password), emulator.base_url) as client:
            client.discover()
            book = client.create_address_book("Newsletter (dotsync demo)")
        config_path = folder / "dotsync.toml"
        config_path.write_text(
            CONFIG_TEMPLATE.format(
                api_user=DEMO_USER,
                password_env=DEMO_PASSWORD_ENV,
                book_id=book.id,
                api_url=emulator.base_url,
            ),
            encoding="utf-8",
        )
        os.environ[DEMO_PASSWORD_ENV] = password
        config = load_config(config_path)
        say("exporting segments high_value + churn_risk to the address book")
        first = run_export(config, "newsletter", progress=progress)
        say("refreshing: nothing changed, so nothing should be sent")
        refresh = run_export(config, "newsletter", progress=progress)
        with DotDigitalClient(DEMO_USER, SecretStr(password), emulator.base_url) as client:
            client.discover()
            contacts = client.address_book(book.id).contacts
    return DemoOutcome(folder, first, refresh, contacts, first.counts.valid)
