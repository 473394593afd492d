"""The delivery stage (``dotsync.delivery.Deliverer``) against the emulator over real HTTP, its
clock and sleep faked: imports are paced by the emulator (``import_rate``) so they stay in
progress for a while, and every wait the deliverer makes is recorded instead of slept."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import httpx
import pytest
from dotdigital.fakes import FakeTime
from pydantic import SecretStr
from support.emulator_fixtures import EmulatorFactory

from dotsync import tables
from dotsync.delivery import Deliverer, DeliveryTotals
from dotsync.dotdigital import CallStats, DotDigitalClient, RetryPolicy
from dotsync.dotdigital.retry import PollPolicy
from dotsync.encode import Batch, EncodeOptions, encode_batches
from dotsync.errors import InterruptedRunError
from dotsync.state import StateStore

EXPORT = "newsletter"
# Contacts per second the emulator applies: a batch of ten stays in progress for about a second.
IMPORT_RATE = 10.0
# Powers of two, so the fake clock's sums and differences are exact and the waits compare equal.
POLL = PollPolicy(start=0.5, factor=2.0, cap=4.0, max_wait=None)


@dataclass
class Rig:
    """One export's delivery: the emulator's book, a state store, DuckDB, a fake clock, and what
    was seen: each import poll's answer and each commit, in the order they happened."""

    emulator_url: str
    credentials: tuple[str, str]
    book_id: int
    store: StateStore
    folder: Path
    time: FakeTime = field(default_factory=FakeTime)
    duck: duckdb.DuckDBPyConnection = field(default_factory=duckdb.connect)
    events: list[tuple[str, str, int]] = field(default_factory=list)
    in_flight: list[int] = field(default_factory=list)
    polls: int = 0
    http: list[httpx.Client] = field(default_factory=list)

    def client(self) -> DotDigitalClient:
        http = httpx.Client(event_hooks={"response": [self._seen]})
        self.http.append(http)
        user, password = self.credentials
        return DotDigitalClient(
            user,
            SecretStr(password),
            self.emulator_url,
            http_client=http,
            retry=RetryPolicy(random=lambda: 0.5),
            sleep=self.time.sleep,
            clock=self.time.monotonic,
            stats=CallStats(),
        )

    def _seen(self, response: httpx.Response) -> None:
        path = response.request.url.path
        if response.request.method == "GET" and "/contacts/v3/import/" in path:
            response.read()
            self.events.append(("poll", str(response.json()["status"]), 0))

    def batches(self, contacts: int, per_batch: int) -> list[Batch]:
        self.duck.execute(
            f"""create or replace table {tables.TO_SEND} as
            select 'k' || i as key, 'person' || i || '@example.com' as email,
              sha256('person' || i || '@example.com') as email_hash, md5(i::varchar) as digest
            from range({contacts}) t(i)"""
        )
        options = EncodeOptions(address_book_id=self.book_id, max_contacts=per_batch)
        return encode_batches(self.duck, [], options, self.folder)

    def deliverer(
        self, *, max_in_flight: int = 5, should_stop: Callable[[], bool] = lambda: False
    ) -> Deliverer:
        run_id = self.store.start_run(EXPORT, full=False)

        def committed(contacts: int) -> None:
            self.events.append(("commit", "", contacts))

        def polled() -> None:
            self.polls += 1

        return Deliverer(
            client=self.client(),
            store=self.store,
            duck=self.duck,
            export=EXPORT,
            book_id=self.book_id,
            run_id=run_id,
            totals=DeliveryTotals(),
            max_in_flight=max_in_flight,
            poll=POLL,
            should_stop=should_stop,
            heartbeat=polled,
            on_progress=committed,
            on_in_flight=self.in_flight.append,
            sleep=self.time.sleep,
            clock=self.time.monotonic,
        )

    def members(self) -> int:
        return self.store.members.count(EXPORT)


@pytest.fixture
def rig(emulator_factory: EmulatorFactory, tmp_path: Path) -> Iterator[Rig]:
    emulator = emulator_factory(import_rate=IMPORT_RATE)
    with emulator.client() as api:
        book = int(api.post("/v2/address-books", json={"name": "Delivery"}).json()["id"])
    with StateStore(f"sqlite:///{tmp_path / 'state.sqlite'}") as store:
        made = Rig(emulator.base_url, emulator.credentials, book, store, tmp_path)
        # The emulator works in real time: let it, a little, at each (fake) wait.
        made.time.on_sleep.append(lambda _s: time.sleep(0.02))
        yield made
        for http in made.http:
            http.close()


