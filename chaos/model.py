"""9. A Hypothesis state machine over the backend contract, checked against a tiny model.

The model knows, for every job, its state and the one attempt token that may move it.
Rules call the backend's verbs with any attempt ever issued — current or stale — and
the invariant compares the backend with the model after every step: counts per state,
the ``processed``/``failed`` counters, and every job's state by id. So a stale attempt
that changes anything, a transition out of a terminal state (completed or dead), or a
counter moving without its transition fails the run, and Hypothesis shrinks it to the
shortest sequence of calls that shows it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from wg_core import Backend, Envelope, JobState, WorkerInfo
from wg_core.backend import Attempt, NewJob

__all__ = ["BackendMachine", "machine_for"]

_T = TypeVar("_T")
FAR: Final = 3600.0
"""A delay that never comes due during a run."""
LONG_LEASE: Final = 60.0
SHORT_LEASE: Final = 0.05
MAX_RETRIES: Final = 2

COMPLETED: Final = "completed"
RETRY_DUE: Final = "retry-due"


@dataclass
class _Job:
    state: str  # a JobState value, RETRY_DUE, or COMPLETED
    retry_count: int = 0
    token: str | None = None


def _raw(job_id: str, retry_count: int) -> str:
    return Envelope(
        id=job_id,
        job_name="model",
        payload={"n": 1},
        max_retries=MAX_RETRIES,
        retry_count=retry_count,
        timeout=60.0,
        retry_delay=1.0,
        status="Pending" if retry_count == 0 else "Retry",
        created_at=int(time.time()),
    ).encode()


class BackendMachine(RuleBasedStateMachine):
    """Subclassed per backend by ``machine_for`` (which sets ``make_backend``)."""

    make_backend: Callable[[str], Backend]

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.backend = self.make_backend("m" + uuid.uuid4().hex[:12])
        self.jobs: dict[str, _Job] = {}
        self.issued: list[Attempt] = []
        self.processed = 0
        self.failed = 0
        self.worker = WorkerInfo(worker_id="model-worker", host="model", pid=1, concurrency=4)

    def _run(self, awaitable: Awaitable[_T]) -> _T:
        async def wrapped() -> _T:
            return await awaitable

        return self.loop.run_until_complete(wrapped())

    @initialize()
    def open(self) -> None:
        self._run(self.backend.open())

    def teardown(self) -> None:
        try:
            self._run(self.backend.destroy())
        finally:
            self._run(self.backend.close())
            self.loop.close()

    # -- helpers -------------------------------------------------------------------------

    def _in(self, *states: str) -> list[str]:
        return [job_id for job_id, job in self.jobs.items() if job.state in states]

    def _held(self, attempt: Attempt) -> _Job | None:
        job = self.jobs.get(Envelope.decode(attempt.raw).id)
        return job if job is not None and job.token == attempt.token else None

    def _take(self, attempts: list[Attempt], candidates: list[str]) -> None:
        for attempt in attempts:
            job_id = Envelope.decode(attempt.raw).id
            assert job_id in candidates, f"claimed {job_id}, which is not claimable"
            self.jobs[job_id].state = JobState.RUNNING.value
            self.jobs[job_id].token = attempt.token
            self.issued.append(attempt)

    # -- rules ---------------------------------------------------------------------------

    @rule(count=st.integers(1, 3), scheduled=st.booleans())
    def enqueue(self, count: int, scheduled: bool) -> None:
        new = []
        for _ in range(count):
            job_id = str(uuid.uuid4())
            new.append(NewJob(job_id, "model", _raw(job_id, 0), FAR if scheduled else 0.0))
            self.jobs[job_id] = _Job(
                JobState.SCHEDULED.value if scheduled else JobState.QUEUED.value
            )
        self._run(self.backend.enqueue(new))

    @rule(limit=st.integers(1, 4))
    def claim(self, limit: int) -> None:
        queued = self._in(JobState.QUEUED.value)
        attempts = self._run(self.backend.claim(limit=limit, lease=LONG_LEASE, worker_id="m"))
        assert len(attempts) == min(limit, len(queued))
        assert len({a.token for a in attempts}) == len(attempts)
        self._take(attempts, queued)

    @precondition(lambda self: bool(self._in(JobState.QUEUED.value)))
    @rule()
    def lease_runs_out(self) -> None:
        """Claim one job under a tiny lease, let it expire, and reclaim it."""
        queued = self._in(JobState.QUEUED.value)
        attempts = self._run(self.backend.claim(limit=1, lease=SHORT_LEASE, worker_id="m"))
        self._take(attempts, queued)
        self._run(asyncio.sleep(SHORT_LEASE * 3))
        reclaimed = self._run(
            self.backend.reclaim_expired(limit=10, lease=LONG_LEASE, worker_id="m")
        )
        assert [Envelope.decode(a.raw).id for a in reclaimed] == [
            Envelope.decode(a.raw).id for a in attempts
        ], "reclaim must return exactly the expired attempt"
        assert {a.token for a in reclaimed}.isdisjoint(a.token for a in attempts)
        self._take(reclaimed, [Envelope.decode(a.raw).id for a in attempts])

    @precondition(lambda self: bool(self.issued))
    @rule(data=st.data())
    def complete(self, data: st.DataObject) -> None:
        chosen = data.draw(
            st.lists(
                st.sampled_from(self.issued), min_size=1, max_size=3, unique_by=lambda a: a.token
            )
        )
        held = [a for a in chosen if self._held(a) is not None]
        done = self._run(self.backend.complete(chosen))
        assert done == len(held), f"complete reported {done}, {len(held)} were held"
        for attempt in held:
            job = self._held(attempt)
            assert job is not None
            job.state, job.token = COMPLETED, None
            self.processed += 1

    @precondition(lambda self: bool(self.issued))
    @rule(data=st.data(), due_now=st.booleans())
    def fail(self, data: st.DataObject, due_now: bool) -> None:
        attempt = data.draw(st.sampled_from(self.issued))
        job = self._held(attempt)
        retry_count = job.retry_count if job is not None else 0
        job_id = Envelope.decode(attempt.raw).id
        if retry_count >= MAX_RETRIES:  # what the pool does: bury once retries are spent
            ok = self._run(
                self.backend.bury(attempt, raw=_raw(job_id, retry_count + 1), error=None)
            )
            new_state = JobState.DEAD.value
        else:
            delay = 0.0 if due_now else FAR
            ok = self._run(
                self.backend.retry(
                    attempt, raw=_raw(job_id, retry_count + 1), delay=delay, error=None
                )
            )
            new_state = RETRY_DUE if due_now else JobState.RETRY.value
        assert ok == (job is not None), (
            f"retry/bury returned {ok} for a {'held' if job else 'stale'} attempt"
        )
        if job is not None:
            job.state, job.token = new_state, None
            job.retry_count += 1
            self.failed += 1

    @precondition(lambda self: bool(self.issued))
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        attempt = data.draw(st.sampled_from(self.issued))
        job = self._held(attempt)
        released = self._run(self.backend.release([attempt]))
        assert released == (1 if job is not None else 0)
        if job is not None:
            job.state, job.token = JobState.QUEUED.value, None

    @rule()
    def heartbeat(self) -> None:
        reply = self._run(
            self.backend.heartbeat(self.worker, attempts=list(self.issued), lease=LONG_LEASE)
        )
        stale = {a.token for a in self.issued if self._held(a) is None}
        assert set(reply.lost) == stale

    @rule()
    def promote(self) -> None:
        due = self._in(RETRY_DUE)
        moved = self._run(self.backend.promote(JobState.RETRY, limit=100))
        assert moved == len(due)
        for job_id in due:
            self.jobs[job_id].state = JobState.QUEUED.value
        assert self._run(self.backend.promote(JobState.SCHEDULED, limit=100)) == 0

    # -- the invariant -------------------------------------------------------------------

    @invariant()
    def backend_matches_model(self) -> None:
        if not hasattr(self, "jobs") or self.loop.is_closed():
            return
        counts = self._run(self.backend.counts())
        expected: dict[JobState, int] = {
            state: len(self._in(state.value)) for state in JobState if state is not JobState.RETRY
        }
        expected[JobState.RETRY] = len(self._in(JobState.RETRY.value, RETRY_DUE))
        actual = {state: getattr(counts, state.value) for state in JobState}
        assert actual == expected, f"counts {actual} != model {expected}"
        counters = self._run(self.backend.counters())
        assert (counters.processed, counters.failed) == (self.processed, self.failed)
        for job_id, job in self.jobs.items():
            stored = self._run(self.backend.get_job(job_id))
            if job.state == COMPLETED:
                assert stored is None, f"completed job {job_id} is back as {stored}"
                continue
            assert stored is not None, f"job {job_id} ({job.state}) vanished"
            want = JobState.RETRY.value if job.state == RETRY_DUE else job.state
            assert stored.state.value == want, f"{job_id}: {stored.state} != model {want}"
            retry_count = Envelope.decode(stored.raw).retry_count
            assert retry_count == job.retry_count <= MAX_RETRIES + 1


def machine_for(make_backend: Callable[[str], Backend], name: str) -> type[BackendMachine]:
    """A ``BackendMachine`` subclass whose runs use backends from ``make_backend``."""
    attributes: dict[str, Any] = {"make_backend": staticmethod(make_backend)}
    return type(f"{name.capitalize()}Machine", (BackendMachine,), attributes)
