"""Alerts: a failed run, too many rejected rows, a run far slower than usual, and recovery.

An alert is posted once per change of state, not on every run: :func:`evaluate` is the pure state
machine (previous state + a run → next state + alerts to post) and :class:`AlertManager` posts
Slack-compatible JSON (``{"text": ...}``) and keeps the state in a JSON file in the work dir, so a
restarted service does not alert again about what it already reported.
"""

from __future__ import annotations

import logging
import os
import statistics
import threading
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

import httpx

from dotsync.logs import emails_allowed_in_logs
from dotsync.redaction import redact_emails
from dotsync.result import RunStatus
from dotsync.serve.files import read_json, write_json_atomic
from dotsync.serve.outcome import RunOutcome

log = logging.getLogger(__name__)


class Problem(StrEnum):
    FAILED = "failed"
    REJECTED_ROWS = "rejected_rows"
    SLOW_RUN = "slow_run"


@dataclass(frozen=True)
class AlertPolicy:
    rejected_rows_share: float | None = None  # None: never alert on rejected rows
    slow_run_factor: float = 3.0
    min_history: int = 3  # "usual" needs a few runs before a run can be called slow
    history_size: int = 10


@dataclass(frozen=True)
class ExportAlertState:
    active: frozenset[Problem] = frozenset()
    durations: tuple[float, ...] = ()  # of recent successful runs, oldest first


@dataclass(frozen=True)
class Alert:
    export: str
    problem: Problem | None  # None: recovery
    text: str


@dataclass(frozen=True)
class _Observation:
    problems: frozenset[Problem]
    texts: dict[Problem, str] = field(default_factory=dict)


def _observe(outcome: RunOutcome, state: ExportAlertState, policy: AlertPolicy) -> _Observation:
    name = outcome.export
    if outcome.status == RunStatus.FAILED:
        # A failed run says nothing about rejected rows or speed: keep what was known of those.
        kept = state.active - {Problem.FAILED}
        text = f"dotsync: export `{name}` failed: {outcome.error or 'no reason given'}"
        return _Observation(kept | {Problem.FAILED}, {Problem.FAILED: text})
    problems: set[Problem] = set()
    texts: dict[Problem, str] = {}
    counts = outcome.counts
    if counts is not None and policy.rejected_rows_share is not None:
        # Rows refused by validation plus those DotDigital refused, over the profiles considered.
        rejected = counts.rejected + counts.failed
        share = rejected / counts.profiles_in_segments if counts.profiles_in_segments else 0.0
        if share > policy.rejected_rows_share:
            problems.add(Problem.REJECTED_ROWS)
            texts[Problem.REJECTED_ROWS] = (
                f"dotsync: export `{name}` rejected {rejected} of {counts.profiles_in_segments} "
                f"rows ({share:.1%}), above the {policy.rejected_rows_share:.1%} threshold"
            )
    recent = state.durations[-policy.history_size :]
    if len(recent) >= policy.min_history:
        usual = statistics.median(recent)
        if usual > 0 and outcome.duration_seconds > policy.slow_run_factor * usual:
            problems.add(Problem.SLOW_RUN)
            texts[Problem.SLOW_RUN] = (
                f"dotsync: export `{name}` took {outcome.duration_seconds:.0f}s, more than "
                f"{policy.slow_run_factor:g}x its usual {usual:.0f}s"
            )
    return _Observation(frozenset(problems), texts)


def evaluate(
    export: str, state: ExportAlertState, outcome: RunOutcome, policy: AlertPolicy
) -> tuple[ExportAlertState, list[Alert]]:
    """The next state and the alerts to post. Only ended runs count: an interrupted run, a dry
    run or a run skipped because another process held the lock changes nothing."""
    if outcome.status not in (RunStatus.SUCCEEDED, RunStatus.PARTIAL, RunStatus.FAILED):
        return state, []
    seen = _observe(outcome, state, policy)
    alerts = [
        Alert(export, problem, seen.texts[problem])
        for problem in sorted(seen.problems - state.active)
    ]
    if state.active and not seen.problems:
        resolved = ", ".join(sorted(state.active))
        alerts.append(
            Alert(
                export,
                None,
                f"dotsync: export `{export}` recovered ({resolved}): last run {outcome.status}",
            )
        )
    durations = state.durations
    if outcome.succeeded:
        durations = (*durations, outcome.duration_seconds)[-policy.history_size :]
    return ExportAlertState(seen.problems, durations), alerts


class AlertManager:
    """Posts alerts to the webhook named by ``webhook_url_env``; keeps state in ``state_file``."""

    def __init__(
        self,
        state_file: Path,
        policies: dict[str, AlertPolicy],
        *,
        webhook_url_env: str = "DOTSYNC_WEBHOOK_URL",
        http: httpx.Client | None = None,
    ) -> None:
        self._state_file = state_file
        self._policies = policies
        self._webhook_url_env = webhook_url_env
        self._http = http  # None: one short-lived request per alert (alerts are rare)
        self._lock = threading.Lock()
        self._states = _load_states(state_file)

    def set_policies(self, policies: dict[str, AlertPolicy]) -> None:
        """The policies of a reloaded configuration."""
        with self._lock:
            self._policies = policies

    def state(self, export: str) -> ExportAlertState:
        with self._lock:
            return self._states.get(export, ExportAlertState())

    def observe(self, outcome: RunOutcome) -> list[Alert]:
        """Evaluates a run, posts what changed, persists the state. Returns the alerts posted."""
        policy = self._policies.get(outcome.export, AlertPolicy())
        with self._lock:
            previous = self._states.get(outcome.export, ExportAlertState())
            new_state, alerts = evaluate(outcome.export, previous, outcome, policy)
            delivered = [alert for alert in alerts if self._post(alert)]
            if len(delivered) < len(alerts):
                # Keep the previous problems so the next run tries to deliver again; the duration
                # history moves on regardless.
                new_state = replace(previous, durations=new_state.durations)
            if new_state != previous:
                self._states[outcome.export] = new_state
                write_json_atomic(self._state_file, _dump_states(self._states))
            return delivered

    def _post(self, alert: Alert) -> bool:
        text = alert.text if emails_allowed_in_logs() else redact_emails(alert.text)
        url = os.environ.get(self._webhook_url_env)
        if not url:
            log.warning("alert not posted (%s is not set): %s", self._webhook_url_env, text)
            return True  # nowhere to deliver: the log line is the alert
        try:
            if self._http is None:
                response = httpx.post(url, json={"text": text}, timeout=10.0)
            else:
                response = self._http.post(url, json={"text": text})
            response.raise_for_status()
        except httpx.HTTPError as exc:
            # Never log the URL: a Slack webhook URL is a secret.
            log.error(  # noqa: TRY400 - a traceback would print the URL
                "alert could not be posted to the webhook (%s): %s", type(exc).__name__, text
            )
            return False
        log.info("alert posted: %s", text)
        return True


def _dump_states(states: dict[str, ExportAlertState]) -> dict[str, object]:
    return {
        "version": 1,
        "exports": {
            name: {"active": sorted(state.active), "durations": list(state.durations)}
            for name, state in states.items()
        },
    }


def _load_states(path: Path) -> dict[str, ExportAlertState]:
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("exports"), dict):
        return {}
    states: dict[str, ExportAlertState] = {}
    for name, raw in data["exports"].items():
        try:
            active = frozenset(Problem(value) for value in raw.get("active", []))
            durations = tuple(float(value) for value in raw.get("durations", []))
        except (AttributeError, TypeError, ValueError):
            continue  # an unreadable entry: start that export afresh
        states[name] = ExportAlertState(active, durations)
    return states
