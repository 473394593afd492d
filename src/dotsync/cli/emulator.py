"""``dotsync emulator``: serve the local DotDigital API emulator until Ctrl-C or SIGTERM."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, cast

import typer


def emulator(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    api_user: Annotated[
        list[str] | None,
        typer.Option(
            "--api-user", help="API user of an account; repeat with --password for several."
        ),
    ] = None,
    password: Annotated[
        list[str] | None, typer.Option("--password", help="Password of the matching --api-user.")
    ] = None,
    region: Annotated[str, typer.Option(help="Region of the accounts: r1, r2 or r3.")] = "r1",
    state: Annotated[
        Path | None,
        typer.Option(help="SQLite file keeping everything across restarts (default: in memory)."),
    ] = None,
    seed: Annotated[
        Path | None,
        typer.Option(help="JSON file of accounts, books, contacts, data fields and suppressions."),
    ] = None,
    import_rate: Annotated[
        float | None,
        typer.Option(help="Contacts processed per second by imports (default: as fast as it can)."),
    ] = None,
    rate_limit: Annotated[
        str,
        typer.Option(
            help="Rate limits: off, tiered (per-minute tiers, 429) or flat (2,000 an hour)."
        ),
    ] = "off",
    watchdog: Annotated[
        float | None,
        typer.Option(help="Reject a whole import file when more than this share of rows is bad."),
    ] = None,
    contact_limit: Annotated[
        int | None,
        typer.Option(
            help="Most contacts an account may hold (imports end ExceedsAllowedContactLimit)."
        ),
    ] = None,
) -> None:
    """Serve the local DotDigital API emulator (prints its base URL; Ctrl-C stops it)."""
    from pydantic import SecretStr, ValidationError

    # Imported here: the emulator's web stack is not needed by the other commands.
    from dotsync.emulator import AccountSettings, EmulatorSettings, RateLimitSettings, serve
    from dotsync.emulator.settings import DEFAULT_API_USER, DEFAULT_PASSWORD, REGIONS

    users = api_user or [DEFAULT_API_USER]
    passwords = password or ([DEFAULT_PASSWORD] if api_user is None else [])
    if len(users) != len(passwords):
        raise typer.BadParameter("give one --password for each --api-user", param_hint="--password")
    if region not in REGIONS:
        raise typer.BadParameter("must be r1, r2 or r3", param_hint="--region")
    if rate_limit not in ("off", "tiered", "flat"):
        raise typer.BadParameter("must be off, tiered or flat", param_hint="--rate-limit")
    try:
        settings = EmulatorSettings(
            accounts=[
                AccountSettings(
                    api_user=u, password=SecretStr(p), region=region, contact_limit=contact_limit
                )
                for u, p in zip(users, passwords, strict=True)
            ],
            import_rate=import_rate,
            watchdog_max_bad_share=watchdog,
            state_file=state,
            seed_file=seed,
            rate_limits=RateLimitSettings(mode=cast(Literal["off", "tiered", "flat"], rate_limit)),
        )
    except ValidationError as exc:
        raise typer.BadParameter(str(exc)) from exc
    serve(settings, host, port)


def register(app: typer.Typer) -> None:
    app.command("emulator", short_help="Serve the local DotDigital API emulator.")(emulator)
