"""Profiling a full export with py-spy (sampling, from outside the process, so dotsync runs
unmodified) and summarising where the time goes.

py-spy's ``raw`` output is one line per distinct stack, ``frame;frame;...;frame count``, with
``--idle`` so that waiting (for the emulator's import processing, on sockets, in sleeps) is seen
as well as computing: wall time is what the target is about."""

from __future__ import annotations

import re
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(:(?P<line>\d+))?\)$")


def py_spy() -> Path | None:
    found = Path(sys.executable).with_name("py-spy")
    if found.exists():
        return found
    which = shutil.which("py-spy")
    return Path(which) if which else None


def wrapper(output: Path, rate: int = 200) -> list[str]:
    """The py-spy command that records the child it starts (``-- dotsync export ...``)."""
    tool = py_spy()
    if tool is None:
        raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy")
    return [
        str(tool),
        "record",
        "--idle",
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--output",
        str(output),
        "--",
    ]


def _innermost_dotsync(frames: list[str]) -> str:
    """The deepest frame in dotsync's own code, with its line: the statement that was running
    (a DuckDB query, an HTTP call, a sleep) when the sample was taken."""
    for frame in reversed(frames):
        match = _FRAME.match(frame.strip())
        if match and "dotsync/" in match["file"] and "/cli/" not in match["file"]:
            file = match["file"].split("dotsync/", 1)[1]
            return f"{match['function']} (dotsync/{file}:{match['line']})"
    return "outside dotsync (start-up, CLI, interpreter)"


def _short(frame: str) -> str:
    """``function (path/to/module.py:12)`` → ``function (module.py)``: a function's lines merge."""
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    file = match["file"]
    if "site-packages/" in file:
        file = file.split("site-packages/", 1)[1]
    elif "/src/" in file:
        file = file.split("/src/", 1)[1]
    return f"{match['function']} ({file})"


def _other_thread(frames: list[str]) -> bool:
    """A stack of a thread the run starts (the lease keeper, the progress reporter): it starts in
    ``Thread._bootstrap``. Those threads sleep most of the run; with ``--idle`` their sleeps
    would outweigh the main thread, whose time is the run's."""
    return bool(frames) and frames[0].strip().startswith("Thread._bootstrap ")


def summarise(raw: Path, top: int = 20) -> dict[str, Any]:
    """Samples of the main thread; the dotsync statements running (innermost dotsync frame and
    line), the functions on the stack (inclusive) and at its top (self), with their shares of the
    main thread's samples. ``other_thread_samples`` counts what was left out."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    by_line: Counter[str] = Counter()
    total = others = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        raw_frames = [f for f in stack.split(";") if f]
        if _other_thread(raw_frames):
            others += count
            continue
        frames = [_short(f) for f in raw_frames]
        by_line[_innermost_dotsync(raw_frames)] += count
        total += count
        for name in set(frames):
            inclusive[name] += count
        if frames:
            own[frames[-1]] += count

    def shares(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"function": name, "samples": n, "share": round(n / total, 4) if total else 0}
            for name, n in counter.most_common(top)
        ]

    return {
        "samples": total,
        "other_thread_samples": others,
        "dotsync_lines": shares(by_line),
        "inclusive": shares(inclusive),
        "self": shares(own),
    }
