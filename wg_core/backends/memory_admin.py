"""The memory backend's data and its admin side: ``MemoryAdmin`` holds every structure
``MemoryBackend`` keeps, the state moves its verbs share (leaving RUNNING, finishing,
queueing again) and the operator's verbs (cancel, wait for a job, prune, counts,
listing, moves, deletes, pause, workers). ``MemoryBackend`` adds producing and working.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace

from wg_core.backend import (
    FINISHED_STATES,
    LAYOUT_VERSION,
    Attempt,
    CancelOutcome,
    Counters,
    JobQuery,
    JobState,
    Move,
    NewJob,
    QueueInfo,
    StateCounts,
    StoredJob,
    WorkerInfo,
)
from wg_core.backends.common import Waiters, error_matches, text_matches
from wg_core.backends.memory_jobs import (
    MemoryJob,
    ReadyJobs,
    UniqueHolds,
    count_states,
    expired,
    of_queue,
    stored_job,
)
from wg_core.backends.memory_limits import MemoryLimits
from wg_core.errors import DuplicateJobError
from wg_core.limits import QueueLimit
from wg_core.namespace import validate_namespace
from wg_core.queues import DEFAULT_QUEUE

__all__ = ["MemoryAdmin"]

_ENDED = FINISHED_STATES | {JobState.DEAD}
"""The states ``wait_finished`` waits for."""
_RECHECK_EVERY = 1.0
"""Seconds a ``wait_finished`` waits on its wake-up before looking again."""


class MemoryAdmin:
    """The memory backend's data, shared state moves and admin verbs."""

    def __init__(self, namespace: str = "wg", *, clock: Callable[[], float] = time.time) -> None:
        self._namespace = validate_namespace(namespace)
        self._clock = clock
        self._lock = threading.RLock()
        self._jobs: dict[str, MemoryJob] = {}
        self._ready = ReadyJobs()
        self._unique = UniqueHolds()
        self._running: dict[str, str] = {}  # token -> job_id
        # Lease tokens: this store's random prefix and a count, unique for the store's
        # life (a uuid4 per claimed job cost a microsecond and a half of each job).
        self._token_prefix = uuid.uuid4().hex + "-"
        self._token_count = itertools.count()
        self._seq = itertools.count(1)
        # Released jobs go in front of everything: negative, decreasing sequence numbers.
        self._front_seq = itertools.count(-1, -1)
        self._dead_seq = itertools.count(1)
        self._finish_seq = itertools.count(1)
        # Per queue; a queue appears once it has counted something.
        self._processed: Counter[str] = Counter()
        self._failed: Counter[str] = Counter()
        self._paused = False
        self._paused_queues: set[str] = set()
        self._workers: dict[str, WorkerInfo] = {}
        self._limits = MemoryLimits()
        self._waiters = Waiters()  # idle claimers
        self._finished = Waiters()  # wait_finished callers
        self._cancel_requests = Waiters()  # lease keepers (wait_cancel_request)

    # -- state moves shared by the verbs -------------------------------------------------

    def _held(self, attempt: Attempt) -> MemoryJob | None:
        job = self._jobs.get(attempt.key)
        if job is None or job.state is not JobState.RUNNING or job.token != attempt.token:
            return None
        return job

    def _store_new(self, jobs: Sequence[NewJob]) -> list[str]:
        """Store new jobs (under the lock), all or none: an id already stored raises
        ``DuplicateJobError``; a job whose unique key is held is not stored. One id per
        job, as ``enqueue`` returns them. The caller wakes the claimers."""
        now = self._clock()
        duplicates = [job.job_id for job in jobs if job.job_id in self._jobs]
        if duplicates:
            raise DuplicateJobError(f"job id already stored: {duplicates[0]}")
        ids = self._unique.resolve(jobs, self._jobs, now)
        for job, stored_id in zip(jobs, ids, strict=True):
            if stored_id != job.job_id:
                continue  # its unique key is held: a duplicate, nothing stored
            scheduled = job.delay > 0
            stored = MemoryJob(
                job_id=job.job_id,
                job_name=job.job_name,
                raw=job.raw,
                state=JobState.SCHEDULED if scheduled else JobState.QUEUED,
                seq=next(self._seq),
                queue=job.queue,
                priority=job.priority,
                due_at=now + job.delay if scheduled else None,
                updated_at=now,
                limit_key=job.limit_key,
            )
            self._jobs[job.job_id] = stored
            self._unique.take(job, now)
            if not scheduled:
                self._ready.push(stored)
        return ids

    def _leave_running(self, job: MemoryJob) -> None:
        if job.token is not None:
            self._running.pop(job.token, None)
        job.token = None
        job.lease_until = None
        job.worker_id = None
        job.updated_at = self._clock()
        if job.queue in self._limits:
            # A slot of a limited queue is free: its claimers need not wait to poll.
            self._waiters.wake_all()

    def _finish(self, job: MemoryJob, state: JobState, keep: float) -> None:
        """``job`` (out of RUNNING, or waiting) becomes ``state`` (COMPLETED or
        CANCELLED), kept ``keep`` seconds; deleted at once when ``keep`` is 0."""
        if keep <= 0:
            del self._jobs[job.job_id]
            return
        now = self._clock()
        job.state = state
        job.due_at = None
        job.cancel_requested = False
        job.seq = next(self._finish_seq)
        job.updated_at = job.finished_at = now
        job.expires_at = now + keep

    def _queue_front(self, job: MemoryJob) -> None:
        job.state = JobState.QUEUED
        job.due_at = None
        job.seq = next(self._front_seq)
        self._ready.push(job)

    def _queue_back(self, job: MemoryJob) -> None:
        job.forget_run()
        job.state = JobState.QUEUED
        job.due_at = None
        job.seq = next(self._seq)
        job.updated_at = self._clock()
        self._ready.push(job)

    # -- admin ---------------------------------------------------------------------------

    async def layout_version(self) -> int:
        # Nothing older can exist in memory: the data is as new as this process.
        return LAYOUT_VERSION

    async def cancel(self, job_id: str, *, keep: float) -> CancelOutcome:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.state in FINISHED_STATES:
                return CancelOutcome.NOT_CANCELLABLE
            if job.state is JobState.RUNNING:
                job.cancel_requested = True
                job.cancel_keep = keep
                outcome = CancelOutcome.REQUESTED
            else:
                # A stale ready-heap entry stays behind: pop skips a job not QUEUED.
                self._finish(job, JobState.CANCELLED, keep)
                outcome = CancelOutcome.CANCELLED
        if outcome is CancelOutcome.REQUESTED:
            self._cancel_requests.wake_all()
        else:
            self._finished.wake_all()
        return outcome

    async def wait_finished(self, job_id: str, *, timeout: float) -> StoredJob | None:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                job = self._jobs.get(job_id)
                stored = None if job is None else stored_job(job)
            if stored is None or stored.state in _ENDED:
                return stored
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return stored
            # A blocking facade's thread may finish the job between the look and the
            # wait: a bounded wait turns that lost wake-up into a short delay.
            await self._finished.wait(min(remaining, _RECHECK_EVERY))

    async def prune(self, *, limit: int) -> int:
        with self._lock:
            now = self._clock()
            doomed = expired(self._jobs.values(), now, limit)
            for job in doomed:
                del self._jobs[job.job_id]
            self._unique.forget_free(self._jobs, now)
        return len(doomed)

    async def counts(self, *, queue: str | None = None) -> StateCounts:
        with self._lock:
            return count_states(of_queue(self._jobs.values(), queue))

    async def recount(self) -> bool:
        return False  # counts() counts the jobs themselves

    async def counters(self, *, queue: str | None = None) -> Counters:
        with self._lock:
            if queue is None:
                return Counters(processed=self._processed.total(), failed=self._failed.total())
            return Counters(processed=self._processed[queue], failed=self._failed[queue])

    async def queues(self) -> list[QueueInfo]:
        with self._lock:
            by_queue: dict[str, list[MemoryJob]] = {DEFAULT_QUEUE: []}
            for job in self._jobs.values():
                by_queue.setdefault(job.queue, []).append(job)
            for name in (*self._paused_queues, *self._processed, *self._failed):
                by_queue.setdefault(name, [])
            return [
                QueueInfo(
                    name=name,
                    counts=count_states(by_queue[name]),
                    counters=Counters(processed=self._processed[name], failed=self._failed[name]),
                    paused=name in self._paused_queues,
                )
                for name in sorted(by_queue)
            ]

    async def list_jobs(self, query: JobQuery) -> list[StoredJob]:
        with self._lock:
            jobs = [
                job
                for job in self._jobs.values()
                if job.state is query.state
                and (query.queue is None or job.queue == query.queue)
                and (query.job_name is None or job.job_name == query.job_name)
                and (query.error_contains is None or error_matches(job.raw, query.error_contains))
                and (query.text_contains is None or text_matches(job.raw, query.text_contains))
            ]
            if query.state in (JobState.SCHEDULED, JobState.RETRY):
                jobs.sort(key=lambda job: (job.due_at or 0.0, job.seq))
            elif query.state is JobState.RUNNING:
                jobs.sort(key=lambda job: job.updated_at)
            else:
                jobs.sort(key=lambda job: job.seq)
            if query.newest_first:
                jobs.reverse()
            page = jobs[query.offset : query.offset + query.limit]
            return [stored_job(job) for job in page]

    async def get_job(self, job_id: str) -> StoredJob | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else stored_job(job)

    async def move_to_queue(self, moves: Sequence[Move]) -> int:
        moved = 0
        with self._lock:
            for move in moves:
                job = self._jobs.get(move.job_id)
                if job is None or job.state is not move.from_state:
                    continue
                if job.state is JobState.RUNNING:
                    continue
                job.raw = move.raw
                self._queue_back(job)
                moved += 1
        if moved:
            self._waiters.wake_all()
        return moved

    async def delete_jobs(self, job_ids: Sequence[str]) -> int:
        deleted = 0
        with self._lock:
            for job_id in job_ids:
                job = self._jobs.get(job_id)
                if job is None or job.state is JobState.RUNNING:
                    continue
                del self._jobs[job_id]
                deleted += 1
        return deleted

    async def purge(self, state: JobState, *, queue: str | None = None) -> int:
        if state is JobState.RUNNING:
            raise ValueError("running jobs cannot be purged; stop their workers first")
        with self._lock:
            doomed = [
                job.job_id for job in of_queue(self._jobs.values(), queue) if job.state is state
            ]
            for job_id in doomed:
                del self._jobs[job_id]
        return len(doomed)

    async def set_paused(self, paused: bool, *, queue: str | None = None) -> None:
        with self._lock:
            if queue is None:
                self._paused = paused
            elif paused:
                self._paused_queues.add(queue)
            else:
                self._paused_queues.discard(queue)
        if not paused:
            self._waiters.wake_all()

    async def is_paused(self, *, queue: str | None = None) -> bool:
        with self._lock:
            return self._paused if queue is None else queue in self._paused_queues

    async def list_workers(self) -> list[WorkerInfo]:
        with self._lock:
            return sorted(self._workers.values(), key=lambda w: w.started_at, reverse=True)

    async def request_worker_stop(self, worker_id: str) -> bool:
        with self._lock:
            worker = self._workers.get(worker_id)
            if worker is None:
                return False
            self._workers[worker_id] = replace(worker, stop_requested=True)
        return True

    # -- limits (issue 20) ---------------------------------------------------------------

    async def set_limit(self, limit: QueueLimit) -> None:
        with self._lock:
            self._limits.set(limit)
        self._waiters.wake_all()  # a raised limit may let a waiting claimer start

    async def clear_limit(self, queue: str) -> bool:
        with self._lock:
            had = self._limits.clear(queue)
        self._waiters.wake_all()
        return had

    async def limits(self) -> list[QueueLimit]:
        with self._lock:
            running = [self._jobs[job_id] for job_id in self._running.values()]
            return self._limits.listing(running, self._clock())
