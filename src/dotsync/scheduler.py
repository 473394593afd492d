"""When each scheduled export is due: a pure core with no clock, thread or disk of its own.

The service (``dotsync.serve``) asks :class:`Scheduler` which exports are due at a time it passes
in, so tests drive it with any clock. Rules:

* Cron expressions are evaluated by croniter in the export's own timezone, so ``0 6 * * *`` with
  ``Europe/Paris`` means 06:00 Paris time all year, across daylight-saving changes.
* An export is due when a cron slot has passed since its last run started. Several slots missed
  while the service was down collapse into one run at start. An export that never ran (no record)
  is due at once: its address book has never been synced, so its first sync is already overdue.
* Exports that share a DotDigital account (same ``account_key``) never run at the same time: the
  account's rate limits and its 25 active imports are one budget. :meth:`Scheduler.take_due`
  hands out at most one export per idle account, the most overdue first.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from dotsync.errors import ConfigError

AccountKey = tuple[str, str]
"""(api_url, api_user): two exports with the same key share one DotDigital account."""


@dataclass(frozen=True)
class ScheduledExport:
    name: str
    cron: str
    timezone: str
    account_key: AccountKey

    def __post_init__(self) -> None:
        if not croniter.is_valid(self.cron):
            raise ConfigError(
                f"{self.cron!r} is not a valid cron expression", key=f"exports.{self.name}.schedule"
            )
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(
                f"unknown timezone {self.timezone!r} (use an IANA name such as Europe/Paris)",
                key=f"exports.{self.name}.timezone",
            ) from exc


def next_slot(export: ScheduledExport, after: datetime) -> datetime:
    """The first cron slot strictly after ``after`` (aware), as an aware UTC datetime."""
    if after.tzinfo is None:
        raise ValueError("after must be timezone-aware")
    zone = ZoneInfo(export.timezone)
    cursor = after.astimezone(zone)
    fixed_hours = _has_fixed_hours(export.cron)
    while True:
        slot: datetime = croniter(export.cron, cursor).get_next(datetime)
        # When clocks go back, wall-clock times of the repeated hour happen twice. Like cron,
        # a job at a fixed hour runs on the first of them only; hourly-or-finer jobs run on both
        # (they are an hour apart in real time, as intended).
        if fixed_hours and _is_second_occurrence(slot, zone):
            cursor = slot
            continue
        return slot.astimezone(UTC)


def latest_slot(export: ScheduledExport, now: datetime) -> datetime:
    """The last cron slot at or before ``now`` (aware), in UTC: the tick a run due at ``now``
    serves (several missed slots collapse into the latest). Workers sharing a state key the
    tick's claim by it."""
    zone = ZoneInfo(export.timezone)
    slot: datetime = croniter(export.cron, now.astimezone(zone)).get_prev(datetime)
    slot = slot.astimezone(UTC)
    while (following := next_slot(export, slot)) <= now:
        slot = following
    return slot


def _has_fixed_hours(cron: str) -> bool:
    fields = cron.split()
    if len(fields) == 1:  # croniter's macros: @daily, @weekly, @monthly, @yearly, @hourly...
        return fields[0].lower() != "@hourly"
    # Like cron: an hour field starting with * (*, */2) is a wildcard, not a fixed hour.
    return not fields[1].startswith("*")


def _is_second_occurrence(moment: datetime, zone: ZoneInfo) -> bool:
    wall = moment.replace(tzinfo=None)
    first = wall.replace(tzinfo=zone, fold=0).utcoffset()
    second = wall.replace(tzinfo=zone, fold=1).utcoffset()
    return first != second and moment.utcoffset() == second


class Scheduler:
    """Due times of scheduled exports, given when each last ran (``last_runs``: name → start)."""

    def __init__(
        self,
        exports: Iterable[ScheduledExport],
        last_runs: Mapping[str, datetime] | None = None,
    ) -> None:
        self._exports = {export.name: export for export in exports}
        self._last_runs: dict[str, datetime] = {
            name: at for name, at in (last_runs or {}).items() if name in self._exports
        }

    @property
    def exports(self) -> list[ScheduledExport]:
        return list(self._exports.values())

    @property
    def last_runs(self) -> dict[str, datetime]:
        return dict(self._last_runs)

    def due_time(self, name: str) -> datetime | None:
        """When ``name`` is next due; ``None`` means now (it never ran)."""
        last = self._last_runs.get(name)
        if last is None:
            return None
        return next_slot(self._exports[name], last)

    def due(self, now: datetime) -> list[ScheduledExport]:
        """Every export due at ``now``, most overdue first (never-run ones first, then by name)."""
        due: list[tuple[datetime, str]] = []
        for name in self._exports:
            at = self.due_time(name)
            if at is None or at <= now:
                due.append((at or datetime.min.replace(tzinfo=UTC), name))
        return [self._exports[name] for _, name in sorted(due)]

    def take_due(
        self, now: datetime, busy_accounts: Collection[AccountKey] = ()
    ) -> list[ScheduledExport]:
        """Due exports that may start now: at most one per account, none on a busy account."""
        taken: list[ScheduledExport] = []
        claimed = set(busy_accounts)
        for export in self.due(now):
            if export.account_key not in claimed:
                claimed.add(export.account_key)
                taken.append(export)
        return taken

    def export(self, name: str) -> ScheduledExport | None:
        return self._exports.get(name)

    def catch_up(self, ticks: Mapping[str, datetime]) -> None:
        """Other workers ran (or run) these ticks: the schedule moves past each one."""
        for name, at in ticks.items():
            last = self._last_runs.get(name)
            if name in self._exports and (last is None or last < at):
                self._last_runs[name] = at

    def record_run(self, name: str, started_at: datetime) -> None:
        """A run of ``name`` that started at ``started_at`` has ended (not interrupted).

        An interrupted run is not recorded, so the slot it served is still owed: the next start of
        the service runs it again and the runner resumes where it stopped.
        """
        if name in self._exports:
            self._last_runs[name] = started_at

    def next_wake(self, now: datetime, busy_accounts: Collection[AccountKey] = ()) -> datetime:
        """The earliest time an export on an idle account becomes due (``now`` if one is due)."""
        times = [
            self.due_time(export.name) or now
            for export in self._exports.values()
            if export.account_key not in busy_accounts
        ]
        return max(now, min(times)) if times else datetime.max.replace(tzinfo=UTC)
