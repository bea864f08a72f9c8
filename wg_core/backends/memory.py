"""``MemoryBackend``: the whole backend contract in plain Python structures.

For tests (yours and wg's) and for single-process apps that accept losing queued jobs
when the process exits. It passes the same conformance suite as the durable backends.
Every operation runs without awaiting in between, so each is atomic with respect to
the event loop; a lock keeps it atomic when the blocking facade calls it from another
thread. Time comes from an injectable ``clock`` (Unix seconds).

It is also the reference the other engines are read against: each queue has one heap of
ready jobs ordered by (priority, descending; sequence number), so the claim order is
the contract's with nothing else to it. Released jobs take
sequence numbers below every enqueued one, which puts them at the front of their
(queue, priority).
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
    LAYOUT_VERSION,
    Attempt,
    Counters,
    HeartbeatReply,
    JobQuery,
    JobState,
    Move,
    NewJob,
    QueueInfo,
    StateCounts,
    StoredJob,
    WorkerInfo,
)
from wg_core.backends.common import (
    WORKER_FORGET_AFTER_LEASES,
    Waiters,
    error_matches,
    text_matches,
)
from wg_core.backends.memory_jobs import (
    MemoryJob,
    ReadyJobs,
    count_states,
    of_queue,
    stored_job,
)
from wg_core.errors import DuplicateJobError
from wg_core.namespace import validate_namespace
from wg_core.queues import DEFAULT_QUEUE

__all__ = ["MemoryBackend"]


class MemoryBackend:
    """Jobs in dictionaries and heaps, in this process only."""

    def __init__(self, namespace: str = "wg", *, clock: Callable[[], float] = time.time) -> None:
        self._namespace = validate_namespace(namespace)
        self._clock = clock
        self._lock = threading.RLock()
        self._jobs: dict[str, MemoryJob] = {}
        self._ready = ReadyJobs()
        self._running: dict[str, str] = {}  # token -> job_id
        self._seq = itertools.count(1)
        # Released jobs go in front of everything: negative, decreasing sequence numbers.
        self._front_seq = itertools.count(-1, -1)
        self._dead_seq = itertools.count(1)
        # Per queue; a queue appears once it has counted something.
        self._processed: Counter[str] = Counter()
        self._failed: Counter[str] = Counter()
        self._paused = False
        self._paused_queues: set[str] = set()
        self._workers: dict[str, WorkerInfo] = {}
        self._waiters = Waiters()

    # -- properties ----------------------------------------------------------------------

    @property
    def namespace(self) -> str:
        return self._namespace

    @property
    def display_url(self) -> str:
        return "memory:"

    @property
    def supports_transactional_enqueue(self) -> bool:
        return False

    async def open(self, *, create: bool = True) -> None:
        # The data is this object: it exists as long as the backend does.
        return None

    def clone(self) -> MemoryBackend:
        # Another view of in-process data is the same object (its lock makes every call
        # safe from any thread and event loop).
        return self

    async def close(self) -> None:
        self._waiters.wake_all()

    async def destroy(self) -> None:
        with self._lock:
            self._jobs.clear()
            self._ready.clear()
            self._running.clear()
            self._workers.clear()
            self._processed.clear()
            self._failed.clear()
            self._paused = False
            self._paused_queues.clear()

    def __repr__(self) -> str:
        return f"MemoryBackend(namespace={self._namespace!r})"

    # -- producing -----------------------------------------------------------------------

    async def enqueue(self, jobs: Sequence[NewJob], *, connection: object | None = None) -> None:
        if connection is not None:
            raise TypeError("MemoryBackend has no transactions: pass no connection")
        now = self._clock()
        with self._lock:
            duplicates = [job.job_id for job in jobs if job.job_id in self._jobs]
            if duplicates:
                raise DuplicateJobError(f"job id already stored: {duplicates[0]}")
            for job in jobs:
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
                )
                self._jobs[job.job_id] = stored
                if not scheduled:
                    self._ready.push(stored)
        self._waiters.wake_all()

    # -- working -------------------------------------------------------------------------

    async def claim(
        self,
        *,
        limit: int,
        lease: float,
        worker_id: str,
        wait: float = 0.0,
        queues: Sequence[str] = (DEFAULT_QUEUE,),
    ) -> list[Attempt]:
        attempts = self._claim_now(limit, lease, worker_id, queues)
        if attempts or wait <= 0:
            return attempts
        await self._waiters.wait(wait)
        return self._claim_now(limit, lease, worker_id, queues)

    def _claim_now(
        self, limit: int, lease: float, worker_id: str, queues: Sequence[str]
    ) -> list[Attempt]:
        now = self._clock()
        attempts: list[Attempt] = []
        with self._lock:
            if self._paused:
                return attempts
            for queue in queues:
                if queue in self._paused_queues:
                    continue
                while len(attempts) < limit and (job := self._ready.pop(queue, self._jobs)):
                    attempts.append(self._lease(job, lease, worker_id, now))
        return attempts

    def _lease(self, job: MemoryJob, lease: float, worker_id: str, now: float) -> Attempt:
        if job.token is not None:
            self._running.pop(job.token, None)
        token = uuid.uuid4().hex
        job.state = JobState.RUNNING
        job.token = token
        job.lease_until = now + lease
        job.worker_id = worker_id
        job.updated_at = now
        self._running[token] = job.job_id
        return Attempt(key=job.job_id, token=token, raw=job.raw)

    def _held(self, attempt: Attempt) -> MemoryJob | None:
        job = self._jobs.get(attempt.key)
        if job is None or job.state is not JobState.RUNNING or job.token != attempt.token:
            return None
        return job

    def _leave_running(self, job: MemoryJob) -> None:
        if job.token is not None:
            self._running.pop(job.token, None)
        job.token = None
        job.lease_until = None
        job.worker_id = None
        job.updated_at = self._clock()

    async def complete(self, attempts: Sequence[Attempt]) -> int:
        done = 0
        with self._lock:
            for attempt in attempts:
                job = self._held(attempt)
                if job is None:
                    continue
                self._leave_running(job)
                del self._jobs[job.job_id]
                self._processed[job.queue] += 1
                done += 1
        return done

    async def retry(self, attempt: Attempt, *, raw: str, delay: float, error: str | None) -> bool:
        with self._lock:
            job = self._failed_attempt(attempt, raw, JobState.RETRY)
            if job is not None:
                job.due_at = self._clock() + delay
        return job is not None

    async def bury(self, attempt: Attempt, *, raw: str, error: str | None) -> bool:
        with self._lock:
            job = self._failed_attempt(attempt, raw, JobState.DEAD)
            if job is not None:
                job.seq = next(self._dead_seq)
                job.updated_at = self._clock()
        return job is not None

    def _failed_attempt(self, attempt: Attempt, raw: str, state: JobState) -> MemoryJob | None:
        """RUNNING → ``state`` with envelope ``raw``, ``failed += 1``; the job, or
        ``None`` if the attempt lost its lease (under the lock)."""
        job = self._held(attempt)
        if job is None:
            return None
        self._leave_running(job)
        job.raw = raw
        job.state = state
        job.due_at = None
        self._failed[job.queue] += 1
        return job

    async def release(self, attempts: Sequence[Attempt]) -> int:
        released = 0
        with self._lock:
            # Release in reverse so that the first-claimed job ends up first in line.
            for attempt in reversed(attempts):
                job = self._held(attempt)
                if job is None:
                    continue
                self._leave_running(job)
                self._queue_front(job)
                released += 1
        if released:
            self._waiters.wake_all()
        return released

    def _queue_front(self, job: MemoryJob) -> None:
        job.state = JobState.QUEUED
        job.due_at = None
        job.seq = next(self._front_seq)
        self._ready.push(job)

    def _queue_back(self, job: MemoryJob) -> None:
        job.state = JobState.QUEUED
        job.due_at = None
        job.seq = next(self._seq)
        job.updated_at = self._clock()
        self._ready.push(job)

    async def heartbeat(
        self, worker: WorkerInfo, *, attempts: Sequence[Attempt], lease: float
    ) -> HeartbeatReply:
        now = self._clock()
        lost: set[str] = set()
        with self._lock:
            for attempt in attempts:
                job = self._held(attempt)
                if job is None:
                    lost.add(attempt.token)
                else:
                    job.lease_until = now + lease
            previous = self._workers.get(worker.worker_id)
            stop = previous.stop_requested if previous else False
            self._workers[worker.worker_id] = replace(
                worker, last_seen=now, stop_requested=stop or worker.stop_requested
            )
        return HeartbeatReply(lost=frozenset(lost), stop_requested=stop)

    async def unregister_worker(self, worker_id: str) -> None:
        with self._lock:
            self._workers.pop(worker_id, None)

    async def promote(self, state: JobState, *, limit: int) -> int:
        if state not in (JobState.SCHEDULED, JobState.RETRY):
            raise ValueError(f"only scheduled and retry jobs are promoted, not {state}")
        now = self._clock()
        with self._lock:
            due = sorted(
                (job for job in self._jobs.values() if job.state is state),
                key=lambda job: (job.due_at or 0.0, job.seq),
            )
            moved = 0
            for job in due:
                if moved >= limit or (job.due_at or 0.0) > now:
                    break
                self._queue_back(job)
                moved += 1
        if moved:
            self._waiters.wake_all()
        return moved

    async def reclaim_expired(
        self, *, limit: int, lease: float, worker_id: str, silent_after: float | None = None
    ) -> list[Attempt]:
        now = self._clock()
        with self._lock:
            silent = (
                set()
                if silent_after is None
                else {
                    w.worker_id for w in self._workers.values() if w.last_seen < now - silent_after
                }
            )
            expired = sorted(
                (
                    job
                    for job in (self._jobs[job_id] for job_id in self._running.values())
                    if (job.lease_until or 0.0) <= now or job.worker_id in silent
                ),
                key=lambda job: job.lease_until or 0.0,
            )[:limit]
            attempts = [self._lease(job, lease, worker_id, now) for job in expired]
            forget_before = now - WORKER_FORGET_AFTER_LEASES * lease
            for stale in [w for w in self._workers.values() if w.last_seen < forget_before]:
                del self._workers[stale.worker_id]
        return attempts

    # -- admin ---------------------------------------------------------------------------

    async def layout_version(self) -> int:
        # Nothing older can exist in memory: the data is as new as this process.
        return LAYOUT_VERSION

    async def counts(self, *, queue: str | None = None) -> StateCounts:
        with self._lock:
            return count_states(of_queue(self._jobs.values(), queue))

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
