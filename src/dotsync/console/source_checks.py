"""The source page's checks: can the profiles be read, which columns they have, and how many
members each segment holds, counted where the profiles live, as ``dotsync segments`` does.

SQL typed in the console runs in a DuckDB fenced to the project's folder (no other file, no
network, no extension, settings locked) and stopped after a time limit. A database source
(``url``) runs segment SQL in that database, under its own permissions: only admins may type
segment SQL at all (the pages check it)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dotsync.config import SegmentConfig, SourceConfig
from dotsync.errors import DotsyncError
from dotsync.sources import DuckDBSource, ProfileSource, open_source

COUNT_SECONDS = 10.0


@dataclass(frozen=True)
class SourceCheck:
    columns: list[str]
    error: str | None = None


@dataclass(frozen=True)
class SegmentCount:
    name: str
    members: int | None
    error: str | None = None


@contextmanager
def fenced_source(config: SourceConfig, project_dir: Path) -> Iterator[ProfileSource]:
    source = open_source(config)
    try:
        if isinstance(source, DuckDBSource):
            source.fence([project_dir])
        yield source
    finally:
        source.close()


def check_source(config: SourceConfig, project_dir: Path) -> SourceCheck:
    """The profiles' columns, or why they cannot be read (the CLI's message)."""
    try:
        with fenced_source(config, project_dir) as source:
            return SourceCheck(columns=source.columns())
    except DotsyncError as exc:
        return SourceCheck(columns=[], error=exc.message)


def count_segments(
    config: SourceConfig,
    segments: Mapping[str, SegmentConfig],
    project_dir: Path,
    *,
    seconds: float = COUNT_SECONDS,
) -> list[SegmentCount]:
    """Each segment's members, or the error of its own query; the counts stop after
    ``seconds`` in all (a DuckDB source), the segments not counted by then saying so."""
    try:
        with fenced_source(config, project_dir) as source:
            return _count_each(source, segments, seconds)
    except DotsyncError as exc:  # the source itself cannot be read
        return [SegmentCount(name, None, exc.message) for name in segments]


def _count_each(
    source: ProfileSource, segments: Mapping[str, SegmentConfig], seconds: float
) -> list[SegmentCount]:
    expired = threading.Event()

    def stop() -> None:
        expired.set()
        if isinstance(source, DuckDBSource):
            source.interrupt()

    timer = threading.Timer(seconds, stop)
    timer.daemon = True
    timer.start()
    counts: list[SegmentCount] = []
    try:
        for name, segment in segments.items():
            if expired.is_set():
                counts.append(SegmentCount(name, None, _too_long(seconds)))
                continue
            try:
                size = source.segment_sizes({name: segment})[name]
            except DotsyncError as exc:
                message = _too_long(seconds) if expired.is_set() else exc.message
                counts.append(SegmentCount(name, None, message))
                continue
            counts.append(SegmentCount(name, size))
    finally:
        timer.cancel()
    return counts


def _too_long(seconds: float) -> str:
    return f"not counted: counting took longer than {seconds:g} s"
