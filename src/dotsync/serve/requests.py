"""The service's side of "Run now" and "Cancel": takes the requests recorded in the state, queues
requested runs for their account's lane, and stops a cancelled run at its next checkpoint.

Errors of the state while polling are logged and tried again at the next poll: a request is never
worth the service."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING

from dotsync.scheduler import AccountKey
from dotsync.serve.jobs import Job
from dotsync.serve.outcome import RunOutcome
from dotsync.state.audit import AuditLog
from dotsync.state.run_requests import RequestOutcome, RunRequest, RunRequests, worker_name

if TYPE_CHECKING:
    from dotsync.serve.service import Service

log = logging.getLogger(__name__)

POLL_SECONDS = 2.0  # how soon a request recorded by another process is seen


class RequestDesk:
    def __init__(
        self,
        requests: RunRequests,
        audit: AuditLog | None = None,
        *,
        poll_seconds: float = POLL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.requests = requests
        self.audit = audit
        self.poll_seconds = poll_seconds
        self._clock = clock
        self._worker = worker_name()
        self._queued: dict[str, RunRequest] = {}
        self._next_poll = 0.0

    def poll_now(self) -> None:
        self._next_poll = 0.0

    def poll(self, service: Service) -> None:
        now = self._clock()
        if now < self._next_poll:
            return
        self._next_poll = now + self.poll_seconds
        try:
            self._take_runs(service)
            self._take_cancels(service)
        except Exception:
            log.exception(
                "could not read the run requests; trying again in %.0f s", self.poll_seconds
            )

    def startable(
        self,
        running: Collection[str],
        accounts: Mapping[str, AccountKey],
        claimed: Collection[AccountKey],
    ) -> list[Job]:
        """Queued runs whose account is idle, taken off the queue (the service holds its lock)."""
        jobs: list[Job] = []
        taken = set(claimed)
        for name, request in list(self._queued.items()):
            account = accounts.get(name)
            if account is None:  # the configuration was reloaded without it
                del self._queued[name]
                self._close(request, RequestOutcome.UNKNOWN_EXPORT)
            elif name not in running and account not in taken:
                del self._queued[name]
                taken.add(account)
                jobs.append(Job(name, account, request.requested_by, request_id=request.id))
        return jobs

    def finished(self, job: Job, outcome: RunOutcome) -> None:
        """Closes the requests a run answered; records the run in the audit log."""
        run_id = outcome.result.run_id if outcome.result is not None else None
        if run_id is None and job.started_at is not None:
            run_id = self.requests.latest_run_of(job.name, job.started_at)
        detail = {"run": str(run_id)} if run_id is not None else {}
        if job.cancelled_by is not None and job.cancel_request_id is not None:
            if job.started_at is not None:
                self.requests.note_cancelled_run(job.name, job.started_at, job.cancelled_by)
            self.requests.finish(job.cancel_request_id, RequestOutcome.CANCELLED, run_id)
            detail["cancelled_by"] = job.cancelled_by
        if job.request_id is not None:
            self.requests.finish(job.request_id, str(outcome.status), run_id)
        if self.audit is not None:
            self.audit.record(job.started_by, "run", job.name, str(outcome.status), detail)

    def _take_runs(self, service: Service) -> None:
        for request in self.requests.take_runs(self._worker):
            if service.account_of(request.export) is None:
                self._close(request, RequestOutcome.UNKNOWN_EXPORT)
            elif service.running_job(request.export) or request.export in self._queued:
                self._close(request, RequestOutcome.ALREADY_RUNNING)
            else:
                log.info("export %s: run requested by %s", request.export, request.requested_by)
                self._queued[request.export] = request

    def _take_cancels(self, service: Service) -> None:
        here = set(self._queued) | set(service.live_runs())
        for cancel in self.requests.take_cancels(self._worker, here):
            queued = self._queued.pop(cancel.export, None)
            job = service.running_job(cancel.export)
            if queued is not None:
                self._close(queued, RequestOutcome.CANCELLED)
                self._close(cancel, RequestOutcome.CANCELLED_BEFORE_START)
            elif job is not None and job.cancelled_by is None:
                log.warning(
                    "export %s: cancelled by %s; stopping at the next checkpoint",
                    cancel.export,
                    cancel.requested_by,
                )
                job.cancel(cancel.requested_by, cancel.id)
            else:  # ended (or was cancelled) since: nothing left to stop
                self._close(cancel, RequestOutcome.NOT_RUNNING)

    def _close(self, request: RunRequest, outcome: RequestOutcome) -> None:
        self.requests.finish(request.id, outcome)
