"""The mass-removal guard: a run must not empty an address book by accident (a header-only file,
a broken upstream job, a ``where`` typo that matches nobody). Pure: counts in, a verdict out."""

from __future__ import annotations

import shlex
from dataclasses import dataclass


@dataclass(frozen=True)
class RemovalGuard:
    max_fraction: float  # share of the export's members a run may take out of the book
    floor: int  # so many leavers never trip the guard, whatever the share (tiny books)


def mass_removal(
    guard: RemovalGuard,
    *,
    export: str,
    members: int,
    leavers: int,
    profiles: int,
    planning: bool = False,
) -> str | None:
    """Why the run must stop before removing or sending anything, or None when it may go on.

    ``members``: the export's members before the run; ``leavers``: those no longer in any of its
    segments (a changed e-mail is not a leaver: the person stays); ``profiles``: the segments'
    size now. ``planning``: for a plan, which never sends, so nothing is said of what was not."""
    if members == 0 or leavers == 0:
        return None
    stopped = "" if planning else " Nothing was removed or sent."
    override = f"`dotsync export {shlex.quote(export)} --allow-mass-removal` once"
    if profiles == 0:
        return (
            f"export {export!r}: its segments came back empty while it has {members:,} members; "
            f"the run would remove all of them.{stopped} Check the source and the segments' "
            f"queries; if the book must really be emptied, run {override}"
        )
    share = leavers / members
    if leavers <= guard.floor or share <= guard.max_fraction:
        return None
    return (
        f"export {export!r}: {leavers:,} of its {members:,} members ({share:.0%}) left its "
        f"segments, more than max_removal_fraction = {guard.max_fraction:g} allows.{stopped} "
        "Check the source and the segments' queries; if these members really left, run "
        f"{override} (or raise max_removal_fraction)"
    )
