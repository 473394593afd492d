"""Logging set-up: plain text or JSON lines, e-mail addresses redacted, one summary line per run.

``configure_logging("json", "INFO")`` writes one JSON object a line to stderr with ``ts`` (aware
UTC, ISO 8601), ``level``, ``logger``, ``message`` and every ``extra={...}`` field of the call.
E-mail addresses are personal data: a filter on the handler replaces them, in the message and in
string extras, unless ``DOTSYNC_LOG_EMAILS=1`` (for debugging on one's own data).

The level applies to dotsync's own loggers (``dotsync.*``); libraries (httpx, httpcore, uvicorn...)
log at WARNING and above whatever the level, so ``--verbose`` shows dotsync's debug lines without a
line per HTTP request.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from dotsync.redaction import redact_emails
from dotsync.result import RunResult, RunStatus

LogFormat = Literal["text", "json"]

ROOT_LOGGER = "dotsync"
SUMMARY_LOGGER = "dotsync.run"
PROGRESS_LOGGER = "dotsync.progress"
ERROR_LOGGER = "dotsync.cli"

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)
_HANDLER_MARK = "_dotsync_handler"


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_emails(value)
    if isinstance(value, dict):
        return {key: _redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(item) for item in value]
    return value


class RedactEmailsFilter(logging.Filter):
    """Replaces e-mail addresses in the formatted message and in extras, in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_emails(record.getMessage())
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS:
                setattr(record, key, _redact_value(value))
        if record.exc_info and record.exc_info[1] is not None:
            # Exception texts are formatted later, by the formatter: cache a redacted version now.
            record.exc_text = redact_emails(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonLinesFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, default=str, ensure_ascii=False)


def emails_allowed_in_logs() -> bool:
    return os.environ.get("DOTSYNC_LOG_EMAILS") == "1"


def level_number(level: str | int) -> int:
    """``"debug"``, ``"INFO"`` or ``logging.INFO`` as a number; ValueError for an unknown name."""
    if isinstance(level, int):
        return level
    number = logging.getLevelNamesMapping().get(level.upper())
    if number is None:
        raise ValueError(f"unknown log level {level!r}: use DEBUG, INFO, WARNING or ERROR")
    return number


def configure_logging(
    format: LogFormat = "text",
    level: str | int = "INFO",
    *,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Installs dotsync's handler on the root logger, replacing one installed earlier."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    if format == "json":
        handler.setFormatter(JsonLinesFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if not emails_allowed_in_logs():
        handler.addFilter(RedactEmailsFilter())
    root.addHandler(handler)
    wanted = level_number(level)
    # Libraries stay at WARNING: httpx alone logs every request (thousands of status polls), and
    # httpcore every socket event at DEBUG, which would bury the lines that matter.
    root.setLevel(max(wanted, logging.WARNING))
    logging.getLogger(ROOT_LOGGER).setLevel(wanted)
    # Progress lines are what a long run prints when no terminal shows a bar: they come out at the
    # default (quiet) level too, and are only written every few seconds.
    logging.getLogger(PROGRESS_LOGGER).setLevel(min(wanted, logging.INFO))
    return handler


def run_summary_fields(result: RunResult) -> dict[str, Any]:
    """The structured fields of a run's summary line (counts of profiles, never their values)."""
    counts = result.counts
    return {
        "event": "run_summary",
        "export": result.export,
        "run_id": result.run_id,
        "status": result.status.value,
        "started_at": result.started_at.isoformat(),
        "duration_seconds": result.duration_seconds,
        "resumed_imports": result.resumed_imports,
        "counts": counts.model_dump(mode="json"),
        "error": result.error,
        "rejects_file": str(result.rejects_file) if result.rejects_file else None,
    }


def log_run_summary(result: RunResult, logger: logging.Logger | None = None) -> None:
    """One line per run: status, duration and counts, at WARNING when the run did not succeed."""
    log = logger or logging.getLogger(SUMMARY_LOGGER)
    counts = result.counts
    duration = result.duration_seconds
    level = (
        logging.INFO
        if result.status in (RunStatus.SUCCEEDED, RunStatus.DRY_RUN, RunStatus.INTERRUPTED)
        else logging.WARNING
    )
    log.log(
        level,
        "run %s of export %s %s in %s: %d in segments, %d sent (%d new, %d updated), "
        "%d rejected, %d suppressed, %d failed, %d left, %d removed, %d imports, %d API calls%s",
        result.run_id,
        result.export,
        result.status.value,
        f"{duration:.1f}s" if duration is not None else "?",
        counts.profiles_in_segments,
        counts.sent,
        counts.created,
        counts.updated,
        counts.rejected,
        counts.suppressed,
        counts.failed,
        counts.left,
        counts.removed,
        counts.imports,
        counts.api_calls,
        f": {result.error}" if result.error else "",
        extra=run_summary_fields(result),
    )


def log_run_error(
    *,
    export: str,
    status: str,
    error: str | None,
    exit_code: int,
    started_at: datetime,
    duration_seconds: float,
    logger: logging.Logger | None = None,
) -> None:
    """The summary line of a run that raised instead of returning a result: the same event and
    fields as :func:`log_run_summary`, with the error and its exit code instead of counts."""
    log = logger or logging.getLogger(SUMMARY_LOGGER)
    level = logging.INFO if status in ("busy", RunStatus.INTERRUPTED) else logging.ERROR
    log.log(
        level,
        "run of export %s %s after %.1fs: %s",
        export,
        status,
        duration_seconds,
        error,
        extra={
            "event": "run_summary",
            "export": export,
            "status": str(status),
            "started_at": started_at.isoformat(),
            "duration_seconds": duration_seconds,
            "error": error,
            "exit_code": exit_code,
        },
    )


def log_error(
    message: str,
    *,
    exit_code: int,
    key: str | None = None,
    error_type: str | None = None,
    traceback: str | None = None,
    **fields: Any,
) -> None:
    """A command's error as one log line (``event: error``): how the CLI reports errors when its
    output is JSON, so that every line it prints parses. ``key`` is the configuration key the
    error concerns (``exports.news.mapping.email``), None when there is none."""
    extra: dict[str, Any] = {
        "event": "error",
        "exit_code": exit_code,
        "key": key,
        "error_type": error_type,
        **fields,
    }
    if traceback:
        extra["traceback"] = traceback
    logging.getLogger(ERROR_LOGGER).error("%s", message, extra=extra)
