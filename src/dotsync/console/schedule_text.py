"""A schedule as a person reads it: the cron expression described in words (English or French,
by ``cron-descriptor``) and its next runs, computed by the scheduler ``dotsync serve`` uses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from cron_descriptor import ExpressionDescriptor, Options
from cron_descriptor.Exception import (
    FormatException,
    MissingFieldException,
    WrongArgumentException,
)

from dotsync.scheduler import ScheduledExport, next_slot

# croniter's macros, which cron-descriptor does not read, as the five fields they stand for.
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_LOCALES = {"en": "en_US", "fr": "fr_FR"}
# cron-descriptor names days and months with Python's ``calendar`` module, in the process's
# locale (English on a server): its French sentences are completed here.
_FRENCH_NAMES = {
    "Monday": "lundi",
    "Tuesday": "mardi",
    "Wednesday": "mercredi",
    "Thursday": "jeudi",
    "Friday": "vendredi",
    "Saturday": "samedi",
    "Sunday": "dimanche",
    "January": "janvier",
    "February": "février",
    "March": "mars",
    "April": "avril",
    "May": "mai",
    "June": "juin",
    "July": "juillet",
    "August": "août",
    "September": "septembre",
    "October": "octobre",
    "November": "novembre",
    "December": "décembre",
}


@dataclass(frozen=True)
class ScheduleView:
    cron: str
    timezone: str
    description: str
    next_runs: list[datetime]  # in the schedule's own time zone


def describe_cron(cron: str, locale: str = "en") -> str:
    """``"At 06:00, Monday through Friday"``; the expression itself when it cannot be read."""
    options = Options()
    options.locale_code = _LOCALES.get(locale, "en_US")
    options.use_24hour_time_format = True
    expression = _MACROS.get(cron.strip().lower(), cron)
    try:
        text = ExpressionDescriptor(expression, options).get_description()
    except (FormatException, MissingFieldException, WrongArgumentException, ValueError, IndexError):
        return cron
    if locale == "fr":
        for english, french in _FRENCH_NAMES.items():
            text = text.replace(english, french)
    return str(text)


def describe_schedule(
    cron: str, timezone: str, *, now: datetime, locale: str = "en", count: int = 3
) -> ScheduleView:
    """The schedule in words and its next ``count`` runs after ``now`` (aware)."""
    scheduled = ScheduledExport("schedule", cron, timezone, ("", ""))
    zone = ZoneInfo(timezone)
    runs: list[datetime] = []
    cursor = now
    for _ in range(count):
        cursor = next_slot(scheduled, cursor)
        runs.append(cursor.astimezone(zone))
    return ScheduleView(cron, timezone, describe_cron(cron, locale), runs)
