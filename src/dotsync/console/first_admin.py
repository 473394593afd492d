"""The first admin: while the console has none, every start of ``dotsync serve`` prints a new
one-time setup link to the log (the token is kept only as its SHA-256, used once, valid for a day).

Never "whoever comes first from loopback": behind a reverse proxy every visitor is loopback."""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime, timedelta

from dotsync.state.accounts import Accounts

log = logging.getLogger(__name__)

SETUP_LINK_LIFETIME = timedelta(hours=24)


def announce_setup_link(accounts: Accounts, base_url: str) -> str | None:
    """Prints (and returns) a new setup link when no admin exists; None otherwise."""
    if accounts.has_admin():
        accounts.forget_setup_tokens()
        return None
    token = secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + SETUP_LINK_LIFETIME
    accounts.new_setup_token(token, expires_at)
    link = f"{base_url.rstrip('/')}/setup?token={token}"
    log.warning(
        "the console has no admin yet: open %s to create the first one (the link works once, "
        "until %s UTC; or run `dotsync users add NAME --role admin`)",
        link,
        expires_at.strftime("%Y-%m-%d %H:%M"),
    )
    return link