def _statuses(rig: Rig) -> list[str]:
    return [status for kind, status, _n in rig.events if kind == "poll"]


def test_an_import_in_progress_is_polled_on_the_policy_s_schedule(rig: Rig) -> None:
    batches = rig.batches(contacts=10, per_batch=10)
    rig.deliverer().deliver(batches)

    statuses = _statuses(rig)
    assert statuses[-1] == "Finished" and set(statuses[:-1]) == {"NotFinished"}
    assert len(statuses) >= 3, "the import should have been in progress for a few polls"
    # One wait before each poll: the policy's delays in turn, nothing else slept.
    assert rig.time.sleeps == [POLL.delay(i) for i in range(len(statuses))]
    assert rig.polls == len(statuses)
    assert rig.members() == 10


def test_at_most_max_in_flight_imports_are_active(rig: Rig) -> None:
    batches = rig.batches(contacts=24, per_batch=4)
    assert len(batches) == 6
    # At each wait, the imports submitted and not yet committed, as the state store has them.
    unfinished: list[int] = []
    rig.time.on_sleep.append(
        lambda _s: unfinished.append(len(rig.store.pending_imports(EXPORT, rig.book_id)))
    )
    rig.deliverer(max_in_flight=2).deliver(batches)

    assert max(rig.in_flight) == 2 and max(unfinished) == 2
    assert sum(1 for kind, *_rest in rig.events if kind == "commit") == 6
    assert rig.members() == 24


def test_a_stop_request_ends_at_a_checkpoint_with_the_import_id_saved(rig: Rig) -> None:
    batches = rig.batches(contacts=10, per_batch=10)
    stop = {"now": False}

    def stop_after_submit(_seconds: float) -> None:
        stop["now"] = True

    deliverer = rig.deliverer(should_stop=lambda: stop["now"])
    rig.time.on_sleep.append(stop_after_submit)
    with pytest.raises(InterruptedRunError, match="stopped on request"):
        deliverer.deliver(batches)

    pending = rig.store.pending_imports(EXPORT, rig.book_id)
    assert len(pending) == 1 and pending[0].import_id and pending[0].contacts == 10
    assert rig.members() == 0, "nothing committed before the import finished"
    rig.time.on_sleep.remove(stop_after_submit)
    stop["now"] = False

    assert rig.deliverer().resume(pending) == 1  # the next run polls it, never sends it again
    assert rig.store.pending_imports(EXPORT, rig.book_id) == []
    assert rig.members() == 10


def test_a_commit_happens_only_after_its_import_finished(rig: Rig) -> None:
    batches = rig.batches(contacts=12, per_batch=4)
    rig.deliverer(max_in_flight=3).deliver(batches)

    commits = [i for i, (kind, *_rest) in enumerate(rig.events) if kind == "commit"]
    assert len(commits) == 3
    for i in commits:
        kind, status, _n = rig.events[i - 1]
        assert (kind, status) == ("poll", "Finished"), rig.events[: i + 1]
    finished = sum(1 for kind, status, _n in rig.events if status == "Finished")
    assert finished == 3
    assert sum(n for kind, _s, n in rig.events if kind == "commit") == rig.members() == 12


def test_when_an_import_ends_the_next_one_is_polled_quickly_again(rig: Rig) -> None:
    # The emulator processes imports in order: while the first is processed, the second waits
    # and its polls back off to the cap. When the first ends, the second is being processed:
    # its polls start again from the quick end of the schedule.
    batches = rig.batches(contacts=20, per_batch=10)
    rig.time.on_sleep.append(lambda seconds: rig.events.append(("sleep", "", int(seconds * 1000))))
    rig.deliverer(max_in_flight=2).deliver(batches)

    first_commit = next(i for i, (kind, *_r) in enumerate(rig.events) if kind == "commit")
    before = [n / 1000 for kind, _s, n in rig.events[:first_commit] if kind == "sleep"]
    after = [n / 1000 for kind, _s, n in rig.events[first_commit:] if kind == "sleep"]
    assert POLL.cap in before, "the second import should have backed off while it waited"
    # Restarted: the next waits are the schedule's first ones (the second import may have been
    # due at once, then its next wait is the second delay), not the cap it had reached.
    assert after[0] <= POLL.delay(1), rig.events[first_commit - 4 : first_commit + 6]
    assert after[1] <= POLL.delay(2)
    assert rig.members() == 20
