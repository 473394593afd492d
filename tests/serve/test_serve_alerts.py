"""Alerts posted over real HTTP to a local webhook receiver, once per change of state."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from serve.webhook_receiver import WebhookReceiver

from dotsync.result import RunCounts, RunStatus
from dotsync.serve.alerts import AlertManager, AlertPolicy, ExportAlertState, Problem, evaluate
from dotsync.serve.outcome import OutcomeStatus, RunOutcome

START = datetime(2026, 1, 10, 6, 0, tzinfo=UTC)


def outcome(
    status: OutcomeStatus = RunStatus.SUCCEEDED,
    *,
    seconds: float = 10.0,
    in_segments: int = 1000,
    rejected: int = 0,
    error: str | None = None,
    export: str = "newsletter",
) -> RunOutcome:
    counts = RunCounts(profiles_in_segments=in_segments, rejected=rejected, sent=in_segments)
    return RunOutcome(
        export,
        status,
        START,
        START + timedelta(seconds=seconds),
        counts=None if status == RunStatus.FAILED else counts,
        error=error,
    )


def manager(path: Path, **policy: float) -> AlertManager:
    return AlertManager(path, {"newsletter": AlertPolicy(**policy)})  # type: ignore[arg-type]


def test_failure_alerts_once_then_recovery(tmp_path: Path, webhook: WebhookReceiver) -> None:
    alerts = manager(tmp_path / "alerts.json")
    alerts.observe(outcome())
    assert webhook.posts == []  # all is well: nothing to say
    alerts.observe(outcome(RunStatus.FAILED, error="DotDigital refused the credentials"))
    alerts.observe(outcome(RunStatus.FAILED, error="DotDigital refused the credentials"))
    assert webhook.texts == [
        "dotsync: export `newsletter` failed: DotDigital refused the credentials"
    ]
    alerts.observe(outcome())
    alerts.observe(outcome())
    assert len(webhook.posts) == 2
    assert webhook.texts[1] == "dotsync: export `newsletter` recovered (failed): last run succeeded"
    assert set(webhook.posts[0]) == {"text"}  # Slack-compatible body


def test_a_restart_does_not_alert_again(tmp_path: Path, webhook: WebhookReceiver) -> None:
    state_file = tmp_path / "work" / "alerts.json"
    manager(state_file).observe(outcome(RunStatus.FAILED, error="boom"))
    assert len(webhook.posts) == 1
    assert json.loads(state_file.read_text())["exports"]["newsletter"]["active"] == ["failed"]
    assert state_file.stat().st_mode & 0o777 == 0o600

    restarted = manager(state_file)
    restarted.observe(outcome(RunStatus.FAILED, error="boom"))
    assert len(webhook.posts) == 1
    restarted.observe(outcome())
    assert "recovered" in webhook.texts[-1]


def test_rejected_rows_above_the_threshold(tmp_path: Path, webhook: WebhookReceiver) -> None:
    alerts = manager(tmp_path / "alerts.json", rejected_rows_share=0.05)
    alerts.observe(outcome(rejected=50))  # exactly 5%: not above
    assert webhook.posts == []
    alerts.observe(outcome(rejected=60))
    alerts.observe(outcome(rejected=70))
    assert webhook.texts == [
        "dotsync: export `newsletter` rejected 60 of 1000 rows (6.0%), above the 5.0% threshold"
    ]
    alerts.observe(outcome(rejected=10))
    assert webhook.texts[-1] == (
        "dotsync: export `newsletter` recovered (rejected_rows): last run succeeded"
    )


def test_a_run_far_slower_than_usual(tmp_path: Path, webhook: WebhookReceiver) -> None:
    alerts = manager(tmp_path / "alerts.json", slow_run_factor=3.0)
    alerts.observe(outcome(seconds=100))  # one run is no "usual" yet
    alerts.observe(outcome(seconds=8))
    alerts.observe(outcome(seconds=10))
    assert webhook.posts == []
    alerts.observe(outcome(seconds=12))  # median so far 10s; 12s is fine
    alerts.observe(outcome(seconds=35))  # median of 100, 8, 10, 12 = 11s; 35 > 33
    assert webhook.texts == ["dotsync: export `newsletter` took 35s, more than 3x its usual 11s"]
    alerts.observe(outcome(seconds=11))
    assert "recovered (slow_run)" in webhook.texts[-1]


def test_interrupted_and_busy_runs_change_nothing(tmp_path: Path, webhook: WebhookReceiver) -> None:
    alerts = manager(tmp_path / "alerts.json")
    alerts.observe(outcome(RunStatus.FAILED, error="boom"))
    alerts.observe(outcome(RunStatus.INTERRUPTED, seconds=1))
    alerts.observe(outcome("busy", seconds=0))
    assert len(webhook.posts) == 1
    assert alerts.state("newsletter").active == {Problem.FAILED}


def test_an_alert_that_could_not_be_delivered_is_tried_again(
    tmp_path: Path, webhook: WebhookReceiver
) -> None:
    alerts = manager(tmp_path / "alerts.json")
    webhook.status = 500
    alerts.observe(outcome(RunStatus.FAILED, error="boom"))
    assert alerts.state("newsletter").active == frozenset()
    webhook.status = 200
    alerts.observe(outcome(RunStatus.FAILED, error="boom"))
    alerts.observe(outcome(RunStatus.FAILED, error="boom"))
    assert webhook.texts == ["dotsync: export `newsletter` failed: boom"] * 2


def test_alert_texts_carry_no_email_address(tmp_path: Path, webhook: WebhookReceiver) -> None:
    manager(tmp_path / "alerts.json").observe(
        outcome(RunStatus.FAILED, error="contact jane@example.com refused")
    )
    assert webhook.texts == ["dotsync: export `newsletter` failed: contact <email> refused"]


def test_without_a_webhook_url_the_alert_is_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("DOTSYNC_WEBHOOK_URL", raising=False)
    alerts = manager(tmp_path / "alerts.json")
    alerts.observe(outcome(RunStatus.FAILED, error="boom"))
    assert "alert not posted (DOTSYNC_WEBHOOK_URL is not set)" in caplog.text
    assert alerts.state("newsletter").active == {Problem.FAILED}


def test_failed_run_keeps_problems_it_cannot_judge() -> None:
    state = ExportAlertState(frozenset({Problem.REJECTED_ROWS}), (10.0, 10.0, 10.0))
    new_state, alerts = evaluate(
        "newsletter", state, outcome(RunStatus.FAILED, error="boom", seconds=999), AlertPolicy()
    )
    assert new_state.active == {Problem.REJECTED_ROWS, Problem.FAILED}
    assert [a.problem for a in alerts] == [Problem.FAILED]  # not "slow": it failed
    assert new_state.durations == (10.0, 10.0, 10.0)  # a failed run's duration is not "usual"
