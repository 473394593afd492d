"""``dotsync demo``: the main job on embedded defaults, with nothing but the install.

Makes a realistic synthetic profile set, starts the DotDigital emulator in this process, exports
two segments to it over HTTP, then refreshes once to show that only changes travel.

The folder it leaves is a project that runs again: the emulator keeps its data in
``emulator.sqlite`` there (so the address book and its contacts survive), ``dotsync.toml`` points
at the port of the ``dotsync emulator`` command printed at the end (the in-process emulator of the
demo itself listens on a free port, so the demo never clashes with one already running), and the
emulator's demo password is in an owner-only file beside it."""

from __future__ import annotations

import re
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from dotsync.config import Config, load_config
from dotsync.dotdigital import DotDigitalClient
from dotsync.emulator import EmulatorSettings, run_emulator
from dotsync.emulator.settings import DEFAULT_API_USER, DEFAULT_PASSWORD
from dotsync.errors import ConfigError
from dotsync.result import RunResult
from dotsync.runner import ProgressFn, run_export
from dotsync.synthetic import write_profiles

DEMO_PORT = 8765  # the port `dotsync emulator` listens on by default
CONNECTION = "demo"
EXPORT = "newsletter"
BOOK_NAME = "Newsletter (dotsync demo)"
PASSWORD_FILE = "demo-password"  # noqa: S105 - a file name
EMULATOR_STATE = "emulator.sqlite"
STATE_DIR = ".dotsync"
HEADER = "# Written by `dotsync demo`"
# What the demo writes into its folder (a previous demo's are replaced, anyone else's kept).
WRITTEN = (
    "dotsync.toml",
    "README.md",
    "profiles.parquet",
    PASSWORD_FILE,
    EMULATOR_STATE,
    STATE_DIR,
)

CONFIG_TEMPLATE = """\
{header}: a complete, working configuration to copy from.
# Runs against the local emulator started with the command in README.md (same folder).
[state]
url = "sqlite:///{state_dir}/state.sqlite"
work_dir = "{state_dir}"

[source]
path = "profiles.parquet"
key = "customer_id"

[segments.high_value]
where = "lifetime_value > 1000"

[segments.churn_risk]
where = "churn_score > 0.8"

[connections.{connection}]
display_name = "Local DotDigital emulator"
api_user = "{api_user}"
# The emulator's demo password, in a file only its owner may read. For a real account, prefer
# password_env = "VARIABLE" or password_keyring = true; never the password itself in this file.
password_file = "{password_file}"
address_book_id = {book_id}
privacy_acknowledged = true
api_url = "{api_url}"  # without it: DotDigital itself, region discovered

[exports.{export}]
connection = "{connection}"
segments = ["high_value", "churn_risk"]
create_missing_data_fields = true

[exports.{export}.mapping]
email = "email"
first_name = "first_name"
last_name = "last_name"
full_name = "full_name"
gender = "gender"
postcode = "zip"
data_fields = {{ LOYALTY_TIER = "tier" }}
"""

README_TEMPLATE = """\
# A dotsync demo project

Written by `dotsync demo --dir`: {profiles:,} synthetic profiles exported to a local DotDigital
emulator, whose data is kept in this folder, so the project runs again.

| file | what it is |
|---|---|
| `profiles.parquet` | the synthetic profiles (2% have a bad e-mail, 0.5% a duplicate one) |
| `dotsync.toml` | the configuration: two segments, one connection, one export |
| `{password_file}` | the emulator's demo password (`{password}`), readable only by you |
| `{emulator_state}` | the emulator's data: the account, address book {book_id} and its contacts |
| `{state_dir}/` | dotsync's state: runs, members, rejected rows (`{state_dir}/rejects/`) |

## Run it again

In this folder, start the emulator with its data (Ctrl-C stops it):

```bash
{start_emulator}
```

and in another terminal, in this folder:

```bash
{run_export}
```

Nothing changed since the demo, so nothing is sent: the export reports every member as
unchanged. Then try `dotsync history`, `dotsync show-run 1`, `dotsync connect {connection}`, or
change a segment's `where` in `dotsync.toml` and run `dotsync plan {export}` to see who would
enter and leave.

If port {port} is taken, start the emulator with another `--port` and change `api_url` in
`dotsync.toml` to match.

## A run says `partial`

It finished, but some rows were rejected (bad or duplicate e-mails: each one with its key and
reason in `{state_dir}/rejects/`) or suppressed (DotDigital will not add an unsubscribed or bounced
contact). Everything else is in the address book.
"""


@dataclass(frozen=True)
class DemoCommands:
    """What to type to run the demo's project again (in its folder)."""

    start_emulator: str
    run_export: str


@dataclass(frozen=True)
class DemoOutcome:
    folder: Path
    first: RunResult
    refresh: RunResult
    book_contacts: int
    expected_members: int
    commands: DemoCommands


def demo_commands(port: int = DEMO_PORT) -> DemoCommands:
    start = f"dotsync emulator --state {EMULATOR_STATE}"
    if port != DEMO_PORT:
        start += f" --port {port}"
    return DemoCommands(start_emulator=start, run_export=f"dotsync export {EXPORT}")


