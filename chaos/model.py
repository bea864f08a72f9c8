"""9. A Hypothesis state machine over the backend contract, checked against a tiny model.

The model knows, for every job, its state, its queue and priority, its limit key, its
place in line, the one attempt token that may move it, whether its cancel was
requested, and once it finished, its result and how long it is kept; which queues (and
whether the whole namespace) are paused; and each queue's limit with its log of starts.
Rules call the backend's verbs with any attempt ever issued — current or stale —
enqueue into random queues at random priorities with or without a limit key, import
jobs in every state, claim with random lists of queues, complete with a result kept
for no time, a short time or for ever, cancel jobs in every state, finish cancelled
jobs, let the clock step and prune, pause and resume queues, purge, delete and
requeue, set and clear limits. Every claim is checked against the order the model
expects (strict queue order, then priority, then FIFO) and against the limits (what a
limited queue's limit admits, and nothing more), and the invariant compares the backend
with the model after every step: counts per state (COMPLETED and CANCELLED too) for the
namespace and per queue, the ``processed``/``failed`` counters (per queue too), the
list of queues with their pause flags, every limit with its use, and every job's
state, queue, priority, limit key, result and cancel request. So a stale attempt that
changes anything, a transition out of a terminal state, a cancelled job that runs
again, both a completion and a cancel taking effect, a job claimed out of order, from a
queue not served or over its limit, a prune deleting a job that has not expired (or the
wrong one first), or a counter moving without its transition fails the run, and
Hypothesis shrinks it to the shortest sequence of calls that shows it.

Time: where the backend takes a clock (memory, SQLite), the machine gives it one that
it steps forward (``time passes``: no sleeping); elsewhere time passes for real, and a
short keep is a fraction of a second. A job kept SHORT has surely expired once time has
passed after it finished; on a real clock one that finished since may have expired too,
and the model accepts either.

Where the contract leaves an order open, the model does too: jobs released back to the
same (queue, priority) are tied with each other (all in front of the rest), and so are
jobs of one (queue, priority) promoted by the same call (their due times are equal to
the model, not to the backend's clock), and jobs finished by one call expire together.

The machine is put together from modules beside this one: ``model_jobs`` (what the
model knows of a job, the values rules draw), ``model_checks`` (the invariants),
``model_claims`` (the line, the claim check and the claim rules), ``model_limits``
(queue limits, issue 20), ``model_admin`` (the rules that pause, requeue, purge and
delete), ``model_imports`` (``import_jobs``, what ``wg migrate`` writes) and
``model_periodic`` (registering periodic entries and firing their ticks, issue 19).
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from chaos.model_admin import ModelAdmin
from chaos.model_claims import ModelClaims
from chaos.model_imports import ModelImports
from chaos.model_jobs import (
    ENDINGS,
    FAR,
    FINISHED,
    GONE,
    HOLDING,
    LONG_LEASE,
    MAX_RETRIES,
    QUEUES,
    REAL_SHORT_KEEP,
    RELEASED,
    RETRY_DUE,
    SHORT_LEASE,
    STEP,
    WAITING,
    Keep,
    ModelJob,
    job_id_of,
    keeps,
    priorities,
    queue_lists,
    queues,
    raw_envelope,
)
from chaos.model_limits import first_limits, limit_keys
from chaos.model_periodic import ModelPeriodic
from wg_core import Backend, JobState, WorkerInfo
from wg_core.backend import Attempt, CancelOutcome, Completion, NewJob, Progress
from wg_core.queues import DEFAULT_QUEUE

__all__ = ["BackendMachine", "machine_for"]

_T = TypeVar("_T")


class BackendMachine(ModelPeriodic, ModelAdmin, ModelImports, ModelClaims, RuleBasedStateMachine):
    """Subclassed per backend by ``machine_for`` (which sets ``make_backend``)."""

    make_backend: Callable[[str, Callable[[], float]], Backend]
    steps_clock: bool
    ids_per_queue: bool = False
    """The backend keeps job ids unique within a queue only (Redis with a slot per
    queue, docs/redis.md): an id stored in one queue is new to another."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.offset = 0.0  # how far the stepped clock is ahead of the real one
        self.epoch = 0  # how many times time has passed
        self.backend = self.make_backend("m" + uuid.uuid4().hex[:12], self._clock)
        self.jobs: dict[str, ModelJob] = {}
        self.issued: list[Attempt] = []
        self.processed = dict.fromkeys(QUEUES, 0)
        self.failed = dict.fromkeys(QUEUES, 0)
        self.paused = False
        self.paused_queues: set[str] = set()
        self.holds: dict[str, tuple[str, bool]] = {}  # unique key -> (job id, held for ever)
        self.seq = itertools.count(RELEASED + 1)
        self.checks = 0
        self.worker = WorkerInfo(
            worker_id="model-worker", host="model", pid=1, concurrency=4, queues=QUEUES[::-1]
        )

    def _clock(self) -> float:
        return time.time() + self.offset

    @initialize(limit=first_limits)
    def open(self, limit: tuple[str, int | None, int | None, bool] | None) -> None:
        self._run(self.backend.open())
        if limit is not None:
            self.set_limit(*limit)

    def teardown(self) -> None:
        try:
            self._run(self.backend.destroy())
        finally:
            self._run(self.backend.close())
            self.loop.close()

    # -- producing and claiming ----------------------------------------------------------

    @rule(
        jobs=st.lists(st.tuples(queues, priorities, limit_keys), min_size=1, max_size=3),
        scheduled=st.booleans(),
    )
    def enqueue(self, jobs: list[tuple[str, int, str | None]], scheduled: bool) -> None:
        new = []
        for queue, priority, key in jobs:
            job_id = str(uuid.uuid4())
            delay = FAR if scheduled else 0.0
            raw = raw_envelope(job_id, 0)
            new.append(
                NewJob(job_id, "model", raw, delay, queue=queue, priority=priority, limit_key=key)
            )
            state = JobState.SCHEDULED if scheduled else JobState.QUEUED
            self.jobs[job_id] = ModelJob(
                state.value, queue, priority, next(self.seq), limit_key=key
            )
        self._run(self.backend.enqueue(new))

    @rule(queue=queues, priority=priorities, key=limit_keys)
    def enqueue_one(self, queue: str, priority: int, key: str | None) -> None:
        """One job on its own (some backends have a statement for just that)."""
        self.enqueue([(queue, priority, key)], scheduled=False)

    @rule(
        keys=st.lists(st.sampled_from(("a", "b")), min_size=1, max_size=3),
        hold=st.sampled_from((0.0, 0.0, FAR)),
        scheduled=st.booleans(),
    )
    def enqueue_unique(self, keys: list[str], hold: float, scheduled: bool) -> None:
        """Jobs with unique keys (wg_core.unique): each stored only if its key is free
        (its holder ended, or was never there, and no hold runs), the batch's first of
        a key wins; a duplicate is answered with the holder's id."""
        new, expected = [], []
        taken = dict(self.holds)
        batch: set[str] = set()
        for key in keys:
            job_id = str(uuid.uuid4())
            holder = taken.get(key)
            holding = holder is not None and (
                holder[1]
                or holder[0] in batch
                or getattr(self.jobs.get(holder[0]), "state", GONE) in HOLDING
            )
            delay = FAR if scheduled else 0.0
            raw = raw_envelope(job_id, 0)
            new.append(NewJob(job_id, "model", raw, delay, unique_key=key, unique_for=hold))
            expected.append(holder[0] if holder is not None and holding else job_id)
            if expected[-1] == job_id:
                taken[key] = (job_id, hold > 0)
                batch.add(job_id)
        answered = self._run(self.backend.enqueue(new))
        assert answered == expected, f"unique enqueue answered {answered}, expected {expected}"
        state = JobState.SCHEDULED if scheduled else JobState.QUEUED
        for job, job_id in zip(new, answered, strict=True):
            if job_id == job.job_id:
                self.jobs[job_id] = ModelJob(state.value, DEFAULT_QUEUE, 0, next(self.seq))
        self.holds = taken

    @precondition(lambda self: bool(self._in(JobState.QUEUED.value)))
    @rule(queues=queue_lists, cancel=st.booleans())
    def lease_runs_out(self, queues: list[str], cancel: bool) -> None:
        """Claim one job under a tiny lease, maybe request its cancel, let the lease
        expire, and reclaim it (with its cancel request)."""
        attempts = self._claim(queues, 1, SHORT_LEASE)
        if not attempts:
            return
        if cancel:
            self.cancel_job(job_id_of(attempts[0]), Keep.FAR)
        self._run(asyncio.sleep(SHORT_LEASE * 3))
        reclaimed = self._run(
            self.backend.reclaim_expired(limit=10, lease=LONG_LEASE, worker_id="m")
        )
        assert [job_id_of(a) for a in reclaimed] == [job_id_of(a) for a in attempts], (
            "reclaim must return exactly the expired attempt"
        )
        assert {a.token for a in reclaimed}.isdisjoint(a.token for a in attempts)
        assert [(a.queue, a.cancel_requested) for a in reclaimed] == [
            (self.jobs[job_id_of(a)].queue, cancel) for a in reclaimed
        ]
        self._take(reclaimed, reclaimed=True)
        if self.jobs[job_id_of(attempts[0])].queue in self.limits:
            # As the pool's reaper does: retried at once (such a job's slot is counted
            # on some backends only; see chaos/model_limits.py).
            self._fail(reclaimed[0], due_now=True)

    # -- transitions of claimed jobs -----------------------------------------------------

    @precondition(lambda self: bool(self.issued))
    @rule(data=st.data(), keep=keeps, bare=st.booleans())
    def complete(self, data: st.DataObject, keep: str, bare: bool) -> None:
        """Complete with results (kept ``keep``), or bare attempts (deleted)."""
        chosen = data.draw(
            st.lists(self._attempts(), min_size=1, max_size=3, unique_by=lambda a: a.token)
        )
        self._complete(chosen, Keep.NONE if bare else keep, bare=bare)

    def _complete(self, chosen: Sequence[Attempt], keep: str, *, bare: bool = False) -> None:
        results = {a.token: f'{{"token":"{a.token}"}}' for a in chosen}
        items = [
            a if bare else Completion(a, result=results[a.token], keep=self._seconds(keep))
            for a in chosen
        ]
        held = [a for a in chosen if self._held(a) is not None]
        done = self._run(self.backend.complete(items))
        assert done == len(held), f"complete reported {done}, {len(held)} were held"
        rank = next(self.seq)
        for attempt in held:
            job = self._held(attempt)
            assert job is not None
            job.result = results[attempt.token]
            self._finished(job, JobState.COMPLETED, keep, rank)  # wins over a cancel
            self.processed[job.queue] += 1

    @precondition(lambda self: bool(self._in(JobState.QUEUED.value)))
    @rule(keep=keeps, ending=st.sampled_from(ENDINGS))
    def run_one(self, keep: str, ending: str) -> None:
        """A job's whole run: claimed, then completed; or its cancel requested (and
        seen in a heartbeat) and then cancelled by its worker, or completed first, or
        released by a worker stopping, or failed (so that finished jobs, and every way a
        cancel request can meet its job's end, are common)."""
        attempts = self._claim(QUEUES[::-1], 1, LONG_LEASE)
        if not attempts:
            return
        [attempt] = attempts
        if ending == "complete":
            self._complete(attempts, keep)
            return
        self.cancel_job(job_id_of(attempt), keep)
        self.heartbeat()
        if ending == "cancelled":
            self._finish_cancelled(attempt, keep)
        elif ending == "completed first":
            self._complete(attempts, Keep.FAR)
            self._finish_cancelled(attempt, keep)  # too late: refused
        elif ending == "released":
            assert self._run(self.backend.release(attempts)) == 1
            self._released(self.jobs[job_id_of(attempt)])
        else:
            self._fail(attempt, due_now=True)

    @precondition(lambda self: bool(self.issued))
    @rule(data=st.data(), due_now=st.booleans())
    def fail(self, data: st.DataObject, due_now: bool) -> None:
        self._fail(data.draw(self._attempts()), due_now=due_now)

    def _fail(self, attempt: Attempt, *, due_now: bool) -> None:
        """Retry (or, retries spent, bury) ``attempt`` as the pool would."""
        job = self._held(attempt)
        retry_count = job.retry_count if job is not None else 0
        job_id = job_id_of(attempt)
        raw = raw_envelope(job_id, retry_count + 1)
        if retry_count >= MAX_RETRIES:  # what the pool does: bury once retries are spent
            ok = self._run(self.backend.bury(attempt, raw=raw, error=None))
            new_state = JobState.DEAD.value
        else:
            delay = 0.0 if due_now else FAR
            ok = self._run(self.backend.retry(attempt, raw=raw, delay=delay, error=None))
            new_state = RETRY_DUE if due_now else JobState.RETRY.value
        assert ok == (job is not None), (
            f"retry/bury returned {ok} for a {'held' if job else 'stale'} attempt"
        )
        if job is None:
            return
        self.failed[job.queue] += 1
        job.retry_count += 1
        if job.cancel_requested and new_state != JobState.DEAD.value:
            # Its cancel was requested: a retry would run it again, so it ends cancelled.
            self._finished(job, JobState.CANCELLED, job.cancel_keep, next(self.seq))
        else:
            job.state, job.token, job.cancel_requested = new_state, None, False

    @precondition(lambda self: bool(self.issued))
    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        attempt = data.draw(self._attempts())
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
        requested = {
            a.token for a in self.issued if (job := self._held(a)) and job.cancel_requested
        }
        assert set(reply.cancelled) == requested, "heartbeat must report the cancel requests"
        workers = self._run(self.backend.list_workers())
        assert [w.queues for w in workers] == [self.worker.queues]

    def _requested(self) -> list[Attempt]:
        return [a for a in self.issued if (job := self._held(a)) and job.cancel_requested]

    @precondition(lambda self: bool(self._requested()))
    @rule(data=st.data(), keep=keeps, stale=st.integers(0, 3))
    def finish_cancelled(self, data: st.DataObject, keep: str, stale: int) -> None:
        """The worker of a job whose cancel was requested ends it (or, once in four, a
        stale attempt of any job tries to)."""
        stale_ones = [a for a in self.issued if self._held(a) is None]
        pool = stale_ones if stale == 0 and stale_ones else self._requested()
        self._finish_cancelled(data.draw(st.sampled_from(pool)), keep)

    def _finish_cancelled(self, attempt: Attempt, keep: str) -> None:
        job = self._held(attempt)
        ok = self._run(
            self.backend.finish_cancelled(attempt, keep=self._seconds(keep), error="cancelled")
        )
        assert ok == (job is not None), f"finish_cancelled returned {ok}"
        if job is not None:
            job.error = "cancelled"
            self._finished(job, JobState.CANCELLED, keep, next(self.seq))

    @precondition(lambda self: bool(self.issued))
    @rule(data=st.data(), fraction=st.sampled_from((0.0, 0.5, 1.0)))
    def progress(self, data: st.DataObject, fraction: float) -> None:
        attempt = data.draw(self._attempts())
        job = self._held(attempt)
        ok = self._run(self.backend.set_progress(attempt, Progress(fraction, "model")))
        assert ok == (job is not None), f"set_progress returned {ok}"
        if job is not None:
            stored = self._run(self.backend.get_job(job_id_of(attempt)))
            assert stored is not None
            assert stored.progress is not None
            assert (stored.progress.fraction, stored.progress.message) == (fraction, "model")

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

    # -- cancel, time and pruning --------------------------------------------------------

    def cancel_job(self, job_id: str, keep: str) -> None:
        """Cancel ``job_id`` and check the outcome against the model."""
        job = self.jobs.get(job_id)
        if job is not None and job.cancel_requested:
            keep = job.cancel_keep  # a second request asks for what the first did
        outcome = self._run(self.backend.cancel(job_id, keep=self._seconds(keep)))
        if job is None or job.state in (*FINISHED, GONE):
            assert outcome is CancelOutcome.NOT_CANCELLABLE, f"{outcome} for a finished job"
        elif job.state == JobState.RUNNING.value:
            assert outcome is CancelOutcome.REQUESTED, f"{outcome} for a running job"
            job.cancel_requested, job.cancel_keep = True, keep
        else:
            assert outcome is CancelOutcome.CANCELLED, f"{outcome} for a {job.state} job"
            self._finished(job, JobState.CANCELLED, keep, next(self.seq))

    @precondition(lambda self: bool(self.jobs))
    @rule(data=st.data(), keep=keeps, unknown=st.integers(0, 7))
    def cancel(self, data: st.DataObject, keep: str, unknown: int) -> None:
        """Cancel a job in any state, more often a running or waiting one (now and
        then one the backend never stored)."""
        live = self._in(JobState.RUNNING.value, *WAITING)
        ids = st.sampled_from(live) | st.sampled_from(list(self.jobs)) if live else None
        job_id = "no-such-job" if unknown == 0 or ids is None else data.draw(ids)
        self.cancel_job(job_id, keep)

    def _kept_short(self, *, fresh: bool) -> bool:
        """Whether a job kept SHORT finished since time last passed (``fresh``) or
        before."""
        return any(
            job.short_epoch is not None and (job.short_epoch == self.epoch) == fresh
            for job in self.jobs.values()
        )

    @precondition(lambda self: self._kept_short(fresh=True) or self._starts_in_window())
    @rule()
    def time_passes(self) -> None:
        """Every job kept SHORT so far expires, and where the clock steps, every rate's
        window moves past the starts logged so far (a step of the clock, or a short
        sleep)."""
        if self.steps_clock:
            self.offset += STEP
        else:
            self._run(asyncio.sleep(REAL_SHORT_KEEP * 3))
        self.epoch += 1

    @precondition(lambda self: self._kept_short(fresh=True) or self._kept_short(fresh=False))
    @rule(limit=st.integers(1, 4))
    def prune(self, limit: int) -> None:
        short = {j: job for j, job in self.jobs.items() if job.short_epoch is not None}
        surely = {j for j, job in short.items() if (job.short_epoch or 0) < self.epoch}
        # On a real clock, one kept SHORT since time last passed may have expired too.
        maybe = set() if self.steps_clock else set(short) - surely
        pruned = self._run(self.backend.prune(limit=limit))
        gone = {j for j in surely | maybe if self._run(self.backend.get_job(j)) is None}
        assert pruned == len(gone) <= limit, f"prune said {pruned}, deleted {len(gone)}"
        assert pruned >= min(limit, len(surely)), f"prune left expired jobs: {pruned}"
        kept = surely - gone
        if kept:  # oldest expiry first: nothing deleted expires after one kept
            newest = max(self.jobs[j].finish_rank for j in gone) if gone else 0
            assert newest <= min(self.jobs[j].finish_rank for j in kept), "prune order"
        for job_id in gone:
            self.jobs[job_id].state, self.jobs[job_id].short_epoch = GONE, None


def machine_for(
    make_backend: Callable[[str, Callable[[], float]], Backend],
    name: str,
    *,
    steps_clock: bool,
    ids_per_queue: bool = False,
) -> type[BackendMachine]:
    """A ``BackendMachine`` subclass whose runs use backends from ``make_backend``
    (namespace, clock). ``steps_clock``: the backend uses that clock, so time passes
    by stepping it; otherwise (a server's clock) by sleeping. ``ids_per_queue``: the
    backend's job ids are unique within a queue only."""
    attributes: dict[str, Any] = {
        "make_backend": staticmethod(make_backend),
        "steps_clock": steps_clock,
        "ids_per_queue": ids_per_queue,
    }
    return type(f"{name.capitalize()}Machine", (BackendMachine,), attributes)
