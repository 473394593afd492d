"""Where a running export stands, in a small file of its run folder, for whoever watches it from
another thread or process (the console's run page): the stage, its counts, the stages passed and
the imports DotDigital is processing. Counts only: no key, no e-mail, no value.

Written at each new stage and at most every ``every`` seconds within one, atomically (a reader
never sees half a file); the run folder goes when the run succeeds, and the run's row in the state
says how it ended."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from dotsync.stages.context import ProgressFn

LIVE_FILE = "live.json"


@dataclass(frozen=True)
class LiveProgress:
    stage: str
    done: int
    total: int
    imports_in_flight: int = 0
    stages: list[str] = field(default_factory=list)  # every stage so far, in order
    updated_at: str = ""  # ISO 8601, UTC


class LiveRecorder:
    """Records a run's progress in ``path``; :meth:`progress` and :meth:`in_flight` are the
    runner's callbacks (thread-safe: imports are polled in the run's own thread, but a caller's
    callbacks may not be)."""

    def __init__(
        self, path: Path, *, every: float = 0.5, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.path = path
        self.every = every
        self._clock = clock
        self._lock = threading.Lock()
        self._state = LiveProgress(stage="", done=0, total=0)
        self._written_at: float | None = None

    def progress(self, stage: str, done: int, total: int) -> None:
        with self._lock:
            state = self._state
            new_stage = stage != state.stage
            stages = [*state.stages, stage] if stage not in state.stages else state.stages
            self._state = LiveProgress(stage, done, total, state.imports_in_flight, stages)
            self._write(force=new_stage or done == total)

    def in_flight(self, imports: int) -> None:
        with self._lock:
            s = self._state
            forced = imports != s.imports_in_flight
            self._state = LiveProgress(s.stage, s.done, s.total, imports, s.stages)
            self._write(force=forced)

    def chained(self, progress: ProgressFn) -> ProgressFn:
        """A progress callback that records here, then calls ``progress``."""

        def both(stage: str, done: int, total: int) -> None:
            self.progress(stage, done, total)
            progress(stage, done, total)

        return both

    def _write(self, *, force: bool) -> None:
        now = self._clock()
        if not force and self._written_at is not None and now - self._written_at < self.every:
            return
        self._written_at = now
        stamped = {**asdict(self._state), "updated_at": datetime.now(UTC).isoformat()}
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(stamped), encoding="utf-8")
        tmp.replace(self.path)


def read_live(path: Path) -> LiveProgress | None:
    """The progress last recorded in ``path``; None when there is none (not started, or over)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return None
    return LiveProgress(
        stage=str(data.get("stage", "")),
        done=int(data.get("done", 0)),
        total=int(data.get("total", 0)),
        imports_in_flight=int(data.get("imports_in_flight", 0)),
        stages=[str(s) for s in data.get("stages", [])],
        updated_at=str(data.get("updated_at", "")),
    )
