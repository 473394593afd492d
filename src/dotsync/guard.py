"""The mass-removal guard: a run must not empty an address book by accident (a header-only file,
a broken upstream job, a ``where`` typo that matches nobody). Pure: counts in, a verdict out."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RemovalGuard:
    max_fraction: float  # share of the export's members a run may take out of the book
    floor: int  # so many leavers never trip the guard, whatever the share (tiny books)


def mass_removal(
    guard: RemovalGuard, *, export: str, members: int, leavers: int, profiles: int
) -> str | None:
    """Why the run must stop before removing or sending anything, or None when it may go on.

    ``members``: the export's members before the run; ``leavers``: those no longer in any of its
    segments (a changed e-mail is not a leaver: the person stays); ``profiles``: the segments'
    size now."""
    if members == 0 or leavers == 0:
        return None
    if profiles == 0:
        return (
            f"export {export!r}: its segments came back empty while it has {members:,} members; "
            f"the run would remove all of them. Nothing was removed or sent. Check the source "
            "and the segments' queries; if the book must really be emptied, run "
            "`dotsync export --allow-mass-removal` once"
        )
    share = leavers / members
    if leavers <= guard.floor or share <= guard.max_fraction:
        return None
    return (
        f"export {export!r}: {leavers:,} of its {members:,} members ({share:.0%}) left its "
        f"segments, more than max_removal_fraction = {guard.max_fraction:g} allows. Nothing was "
        "removed or sent. Check the source and the segments' queries; if these members really "
        "left, run `dotsync export --allow-mass-removal` once (or raise max_removal_fraction)"
    )
