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
(queue, priority). Finished jobs (COMPLETED, CANCELLED) stay in the same dictionary
until pruned; waiters for a finished job and for a cancel request are woken in process.
The data, the state moves the verbs share and the admin verbs are in memory_admin.py.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import replace

from wg_core.backend import (
    FINISHED_STATES,
    Attempt,
    Completion,
    HeartbeatReply,
    ImportedJob,
    JobState,
    NewJob,
    Progress,
    WorkerInfo,
)
from wg_core.backends.common import WORKER_FORGET_AFTER_LEASES, import_hold
from wg_core.backends.memory_jobs import MemoryJob
from wg_core.backends.memory_periodic import MemoryPeriodic
from wg_core.queues import DEFAULT_QUEUE
from wg_core.records import claimed_attempt

__all__ = ["MemoryBackend"]


class MemoryBackend(MemoryPeriodic):
    """Jobs in dictionaries and heaps, in this process only."""

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
        for waiters in (self._waiters, self._finished, self._cancel_requests):
            waiters.wake_all()

    async def destroy(self) -> None:
        with self._lock:
            self._jobs.clear()
            self._ready.clear()
            self._unique.clear()
            self._running.clear()
            self._workers.clear()
            self._processed.clear()
            self._failed.clear()
            self._paused = False
            self._paused_queues.clear()
            self._periodic.clear()
            self._limits.reset()
        self._finished.wake_all()

    def __repr__(self) -> str:
        return f"MemoryBackend(namespace={self._namespace!r})"

    # -- producing -----------------------------------------------------------------------

    async def enqueue(
        self, jobs: Sequence[NewJob], *, connection: object | None = None
    ) -> list[str]:
        if connection is not None:
            raise TypeError("MemoryBackend has no transactions: pass no connection")
        with self._lock:
            ids = self._store_new(jobs)
        self._waiters.wake_all()
        return ids

    async def import_jobs(self, jobs: Sequence[ImportedJob]) -> int:
        now = self._clock()
        stored = 0
        with self._lock:
            for job in jobs:
                if job.job_id in self._jobs:
                    continue  # already here, in any state: importing again stores nothing
                key = import_hold(job)
                if key is not None:
                    self._unique.take_imported(key, job.job_id, self._jobs, now)
                self._jobs[job.job_id] = self._imported(job, now)
                stored += 1
        self._waiters.wake_all()
        return stored

    def _imported(self, job: ImportedJob, now: float) -> MemoryJob:
        """The stored form of an imported job, in the order its state lists by (under
        the lock); a QUEUED one is made ready."""
        state = JobState(job.state)
        finished = state in FINISHED_STATES
        if state is JobState.DEAD:
            seq = next(self._dead_seq)
        elif finished:
            seq = next(self._finish_seq)
        else:
            seq = next(self._seq)
        stored = MemoryJob(
            job_id=job.job_id,
            job_name=job.job_name,
            raw=job.raw,
            state=state,
            seq=seq,
            queue=job.queue,
            priority=job.priority,
            due_at=job.due_at if state in (JobState.SCHEDULED, JobState.RETRY) else None,
            updated_at=(job.finished_at if finished else job.updated_at) or now,
            limit_key=job.limit_key,
        )
        if finished:
            stored.result = job.result
            stored.started_at = job.started_at
            stored.finished_at = job.finished_at
            stored.expires_at = job.expires_at
            stored.progress = job.progress
            stored.last_error = job.last_error
        if state is JobState.QUEUED:
            self._ready.push(stored)
        return stored

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
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            attempts, blocked = self._claim_now(limit, lease, worker_id, queues)
            remaining = deadline - loop.time()
            if attempts or remaining <= 0:
                return attempts
            if blocked is None:
                await self._waiters.wait(remaining)
                return self._claim_now(limit, lease, worker_id, queues)[0]
            # Held back by a limit: woken when a slot frees, or when the rate's window
            # lets the next job start (the clock's business, not a wake-up's).
            await self._waiters.wait(min(remaining, blocked))

    def _claim_now(
        self, limit: int, lease: float, worker_id: str, queues: Sequence[str]
    ) -> tuple[list[Attempt], float | None]:
        """The claim, and whether a limit held a queue back: ``None`` if not, else the
        seconds until its rate lets a job start (``inf``: until a slot frees)."""
        now = self._clock()
        attempts: list[Attempt] = []
        blocked: float | None = None
        with self._lock:
            if self._paused:
                return attempts, None
            for queue in queues:
                if queue in self._paused_queues:
                    continue
                if queue in self._limits:
                    held = self._claim_limited(queue, limit, lease, worker_id, now, attempts)
                    if held is not None:
                        blocked = held if blocked is None else min(blocked, held)
                    continue
                while len(attempts) < limit and (job := self._ready.pop(queue, self._jobs)):
                    attempts.append(self._lease(job, lease, worker_id, now))
        return attempts, blocked

    def _claim_limited(
        self,
        queue: str,
        limit: int,
        lease: float,
        worker_id: str,
        now: float,
        attempts: list[Attempt],
    ) -> float | None:
        """Claim ``queue``'s jobs its limit admits into ``attempts`` (under the lock).
        ``None`` if the limit held no ready job back, else the seconds until its rate
        lets one more start (``inf``: until a slot frees)."""
        running = (self._jobs[job_id] for job_id in self._running.values())
        gate = self._limits.gate(queue, running, now)
        if gate is None:
            return None
        skipped: list[MemoryJob] = []
        held = False
        while len(attempts) < limit and (job := self._ready.pop(queue, self._jobs)):
            if not gate.admit(job.limit_key):
                skipped.append(job)  # its bucket is full: it keeps its place
                held = True
                if gate.closed:
                    break
                continue
            self._limits.started(queue, job.limit_key, now)
            attempts.append(self._lease(job, lease, worker_id, now))
        for job in skipped:
            self._ready.push(job)
        if not held:
            return None
        next_start = gate.next_start()
        return math.inf if next_start is None else next_start

    def _lease(self, job: MemoryJob, lease: float, worker_id: str, now: float) -> Attempt:
        if job.token is not None:
            self._running.pop(job.token, None)
        token = f"{self._token_prefix}{next(self._token_count)}"
        job.state = JobState.RUNNING
        job.token = token
        job.lease_until = now + lease
        job.worker_id = worker_id
        job.updated_at = now
        job.started_at = now
        job.progress = None
        self._running[token] = job.job_id
        attempt = claimed_attempt(job.job_id, token, job.raw, job.queue)
        if job.cancel_requested:
            attempt = replace(attempt, cancel_requested=True)
        return attempt

    async def complete(self, attempts: Sequence[Attempt | Completion]) -> int:
        done = 0
        with self._lock:
            for item in attempts:
                completion = item if isinstance(item, Completion) else Completion(item)
                job = self._held(completion.attempt)
                if job is None:
                    continue
                self._leave_running(job)
                job.result = completion.result
                self._finish(job, JobState.COMPLETED, completion.keep)
                self._processed[job.queue] += 1
                done += 1
        if done:
            self._finished.wake_all()
        return done

    async def retry(self, attempt: Attempt, *, raw: str, delay: float, error: str | None) -> bool:
        with self._lock:
            requested = (held := self._held(attempt)) is not None and held.cancel_requested
            job = self._failed_attempt(attempt, raw, JobState.RETRY)
            if job is not None and requested:
                # A failed attempt (counted) of a job whose cancel was requested: it must
                # not run again, so it ends cancelled, kept as the cancel asked.
                self._finish(job, JobState.CANCELLED, job.cancel_keep)
            elif job is not None:
                job.due_at = self._clock() + delay
        if requested:
            self._finished.wake_all()
        return job is not None

    async def bury(self, attempt: Attempt, *, raw: str, error: str | None) -> bool:
        with self._lock:
            job = self._failed_attempt(attempt, raw, JobState.DEAD)
            if job is not None:
                job.seq = next(self._dead_seq)
                job.updated_at = self._clock()
        if job is not None:
            self._finished.wake_all()
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
        job.cancel_requested = False
        self._failed[job.queue] += 1
        return job

    async def release(self, attempts: Sequence[Attempt]) -> int:
        released = cancelled = 0
        with self._lock:
            # Release in reverse so that the first-claimed job ends up first in line.
            for attempt in reversed(attempts):
                job = self._held(attempt)
                if job is None:
                    continue
                self._leave_running(job)
                if job.cancel_requested:
                    # Its cancel was requested: it must not run again. It ends the way
                    # the request asked, as if its worker had finished it cancelled.
                    self._finish(job, JobState.CANCELLED, job.cancel_keep)
                    cancelled += 1
                else:
                    self._queue_front(job)
                released += 1
        if released > cancelled:
            self._waiters.wake_all()
        if cancelled:
            self._finished.wake_all()
        return released

    async def heartbeat(
        self, worker: WorkerInfo, *, attempts: Sequence[Attempt], lease: float
    ) -> HeartbeatReply:
        now = self._clock()
        lost: set[str] = set()
        cancelled: set[str] = set()
        with self._lock:
            for attempt in attempts:
                job = self._held(attempt)
                if job is None:
                    lost.add(attempt.token)
                    continue
                job.lease_until = now + lease
                if job.cancel_requested:
                    cancelled.add(attempt.token)
            previous = self._workers.get(worker.worker_id)
            stop = previous.stop_requested if previous else False
            self._workers[worker.worker_id] = replace(
                worker, last_seen=now, stop_requested=stop or worker.stop_requested
            )
        return HeartbeatReply(
            lost=frozenset(lost), stop_requested=stop, cancelled=frozenset(cancelled)
        )

    async def finish_cancelled(self, attempt: Attempt, *, keep: float, error: str | None) -> bool:
        with self._lock:
            job = self._held(attempt)
            if job is not None:
                self._leave_running(job)
                job.last_error = error
                self._finish(job, JobState.CANCELLED, keep)
        if job is not None:
            self._finished.wake_all()
        return job is not None

    async def set_progress(self, attempt: Attempt, progress: Progress) -> bool:
        with self._lock:
            job = self._held(attempt)
            if job is not None:
                job.progress = replace(progress, updated_at=self._clock())
        return job is not None

    async def wait_cancel_request(self, *, timeout: float) -> bool:
        return await self._cancel_requests.wait(timeout)

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
                    if (job.lease_until or 0.0) <= now
                    or (
                        # a claim is a sign of life too; and the reaper's worker is alive
                        job.worker_id in silent
                        and job.worker_id != worker_id
                        and (job.started_at or 0.0) < now - (silent_after or 0.0)
                    )
                ),
                key=lambda job: job.lease_until or 0.0,
            )[:limit]
            attempts = [self._lease(job, lease, worker_id, now) for job in expired]
            forget_before = now - WORKER_FORGET_AFTER_LEASES * lease
            for stale in [w for w in self._workers.values() if w.last_seen < forget_before]:
                del self._workers[stale.worker_id]
        return attempts
