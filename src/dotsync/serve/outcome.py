"""What the service observed of one run: the runner's result, or the error that ended it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from dotsync.result import RunCounts, RunResult, RunStatus

OutcomeStatus = RunStatus | Literal["busy", "lost"]
"""A run's status, or ``busy``: another process held the export's lock, so nothing ran; or
``lost``: the run's lease passed and another worker took the run over (it records it)."""


@dataclass(frozen=True)
class RunOutcome:
    export: str
    status: OutcomeStatus
    started_at: datetime
    finished_at: datetime
    counts: RunCounts | None = None  # None when the run raised instead of returning a result
    error: str | None = None
    result: RunResult | None = None
    exit_code: int = 0  # of the error that ended the run (dotsync.errors.ExitCode), 0 otherwise
    started_by: str | None = None  # "scheduler" or a console user's name

    @property
    def duration_seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def rows_rejected(self) -> bool:
        """Rows refused by validation or by DotDigital (``--fail-on-rejects`` exits 4 on them)."""
        return bool(self.counts and (self.counts.rejected or self.counts.failed))

    def as_json(self) -> dict[str, Any]:
        """What ``serve --once --json`` prints for this run."""
        return {
            "export": self.export,
            "status": str(self.status),
            "run_id": self.result.run_id if self.result else None,
            "started_at": self.started_at.isoformat(),
            "duration_seconds": self.duration_seconds,
            "exit_code": self.exit_code,
            "error": self.error,
            "counts": self.counts.model_dump(mode="json") if self.counts else None,
            "rejects_file": str(self.result.rejects_file)
            if self.result and self.result.rejects_file
            else None,
        }

    @property
    def succeeded(self) -> bool:
        return self.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL)

    @classmethod
    def from_result(cls, result: RunResult, finished_at: datetime) -> RunOutcome:
        return cls(
            export=result.export,
            status=result.status,
            started_at=result.started_at,
            finished_at=result.finished_at or finished_at,
            counts=result.counts,
            error=result.error,
            result=result,
            started_by=result.started_by,
        )
