"""JSON lines, e-mail redaction and the run summary line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from dotsync.logs import (
    PROGRESS_LOGGER,
    ROOT_LOGGER,
    configure_logging,
    log_error,
    log_run_error,
    log_run_summary,
)
from dotsync.result import RunCounts, RunResult, RunStatus


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The root logger's handlers and level as they were, whatever a test configures."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    ours = [logging.getLogger(name) for name in (ROOT_LOGGER, PROGRESS_LOGGER)]
    levels = [logger.level for logger in ours]
    yield io.StringIO()
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    for logger, old in zip(ours, levels, strict=True):
        logger.setLevel(old)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_ts_level_logger_message_and_extras(captured: io.StringIO) -> None:
    configure_logging("json", "INFO", stream=captured)
    logging.getLogger("dotsync.test").info(
        "sent %d contacts", 42, extra={"export": "newsletter", "import_ids": ["a", "b"]}
    )
    logging.getLogger("dotsync.test").debug("below the level")
    [line] = lines(captured)
    assert line["level"] == "INFO"
    assert line["logger"] == "dotsync.test"
    assert line["message"] == "sent 42 contacts"
    assert line["export"] == "newsletter"
    assert line["import_ids"] == ["a", "b"]
    ts = datetime.fromisoformat(str(line["ts"]))
    assert ts.tzinfo is not None
    assert abs(datetime.now(UTC) - ts) < timedelta(minutes=1)


def refuse(email: str) -> None:
    raise ValueError(f"contact {email} refused")


def test_emails_are_redacted_in_messages_extras_and_tracebacks(captured: io.StringIO) -> None:
    configure_logging("json", "INFO", stream=captured)
    log = logging.getLogger("dotsync.test")
    log.warning("bad row for %s", "Jane.Doe+news@example.co.uk", extra={"row": {"email": "j@x.io"}})
    try:
        refuse("bob@example.com")
    except ValueError:
        log.exception("failed")
    text = captured.getvalue()
    assert "Jane.Doe" not in text
    assert "j@x.io" not in text
    assert "bob@example.com" not in text
    first, second = lines(captured)
    assert first["message"] == "bad row for <email>"
    assert first["row"] == {"email": "<email>"}
    assert "ValueError: contact <email> refused" in str(second["exception"])


def test_emails_are_logged_when_asked(
    captured: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOTSYNC_LOG_EMAILS", "1")
    configure_logging("text", "INFO", stream=captured)
    logging.getLogger("dotsync.test").info("contact %s", "jane@example.com")
    assert "contact jane@example.com" in captured.getvalue()


def test_text_format_redacts_too_and_reconfiguring_replaces_the_handler(
    captured: io.StringIO,
) -> None:
    first = io.StringIO()
    configure_logging("text", "INFO", stream=first)
    configure_logging("text", "INFO", stream=captured)
    logging.getLogger("dotsync.test").info("contact %s", "jane@example.com")
    assert first.getvalue() == ""
    assert captured.getvalue().rstrip().endswith("dotsync.test: contact <email>")


def test_one_summary_line_per_run(captured: io.StringIO) -> None:
    configure_logging("json", "INFO", stream=captured)
    started = datetime(2026, 1, 10, 6, 0, tzinfo=UTC)
    result = RunResult(
        run_id=7,
        export="newsletter",
        status=RunStatus.PARTIAL,
        started_at=started,
        finished_at=started + timedelta(seconds=83.5),
        counts=RunCounts(
            profiles_in_segments=1000,
            sent=990,
            created=900,
            updated=90,
            rejected=10,
            rejected_by_reason={"invalid_email": 10},
            imports=1,
        ),
        resumed_imports=1,
    )
    log_run_summary(result)
    [line] = lines(captured)
    assert line["event"] == "run_summary"
    assert line["level"] == "WARNING"  # partial: some rows were rejected
    assert (line["export"], line["run_id"], line["status"]) == ("newsletter", 7, "partial")
    assert line["duration_seconds"] == 83.5
    assert line["resumed_imports"] == 1
    counts = line["counts"]
    assert isinstance(counts, dict)
    assert (counts["sent"], counts["rejected"]) == (990, 10)
    assert counts["rejected_by_reason"] == {"invalid_email": 10}
    assert "run 7 of export newsletter partial in 83.5s" in str(line["message"])
    assert "990 sent (900 new, 90 updated), 10 rejected" in str(line["message"])


def test_debug_is_dotsyncs_own_libraries_stay_at_warning(captured: io.StringIO) -> None:
    configure_logging("json", "DEBUG", stream=captured)
    logging.getLogger("dotsync.test").debug("ours")
    logging.getLogger("httpcore.connection").debug("connect_tcp.started host=...")
    logging.getLogger("httpx").info("HTTP Request: GET ... 200 OK")
    logging.getLogger("httpx").warning("a library's warning still shows")
    assert [(r["logger"], r["message"]) for r in lines(captured)] == [
        ("dotsync.test", "ours"),
        ("httpx", "a library's warning still shows"),
    ]


def test_progress_lines_show_at_the_quiet_default_level(captured: io.StringIO) -> None:
    configure_logging("text", "WARNING", stream=captured)
    logging.getLogger("dotsync.test").info("not shown")
    logging.getLogger(PROGRESS_LOGGER).info("sending contacts 10/20")
    assert captured.getvalue().count("\n") == 1
    assert "INFO dotsync.progress: sending contacts 10/20" in captured.getvalue()


def test_unknown_level_is_named() -> None:
    with pytest.raises(ValueError, match="unknown log level 'LOUD'"):
        configure_logging("text", "LOUD", stream=io.StringIO())


def test_an_error_line_carries_exit_code_and_key(captured: io.StringIO) -> None:
    configure_logging("json", "WARNING", stream=captured)
    log_error(
        "exports.news.mapping.email: field required (for ann@example.com)",
        exit_code=2,
        key="exports.news.mapping.email",
        error_type="ConfigError",
    )
    [line] = lines(captured)
    assert (line["event"], line["level"], line["exit_code"]) == ("error", "ERROR", 2)
    assert line["key"] == "exports.news.mapping.email"
    assert line["message"] == "exports.news.mapping.email: field required (for <email>)"


def test_a_run_that_raised_has_a_summary_line_too(captured: io.StringIO) -> None:
    configure_logging("json", "INFO", stream=captured)
    started = datetime(2026, 1, 10, 6, 0, tzinfo=UTC)
    log_run_error(
        export="news",
        status="failed",
        error="DotDigital did not answer",
        exit_code=5,
        started_at=started,
        duration_seconds=8.0,
    )
    [line] = lines(captured)
    assert (line["event"], line["status"], line["exit_code"]) == ("run_summary", "failed", 5)
    assert line["level"] == "ERROR" and line["error"] == "DotDigital did not answer"
