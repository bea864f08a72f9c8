"""9. A Hypothesis state machine over the backend contract, checked against a tiny model.

The model knows, for every job, its state, its queue and priority, its place in line
and the one attempt token that may move it; and which queues (and whether the whole
namespace) are paused. Rules call the backend's verbs with any attempt ever issued —
current or stale — enqueue into random queues at random priorities, claim with random
lists of queues, pause and resume queues, purge and requeue. Every claim is checked
against the order the model expects (strict queue order, then priority, then FIFO), and
the invariant compares the backend with the model after every step: counts per state
for the namespace and per queue, the ``processed``/``failed`` counters (per queue too),
the list of queues with their pause flags, and every job's state, queue and priority.
So a stale attempt that changes anything, a transition out of a terminal state, a job
claimed out of order or from a queue not served, or a counter moving without its
transition fails the run, and Hypothesis shrinks it to the shortest sequence of calls
that shows it.

Where the contract leaves an order open, the model does too: jobs released back to the
same (queue, priority) are tied with each other (all in front of the rest), and so are
jobs of one (queue, priority) promoted by the same call (their due times are equal to
the model, not to the backend's clock).
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from wg_core import Backend, Envelope, JobState, WorkerInfo
from wg_core.backend import Attempt, Counters, Move, NewJob
from wg_core.queues import DEFAULT_QUEUE, MAX_PRIORITY, MIN_PRIORITY

__all__ = ["BackendMachine", "machine_for"]

_T = TypeVar("_T")
FAR: Final = 3600.0
"""A delay that never comes due during a run."""
LONG_LEASE: Final = 60.0
SHORT_LEASE: Final = 0.05
MAX_RETRIES: Final = 2

COMPLETED: Final = "completed"
PURGED: Final = "purged"
RETRY_DUE: Final = "retry-due"

QUEUES: Final = (DEFAULT_QUEUE, "emails", "reports")
PRIORITIES: Final = (0, 1, -1, MIN_PRIORITY, MAX_PRIORITY)

# Few values, skewed to the defaults, so that jobs often share a queue and a priority
# (FIFO and the front of the line get exercised).
queues = st.just(DEFAULT_QUEUE) | st.sampled_from(QUEUES)
priorities = st.just(0) | st.sampled_from(PRIORITIES)
RELEASED: Final = 0
"""The place in line of a released job: before every other (sequence numbers start at
1), tied with the other released jobs of its queue and priority."""

queue_lists = st.lists(st.sampled_from(QUEUES), min_size=1, max_size=len(QUEUES), unique=True)


@dataclass
class _Job:
    state: str  # a JobState value, RETRY_DUE, COMPLETED or PURGED
    queue: str
    priority: int
    seq: int  # place in line while QUEUED: lower runs first (within a queue and priority)
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


def _id(attempt: Attempt) -> str:
    return Envelope.decode(attempt.raw).id


class BackendMachine(RuleBasedStateMachine):
    """Subclassed per backend by ``machine_for`` (which sets ``make_backend``)."""

    make_backend: Callable[[str], Backend]

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.backend = self.make_backend("m" + uuid.uuid4().hex[:12])
        self.jobs: dict[str, _Job] = {}
        self.issued: list[Attempt] = []
        self.processed = dict.fromkeys(QUEUES, 0)
        self.failed = dict.fromkeys(QUEUES, 0)
        self.paused = False
        self.paused_queues: set[str] = set()
        self.seq = itertools.count(RELEASED + 1)
        self.checks = 0
        self.worker = WorkerInfo(
            worker_id="model-worker", host="model", pid=1, concurrency=4, queues=QUEUES[::-1]
        )

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

    def _in(self, *states: str, queue: str | None = None) -> list[str]:
        return [
            job_id
            for job_id, job in self.jobs.items()
            if job.state in states and (queue is None or job.queue == queue)
        ]

    def _held(self, attempt: Attempt) -> _Job | None:
        job = self.jobs.get(_id(attempt))
        return job if job is not None and job.token == attempt.token else None

    def _line(self, queues: Sequence[str]) -> dict[str, tuple[int, int, int]]:
        """Every job a pool serving ``queues`` may claim now, with its rank: lower
        ranks first; equal ranks in any order."""
        if self.paused:
            return {}
        return {
            job_id: (queues.index(job.queue), -job.priority, job.seq)
            for job_id, job in self.jobs.items()
            if job.state == JobState.QUEUED.value
            and job.queue in queues
            and job.queue not in self.paused_queues
        }

    def _claim(self, queues: Sequence[str], limit: int, lease: float) -> list[Attempt]:
        """Claim from the backend and check the jobs against the model's line."""
        line = self._line(queues)
        attempts = self._run(
            self.backend.claim(limit=limit, lease=lease, worker_id="m", queues=queues)
        )
        claimed = [_id(a) for a in attempts]
        for job_id in claimed:
            assert job_id in line, f"claimed {job_id}, which {queues} may not claim now"
        expected = sorted(line.values())[:limit]
        assert [line[job_id] for job_id in claimed] == expected, (
            f"claimed in the order {[line[j] for j in claimed]}, the model expects {expected}"
        )
        assert len({a.token for a in attempts}) == len(attempts)
        self._take(attempts)
        return attempts

    def _take(self, attempts: Sequence[Attempt]) -> None:
        for attempt in attempts:
            job = self.jobs[_id(attempt)]
            job.state, job.token = JobState.RUNNING.value, attempt.token
            self.issued.append(attempt)

    def _released(self, job: _Job) -> None:
        job.state, job.token, job.seq = JobState.QUEUED.value, None, RELEASED

    def _enqueued(self, job: _Job) -> None:
        job.state, job.token, job.seq = JobState.QUEUED.value, None, next(self.seq)

    # -- producing and claiming ----------------------------------------------------------

    @rule(
        jobs=st.lists(
            st.tuples(queues, priorities),
            min_size=1,
            max_size=3,
        ),
        scheduled=st.booleans(),
    )
    def enqueue(self, jobs: list[tuple[str, int]], scheduled: bool) -> None:
        new = []
        for queue, priority in jobs:
            job_id = str(uuid.uuid4())
            new.append(
                NewJob(
                    job_id,
                    "model",
                    _raw(job_id, 0),
                    FAR if scheduled else 0.0,
                    queue=queue,
                    priority=priority,
                )
            )
            state = JobState.SCHEDULED if scheduled else JobState.QUEUED
            self.jobs[job_id] = _Job(state.value, queue, priority, next(self.seq))
        self._run(self.backend.enqueue(new))

    @rule(queue=queues, priority=priorities)
    def enqueue_one(self, queue: str, priority: int) -> None:
        """One job on its own (some backends have a statement for just that)."""
        self.enqueue([(queue, priority)], scheduled=False)

    @rule(limit=st.integers(1, 4), queues=queue_lists, give_back=st.integers(0, 2))
    def claim(self, limit: int, queues: list[str], give_back: int) -> None:
        """Claim; then maybe release some of it at once, as a pool stopping with jobs
        claimed ahead does (so that released jobs meet the rest of the line)."""
        attempts = self._claim(queues, limit, LONG_LEASE)[:give_back]
        if attempts:
            assert self._run(self.backend.release(attempts)) == len(attempts)
            for attempt in attempts:
                self._released(self.jobs[_id(attempt)])

    @rule(limit=st.integers(1, 6))
    def claim_everything(self, limit: int) -> None:
        """A pool serving every queue, most urgent first."""
        self._claim(QUEUES[::-1], limit, LONG_LEASE)

    @precondition(lambda self: bool(self._in(JobState.QUEUED.value)))
    @rule(queues=queue_lists)
    def lease_runs_out(self, queues: list[str]) -> None:
        """Claim one job under a tiny lease, let it expire, and reclaim it."""
        attempts = self._claim(queues, 1, SHORT_LEASE)
        if not attempts:
            return
        self._run(asyncio.sleep(SHORT_LEASE * 3))
        reclaimed = self._run(
            self.backend.reclaim_expired(limit=10, lease=LONG_LEASE, worker_id="m")
        )
        assert [_id(a) for a in reclaimed] == [_id(a) for a in attempts], (
            "reclaim must return exactly the expired attempt"
        )
        assert {a.token for a in reclaimed}.isdisjoint(a.token for a in attempts)
        self._take(reclaimed)

    # -- transitions of claimed jobs -----------------------------------------------------

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
            self.processed[job.queue] += 1

    @precondition(lambda self: bool(self.issued))
    @rule(data=st.data(), due_now=st.booleans())
    def fail(self, data: st.DataObject, due_now: bool) -> None:
        attempt = data.draw(st.sampled_from(self.issued))
        job = self._held(attempt)
        retry_count = job.retry_count if job is not None else 0
        job_id = _id(attempt)
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
            self.failed[job.queue] += 1

    @precondition(lambda self: bool(self.issued))
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        held = [a for a in self.issued if self._held(a) is not None]
        either = st.sampled_from(self.issued)
        attempt = data.draw(st.sampled_from(held) | either if held else either)
        job = self._held(attempt)
        released = self._run(self.backend.release([attempt]))
        assert released == (1 if job is not None else 0)
        if job is not None:
            self._released(job)

    @precondition(lambda self: bool(self.issued))
    @rule()
    def heartbeat(self) -> None:
        reply = self._run(
            self.backend.heartbeat(self.worker, attempts=list(self.issued), lease=LONG_LEASE)
        )
        stale = {a.token for a in self.issued if self._held(a) is None}
        assert set(reply.lost) == stale
        workers = self._run(self.backend.list_workers())
        assert [w.queues for w in workers] == [self.worker.queues]

    @precondition(lambda self: bool(self._in(RETRY_DUE)))
    @rule()
    def promote(self) -> None:
        due = self._in(RETRY_DUE)
        moved = self._run(self.backend.promote(JobState.RETRY, limit=100))
        assert moved == len(due)
        batch = next(self.seq)  # one promotion: the same place in line
        for job_id in due:
            self.jobs[job_id].state, self.jobs[job_id].seq = JobState.QUEUED.value, batch
        assert self._run(self.backend.promote(JobState.SCHEDULED, limit=100)) == 0

    # -- admin ---------------------------------------------------------------------------

    @rule(queue=st.sampled_from(QUEUES), paused=st.booleans())
    def pause_queue(self, queue: str, paused: bool) -> None:
        self._run(self.backend.set_paused(paused, queue=queue))
        if paused:
            self.paused_queues.add(queue)
        else:
            self.paused_queues.discard(queue)

    # Resuming twice as likely as pausing: a namespace paused half the time would leave
    # few runs that claim anything.
    @rule(paused=st.sampled_from((False, True, False)))
    def pause_namespace(self, paused: bool) -> None:
        self._run(self.backend.set_paused(paused))
        self.paused = paused

    def _movable(self) -> list[str]:
        return self._in(
            JobState.DEAD.value, JobState.SCHEDULED.value, JobState.RETRY.value, RETRY_DUE
        )

    @precondition(lambda self: bool(self._movable()))
    @rule(data=st.data())
    def requeue(self, data: st.DataObject) -> None:
        """An admin move to the back of the job's queue (requeue dead, run now), from
        the state the job is in or (refused) another."""
        job_id = data.draw(st.sampled_from(self._movable()))
        from_state = data.draw(st.sampled_from((JobState.DEAD, JobState.SCHEDULED, JobState.RETRY)))
        job = self.jobs[job_id]
        stored_state = JobState.RETRY.value if job.state == RETRY_DUE else job.state
        moved = self._run(self.backend.move_to_queue([Move(job_id, from_state, _raw(job_id, 0))]))
        assert moved == (1 if stored_state == from_state.value else 0)
        if moved:
            self._enqueued(job)
            job.retry_count = 0

    @precondition(lambda self: bool(self._movable() or self._in(JobState.QUEUED.value)))
    @rule(
        state=st.sampled_from((JobState.QUEUED, JobState.SCHEDULED, JobState.RETRY, JobState.DEAD)),
        queue=st.none() | st.sampled_from(QUEUES),
    )
    def purge(self, state: JobState, queue: str | None) -> None:
        states = (state.value, RETRY_DUE) if state is JobState.RETRY else (state.value,)
        doomed = self._in(*states, queue=queue)
        assert self._run(self.backend.purge(state, queue=queue)) == len(doomed)
        for job_id in doomed:
            self.jobs[job_id].state = PURGED

    # -- the invariant -------------------------------------------------------------------

    def _expected_counts(self, queue: str | None) -> dict[JobState, int]:
        expected: dict[JobState, int] = {
            state: len(self._in(state.value, queue=queue))
            for state in JobState
            if state is not JobState.RETRY
        }
        expected[JobState.RETRY] = len(self._in(JobState.RETRY.value, RETRY_DUE, queue=queue))
        return expected

    @invariant()
    def backend_matches_model(self) -> None:
        if not hasattr(self, "jobs") or self.loop.is_closed():
            return
        # The namespace, and one queue per step in turn (queues() covers them all).
        self.checks += 1
        for queue in (None, QUEUES[self.checks % len(QUEUES)]):
            counts = self._run(self.backend.counts(queue=queue))
            actual = {state: getattr(counts, state.value) for state in JobState}
            expected = self._expected_counts(queue)
            assert actual == expected, f"counts of {queue}: {actual} != model {expected}"
            counters = self._run(self.backend.counters(queue=queue))
            assert counters == self._expected_counters(queue), f"counters of {queue}"
        for job_id, job in self.jobs.items():
            stored = self._run(self.backend.get_job(job_id))
            if job.state in (COMPLETED, PURGED):
                assert stored is None, f"{job.state} job {job_id} is back as {stored}"
                continue
            assert stored is not None, f"job {job_id} ({job.state}) vanished"
            want = JobState.RETRY.value if job.state == RETRY_DUE else job.state
            assert stored.state.value == want, f"{job_id}: {stored.state} != model {want}"
            assert (stored.queue, stored.priority) == (job.queue, job.priority), job_id
            retry_count = Envelope.decode(stored.raw).retry_count
            assert retry_count == job.retry_count <= MAX_RETRIES + 1

    def _expected_counters(self, queue: str | None) -> Counters:
        if queue is None:
            return Counters(sum(self.processed.values()), sum(self.failed.values()))
        return Counters(self.processed[queue], self.failed[queue])

    @invariant()
    def queues_and_pauses_match_model(self) -> None:
        if not hasattr(self, "jobs") or self.loop.is_closed():
            return
        assert self._run(self.backend.is_paused()) == self.paused
        infos = self._run(self.backend.queues())
        names = [info.name for info in infos]
        assert names == sorted(names), f"queues not sorted by name: {names}"
        # Listed: every queue with a job, a pause flag or a counter, and default. A
        # backend may also list a queue that had those once (never any other).
        needed = {DEFAULT_QUEUE, *self.paused_queues}
        needed |= {q for q in QUEUES if self._expected_counters(q) != Counters()}
        needed |= {job.queue for job in self.jobs.values() if job.state not in (COMPLETED, PURGED)}
        assert needed <= set(names) <= set(QUEUES), f"queues {names}, the model needs {needed}"
        for info in infos:
            actual = {state: getattr(info.counts, state.value) for state in JobState}
            assert actual == self._expected_counts(info.name), f"queues() counts of {info.name}"
            assert info.counters == self._expected_counters(info.name), info.name
            assert info.paused == (info.name in self.paused_queues), f"paused flag {info.name}"
        queue = QUEUES[self.checks % len(QUEUES)]
        assert self._run(self.backend.is_paused(queue=queue)) == (queue in self.paused_queues)


def machine_for(make_backend: Callable[[str], Backend], name: str) -> type[BackendMachine]:
    """A ``BackendMachine`` subclass whose runs use backends from ``make_backend``."""
    attributes: dict[str, Any] = {"make_backend": staticmethod(make_backend)}
    return type(f"{name.capitalize()}Machine", (BackendMachine,), attributes)
