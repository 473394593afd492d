"""When each scheduled export last ran, kept in the work dir so missed runs survive a restart."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from dotsync.serve.files import read_json, write_json_atomic


class ScheduleStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, datetime]:
        data = read_json(self.path)
        if not isinstance(data, dict) or not isinstance(data.get("last_runs"), dict):
            return {}
        last_runs: dict[str, datetime] = {}
        for name, text in data["last_runs"].items():
            try:
                at = datetime.fromisoformat(text)
            except (TypeError, ValueError):
                continue  # unreadable: the export counts as never run, so it runs at start
            if at.tzinfo is not None:
                last_runs[name] = at
        return last_runs

    def save(self, last_runs: dict[str, datetime]) -> None:
        write_json_atomic(
            self.path,
            {"version": 1, "last_runs": {name: at.isoformat() for name, at in last_runs.items()}},
        )
