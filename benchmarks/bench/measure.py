"""One ``dotsync export`` in a fresh subprocess, measured as that process alone.

``os.wait4`` returns the child's own CPU time (user + system seconds). Its peak memory is read
from the child's ``/proc/PID/status`` (``VmHWM``, the high-water mark of the exec'd program),
polled while it runs: ``ru_maxrss`` cannot be used, because Linux carries the *parent's* peak
into a forked child, so every run reported the benchmark's own ~620 MB (found by comparing with
``/usr/bin/time -v``: 587 MB for the full export, 472 MB for the refresh).
Wall time runs from just before the fork to the child's exit: interpreter start, imports, the
whole run and the emulator's import processing, which dotsync waits for."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.emulator import PASSWORD, dotsync_command
from bench.project import EXPORT, PASSWORD_ENV


@dataclass(frozen=True)
class Measured:
    wall_s: float
    cpu_user_s: float
    cpu_sys_s: float
    peak_rss_mb: float
    exit_code: int
    counts: dict[str, Any] = field(default_factory=dict)  # RunCounts of ``--json``
    status: str = ""

    @property
    def cpu_s(self) -> float:
        return self.cpu_user_s + self.cpu_sys_s


def run_export(
    config: Path, logs: Path, *, full: bool = False, wrapper: Sequence[str] = ()
) -> Measured:
    """Run ``dotsync export NAME --json`` with ``config``; stdout and stderr go to files under
    ``logs`` (named after the config's folder). ``wrapper`` prefixes the command (a profiler);
    the figures then include the profiler's own process, so profiled runs are not measured."""
    command = [
        *wrapper,
        str(dotsync_command()),
        "export",
        EXPORT,
        "--config",
        str(config),
        "--json",
        *(["--full"] if full else []),
    ]
    env = {**os.environ, PASSWORD_ENV: PASSWORD}
    logs.mkdir(parents=True, exist_ok=True)
    stem = f"{config.parent.name}-{time.strftime('%H%M%S')}"
    stdout_path, stderr_path = logs / f"{stem}.json", logs / f"{stem}.stderr"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env)  # noqa: S603
        peak = _HighWater(process.pid)
        peak.start()
        _, wait_status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        peak.join()
    process.returncode = os.waitstatus_to_exitcode(wait_status)  # reaped by wait4 already
    counts: dict[str, Any] = {}
    status = ""
    try:
        results = json.loads(stdout_path.read_text(encoding="utf-8"))
        counts, status = results[0]["counts"], results[0]["status"]
    except (ValueError, IndexError, KeyError):
        pass  # the exit code and the stderr file say what went wrong
    if process.returncode != 0:
        tail = stderr_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise RuntimeError(f"dotsync export exited {process.returncode}: {tail}")
    return Measured(
        wall_s=wall,
        cpu_user_s=usage.ru_utime,
        cpu_sys_s=usage.ru_stime,
        peak_rss_mb=peak.kib / 1024,
        exit_code=process.returncode,
        counts=counts,
        status=status,
    )


class _HighWater(threading.Thread):
    """Polls a process's VmHWM (KiB) until it is gone; the last value read is its peak (VmHWM
    only grows, so only growth in the last poll interval before exit could be missed)."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.kib = pid, interval, 0

    def run(self) -> None:
        status = Path(f"/proc/{self.pid}/status")
        while True:
            try:
                text = status.read_text()
            except (FileNotFoundError, ProcessLookupError):
                return
            for line in text.splitlines():
                if line.startswith("VmHWM:"):
                    self.kib = max(self.kib, int(line.split()[1]))
            if "State:\tZ" in text:  # exited, not yet reaped
                return
            time.sleep(self.interval)
