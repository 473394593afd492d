"""Logging set-up: plain text or JSON lines, e-mail addresses redacted, one summary line per run.

``configure_logging("json", "INFO")`` writes one JSON object a line to stderr with ``ts`` (aware
UTC, ISO 8601), ``level``, ``logger``, ``message`` and every ``extra={...}`` field of the call.
E-mail addresses are personal data: a filter on the handler replaces them, in the message and in
string extras, unless ``DOTSYNC_LOG_EMAILS=1`` (for debugging on one's own data).
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

SUMMARY_LOGGER = "dotsync.run"

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
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # httpx logs every request at INFO: thousands of status polls would bury the lines that
    # matter. They come back with --log-level DEBUG.
    quiet = logging.WARNING if root.getEffectiveLevel() > logging.DEBUG else logging.NOTSET
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(quiet)
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
