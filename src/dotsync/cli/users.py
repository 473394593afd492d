"""``dotsync users``: the web console's users, from the command line (the first admin, or when
nobody can sign in). Every change is in the audit log, by "command line"."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from dotsync.cli._common import (
    DEFAULT_CONFIG_PATH,
    ConfigOption,
    JsonOption,
    VerboseOption,
    handled,
    out,
    print_json,
    print_table,
    setup_logging,
)
from dotsync.console.users import Role, UserInputError, check_name, check_password, parse_role
from dotsync.errors import ConfigError

if TYPE_CHECKING:
    from dotsync.console.context import ConsoleState

ACTOR = "command line"

users_app = typer.Typer(
    help="The web console's users: admin, contributor or viewer.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

NameArgument = Annotated[
    str, typer.Argument(metavar="NAME", help="The user's name (not an e-mail).")
]
RoleOption = Annotated[
    str, typer.Option("--role", help="admin, contributor or viewer.", metavar="ROLE")
]
PasswordEnvOption = Annotated[
    str | None,
    typer.Option(
        "--password-env",
        help="Read the password from this environment variable instead of asking for it.",
        metavar="VAR",
    ),
]


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users", short_help="Add, list, change and remove console users.")


@contextmanager
def _state(config: ConfigOption) -> Iterator[ConsoleState]:
    """The project's state, closed when the command is done with it."""
    from dotsync.console.context import ConsoleState, ProjectPaths

    state = ConsoleState(ProjectPaths.of(config))
    try:
        yield state
    finally:
        state.close()


def _checked(error: UserInputError) -> ConfigError:
    return ConfigError(str(error))


def _password(password_env: str | None, *, as_json: bool) -> str:
    if password_env is None and as_json:
        # A prompt is not a JSON line, and a machine cannot answer it.
        raise ConfigError("with --json, give the password with --password-env VAR")
    if password_env is not None:
        value = os.environ.get(password_env)
        if not value:
            raise ConfigError(f"--password-env {password_env}: the variable is not set or empty")
        return check_password(value)
    first = typer.prompt("Password", hide_input=True)
    second = typer.prompt("Password again", hide_input=True)
    return check_password(first, confirmation=second)


def _done(as_json: bool, said: str, **fields: str) -> None:
    if as_json:
        print_json(fields)
    else:
        out.print(said)


@users_app.command("add")
def add(
    name: NameArgument,
    role: RoleOption = "viewer",
    password_env: PasswordEnvOption = None,
    config: ConfigOption = DEFAULT_CONFIG_PATH,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Add a user who signs in to the console with a password."""
    from dotsync.console.passwords import hash_password

    mode = setup_logging(verbose, as_json=as_json)
    with handled(verbose, json_logs=mode.json_logs):
        try:
            check_name(name)
            chosen = parse_role(role)
            password = _password(password_env, as_json=as_json)
        except UserInputError as exc:
            raise _checked(exc) from None
        with _state(config) as state:
            state.accounts.add(name, chosen, hash_password(password), created_by=ACTOR)
            if chosen is Role.ADMIN:
                state.accounts.forget_setup_tokens()  # the setup link has no more use
            state.audit_log.record(ACTOR, "user.add", name, "ok", {"role": chosen.value})
        _done(as_json, f"user {name} added ({chosen.value})", user=name, role=chosen.value)


@users_app.command("list")
def list_users(
    config: ConfigOption = DEFAULT_CONFIG_PATH,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """List the users and their roles."""
    from rich.table import Table

    mode = setup_logging(verbose, as_json=as_json)
    with handled(verbose, json_logs=mode.json_logs):
        with _state(config) as state:
            accounts = state.accounts.all()
        if as_json:
            print_json(
                [
                    {
                        "name": a.name,
                        "role": a.role.value,
                        "created_at": a.created_at.isoformat(),
                        "created_by": a.created_by,
                    }
                    for a in accounts
                ]
            )
            return
        if not accounts:
            out.print("no users yet: dotsync users add NAME --role admin")
            return
        table = Table("name", "role", "added", "added by")
        for a in accounts:
            table.add_row(
                a.name, a.role.value, a.created_at.strftime("%Y-%m-%d %H:%M"), a.created_by or ""
            )
        print_table(table)


@users_app.command("set-role")
def set_role(
    name: NameArgument,
    role: Annotated[str, typer.Argument(metavar="ROLE", help="admin, contributor or viewer.")],
    config: ConfigOption = DEFAULT_CONFIG_PATH,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Change a user's role; their sessions end."""
    mode = setup_logging(verbose, as_json=as_json)
    with handled(verbose, json_logs=mode.json_logs):
        try:
            chosen = parse_role(role)
        except UserInputError as exc:
            raise _checked(exc) from None
        with _state(config) as state:
            before = state.accounts.require(name).role
            state.accounts.set_role(name, chosen)
            detail = {"from": before.value, "to": chosen.value}
            state.audit_log.record(ACTOR, "user.role", name, "ok", detail)
        _done(
            as_json,
            f"{name} is now {chosen.value}; their sessions ended",
            user=name,
            role=chosen.value,
        )


@users_app.command("remove")
def remove(
    name: NameArgument,
    config: ConfigOption = DEFAULT_CONFIG_PATH,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Remove a user; their sessions end. The last admin cannot be removed."""
    mode = setup_logging(verbose, as_json=as_json)
    with handled(verbose, json_logs=mode.json_logs):
        with _state(config) as state:
            state.accounts.remove(name)
            state.audit_log.record(ACTOR, "user.remove", name)
        _done(as_json, f"user {name} removed", user=name, removed="true")


@users_app.command("passwd")
def passwd(
    name: NameArgument,
    password_env: PasswordEnvOption = None,
    config: ConfigOption = DEFAULT_CONFIG_PATH,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Set a user's password; their sessions end."""
    from dotsync.console.passwords import hash_password

    mode = setup_logging(verbose, as_json=as_json)
    with handled(verbose, json_logs=mode.json_logs):
        try:
            password = _password(password_env, as_json=as_json)
        except UserInputError as exc:
            raise _checked(exc) from None
        with _state(config) as state:
            state.accounts.set_password(name, hash_password(password))
            state.audit_log.record(ACTOR, "user.password", name)
        _done(as_json, f"password of {name} changed; their sessions ended", user=name)
