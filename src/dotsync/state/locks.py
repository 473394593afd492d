"""Names of the cooperative locks a run takes in the state (``StateStore.acquire_locks``).

One run per export at a time, and one per DotDigital account: its rate limits and import slots are
the account's, shared by every export that writes to it."""

from __future__ import annotations


def export_lock(export: str) -> str:
    return f"export:{export}"


def account_lock(api_url: str, api_user: str) -> str:
    return f"account:{api_url.rstrip('/').lower()}|{api_user.lower()}"


def run_locks(export: str, api_url: str, api_user: str) -> list[str]:
    """Every lock a run (or a removal) of ``export`` holds, in the order they are taken."""
    return [export_lock(export), account_lock(api_url, api_user)]


def account_id_lock(account_id: str) -> str:
    """The account as DotDigital names it (account-info's id): two API users of one account are
    one account. Taken once the id is known (from an earlier run, or at connect)."""
    return f"account-id:{account_id}"