def run_demo(
    folder: Path,
    *,
    profiles: int = 50_000,
    port: int = DEMO_PORT,
    force: bool = False,
    progress: ProgressFn | None = None,
    say: Callable[[str], None] = lambda _m: None,
    on_run: Callable[[RunResult], None] = lambda _r: None,
) -> DemoOutcome:
    """Write the demo's project into ``folder`` and run its export twice (``on_run`` gets each
    result as soon as it is known). ``port`` is where ``dotsync emulator`` will listen when the
    project is run again; the demo itself uses an emulator of its own on a free port. An earlier
    demo in ``folder`` is replaced only with ``force`` (and never while its emulator runs)."""
    _prepare(folder, say, force=force, port=port)
    say(f"writing {profiles:,} synthetic profiles to {folder / 'profiles.parquet'}")
    write_profiles(folder / "profiles.parquet", profiles)
    password_file = folder / PASSWORD_FILE
    password_file.touch(mode=0o600)  # owner-only before it holds anything
    password_file.chmod(0o600)
    password_file.write_text(DEFAULT_PASSWORD + "\n", encoding="utf-8")
    password = SecretStr(DEFAULT_PASSWORD)
    settings = EmulatorSettings(state_file=folder / EMULATOR_STATE)
    with run_emulator(settings) as emulator:
        say(f"DotDigital emulator listening on {emulator.base_url}, its data in {EMULATOR_STATE}")
        with DotDigitalClient(DEFAULT_API_USER, password, emulator.base_url) as client:
            client.discover()
            book = client.create_address_book(BOOK_NAME)
        config_path = folder / "dotsync.toml"
        values = {
            "header": HEADER,
            "state_dir": STATE_DIR,
            "connection": CONNECTION,
            "export": EXPORT,
            "api_user": DEFAULT_API_USER,
            "password_file": PASSWORD_FILE,
            "book_id": book.id,
        }
        config_path.write_text(
            CONFIG_TEMPLATE.format(**values, api_url=f"http://127.0.0.1:{port}"), encoding="utf-8"
        )
        commands = demo_commands(port)
        (folder / "README.md").write_text(
            README_TEMPLATE.format(
                **values,
                profiles=profiles,
                password=DEFAULT_PASSWORD,
                emulator_state=EMULATOR_STATE,
                port=port,
                start_emulator=commands.start_emulator,
                run_export=commands.run_export,
            ),
            encoding="utf-8",
        )
        config = _pointed_at(load_config(config_path), emulator.base_url)
        say("exporting segments high_value + churn_risk to the address book")
        first = run_export(config, EXPORT, progress=progress)
        on_run(first)
        say("refreshing: nothing changed, so nothing should be sent")
        refresh = run_export(config, EXPORT, progress=progress)
        on_run(refresh)
        with DotDigitalClient(DEFAULT_API_USER, password, emulator.base_url) as client:
            client.discover()
            contacts = client.address_book(book.id).contacts
    return DemoOutcome(folder, first, refresh, contacts, first.counts.valid, commands)


def _pointed_at(config: Config, base_url: str) -> Config:
    """The demo's configuration with its connection at the demo's own emulator."""
    connection = config.connections[CONNECTION].model_copy(update={"api_url": base_url})
    return config.model_copy(update={"connections": {CONNECTION: connection}})


def _prepare(folder: Path, say: Callable[[str], None], *, force: bool, port: int) -> None:
    """Create ``folder``, or clear a previous demo from it (only with ``force``) so the demo starts
    from nothing. A folder holding files of the same names that a demo did not write is left
    alone, and so is a previous demo whose emulator is still running."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "dotsync.toml"
    previous_text = config.read_text(encoding="utf-8", errors="replace") if config.is_file() else ""
    if not previous_text.startswith(HEADER):
        taken = [name for name in WRITTEN if (folder / name).exists()]
        if taken:
            raise ConfigError(
                f"{folder} already holds {', '.join(taken)}, which the demo did not write: "
                "choose another --dir (the demo writes a project of its own there)"
            )
        return
    if not force:
        raise ConfigError(
            f"{folder} holds an earlier demo (its dotsync.toml, emulator data and state): "
            "pass --force to replace it (changes to its dotsync.toml are lost), or choose "
            "another --dir"
        )
    state = folder / EMULATOR_STATE
    if _in_use(state):
        raise ConfigError(
            f"{state} is open in a running program (the emulator the earlier demo printed?): "
            "stop it (Ctrl-C) before replacing the demo, or choose another --dir"
        )
    for busy in sorted({port, *_ports_in(previous_text)}):
        if _answers(busy):
            raise ConfigError(
                f"something answers on port {busy}, which the demo in {folder} uses (the "
                "emulator it printed?): stop it (Ctrl-C) before replacing the demo, or choose "
                "another --dir"
            )
    say(f"starting over (--force): clearing the previous demo in {folder}")
    shutil.rmtree(folder / STATE_DIR, ignore_errors=True)
    for name in (EMULATOR_STATE, f"{EMULATOR_STATE}-wal", f"{EMULATOR_STATE}-shm"):
        (folder / name).unlink(missing_ok=True)


def _ports_in(config_text: str) -> set[int]:
    """The local ports an earlier demo's dotsync.toml points at (its ``api_url``)."""
    found = re.findall(r"^api_url = \"http://127\.0\.0\.1:(\d+)\"", config_text, re.MULTILINE)
    return {int(port) for port in found if 0 < int(port) < 65536}


def _answers(port: int) -> bool:
    """Whether something accepts a connection on this machine's ``port`` (a quick connect)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _in_use(path: Path) -> bool:
    """Whether a process of this user holds ``path`` open (read from /proc, where there is one;
    elsewhere the port check alone stands guard)."""
    proc = Path("/proc")
    if not path.exists() or not proc.is_dir():
        return False
    target = path.resolve()
    for fd_dir in proc.glob("[0-9]*/fd"):
        try:
            links = list(fd_dir.iterdir())
        except OSError:  # another user's process, or one that just ended
            continue
        for link in links:
            try:
                if link.readlink() == target:
                    return True
            except OSError:
                continue
    return False
