"""The memory backend's jobs: one stored job, the ready heaps of every queue, and the
tallies that read them (``MemoryBackend``'s data, apart from its verbs)."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from wg_core.backend import FINISHED_STATES, JobState, NewJob, Progress, StateCounts, StoredJob
from wg_core.queues import DEFAULT_QUEUE

__all__ = [
    "MemoryJob",
    "ReadyJobs",
    "UniqueHolds",
    "count_states",
    "expired",
    "of_queue",
    "stored_job",
]

_HOLDING_STATES = frozenset({JobState.QUEUED, JobState.SCHEDULED, JobState.RETRY, JobState.RUNNING})
"""The states in which a job holds its unique key (``wg_core.unique``)."""


@dataclass(slots=True)
class MemoryJob:
    """A job as the memory backend keeps it, in any state."""

    job_id: str
    job_name: str
    raw: str
    state: JobState
    seq: int  # position within its (queue, priority): lower runs first
    queue: str = DEFAULT_QUEUE
    priority: int = 0
    due_at: float | None = None
    token: str | None = None
    lease_until: float | None = None
    worker_id: str | None = None
    updated_at: float = 0.0
    started_at: float | None = None  # when its last attempt was leased
    progress: Progress | None = None
    cancel_requested: bool = False
    cancel_keep: float = 0.0  # the keep the cancel request asked for
    result: str | None = None
    finished_at: float | None = None
    expires_at: float | None = None
    last_error: str | None = None
    limit_key: str | None = None  # issue 20: the key a per-key limit counts it under

    def forget_run(self) -> None:
        """Drop what the job's last run left (before it runs again)."""
        self.progress = None
        self.cancel_requested = False
        self.cancel_keep = 0.0
        self.result = None
        self.finished_at = None
        self.expires_at = None
        self.last_error = None


class ReadyJobs:
    """The QUEUED jobs of every queue: one heap of (-priority, seq, job_id) per queue.

    Entries are never removed from the middle: a job that left QUEUED (claimed,
    deleted, purged) or came back under a new sequence number leaves a stale entry,
    which ``pop`` skips by comparing it with the job itself.
    """

    __slots__ = ("_heaps",)

    def __init__(self) -> None:
        self._heaps: dict[str, list[tuple[int, int, str]]] = {}

    def push(self, job: MemoryJob) -> None:
        """Make ``job`` (QUEUED, under its current ``seq``) ready in its queue."""
        heap = self._heaps.setdefault(job.queue, [])
        heapq.heappush(heap, (-job.priority, job.seq, job.job_id))

    def pop(self, queue: str, jobs: dict[str, MemoryJob]) -> MemoryJob | None:
        """The next ready job of ``queue``, taken off its heap, or ``None``."""
        heap = self._heaps.get(queue)
        while heap:
            _, seq, job_id = heapq.heappop(heap)
            job = jobs.get(job_id)
            if job is not None and job.state is JobState.QUEUED and job.seq == seq:
                return job
        return None

    def clear(self) -> None:
        """Forget every queue's ready jobs."""
        self._heaps.clear()


class UniqueHolds:
    """Unique keys' holds: key -> (the job that took it, held at least until).

    The model of every engine's ``{ns}_unique``: a hold is *taken* while its job is in
    a holding state or its time has not run out; otherwise the next enqueue of the key
    takes it over. A hold is never released by the transitions themselves: a job that
    leaves the holding states frees its key by that very move.
    """

    __slots__ = ("_holds",)

    def __init__(self) -> None:
        self._holds: dict[str, tuple[str, float]] = {}

    def resolve(self, new: Sequence[NewJob], jobs: dict[str, MemoryJob], now: float) -> list[str]:
        """Per new job, its own id if it may be stored, else the id of the job holding
        its key (an earlier job of the batch included: the first wins)."""
        ids: list[str] = []
        batch: dict[str, str] = {}
        for job in new:
            key = job.unique_key
            holder = None if key is None else batch.get(key) or self._holder(key, jobs, now)
            if key is not None and holder is None:
                batch[key] = job.job_id
            ids.append(job.job_id if holder is None else holder)
        return ids

    def _holder(self, key: str, jobs: dict[str, MemoryJob], now: float) -> str | None:
        held = self._holds.get(key)
        if held is None:
            return None
        job_id, until = held
        job = jobs.get(job_id)
        if until > now or (job is not None and job.state in _HOLDING_STATES):
            return job_id
        return None

    def take(self, job: NewJob, now: float) -> None:
        """``job`` (just stored, with a key nobody holds) holds its key."""
        if job.unique_key is not None:
            self._holds[job.unique_key] = (job.job_id, now + job.unique_for)

    def take_imported(self, key: str, job_id: str, jobs: dict[str, MemoryJob], now: float) -> bool:
        """An imported waiting job (``Backend.import_jobs``) takes ``key`` unless
        another job holds it (then that job keeps it); no timed hold. Whether taken."""
        holder = self._holder(key, jobs, now)
        if holder is not None and holder != job_id:
            return False
        self._holds[key] = (job_id, now)
        return True

    def forget_free(self, jobs: dict[str, MemoryJob], now: float) -> None:
        """Drop the holds nobody holds any more (the pruner's chore)."""
        free = [key for key in self._holds if self._holder(key, jobs, now) is None]
        for key in free:
            del self._holds[key]

    def clear(self) -> None:
        """Forget every hold."""
        self._holds.clear()


def of_queue(jobs: Iterable[MemoryJob], queue: str | None) -> Iterable[MemoryJob]:
    """``jobs`` of ``queue`` (all of them for ``None``)."""
    return jobs if queue is None else (job for job in jobs if job.queue == queue)


def count_states(jobs: Iterable[MemoryJob]) -> StateCounts:
    """How many of ``jobs`` are in each state, and the oldest queued one's time."""
    tally = dict.fromkeys(JobState, 0)
    oldest: float | None = None
    for job in jobs:
        tally[job.state] += 1
        if job.state is JobState.QUEUED and (oldest is None or job.updated_at < oldest):
            oldest = job.updated_at
    return StateCounts(
        queued=tally[JobState.QUEUED],
        scheduled=tally[JobState.SCHEDULED],
        retry=tally[JobState.RETRY],
        running=tally[JobState.RUNNING],
        dead=tally[JobState.DEAD],
        oldest_queued_at=oldest,
        completed=tally[JobState.COMPLETED],
        cancelled=tally[JobState.CANCELLED],
    )


def expired(jobs: Iterable[MemoryJob], now: float, limit: int) -> list[MemoryJob]:
    """Up to ``limit`` finished jobs of ``jobs`` whose keep ran out by ``now``, oldest
    expiry first."""
    due = [
        job
        for job in jobs
        if job.state in FINISHED_STATES and job.expires_at is not None and job.expires_at <= now
    ]
    due.sort(key=lambda job: (job.expires_at or 0.0, job.seq))
    return due[:limit]


def stored_job(job: MemoryJob) -> StoredJob:
    """The admin view of ``job``."""
    return StoredJob(
        job_id=job.job_id,
        state=job.state,
        raw=job.raw,
        due_at=job.due_at,
        lease_until=job.lease_until,
        worker_id=job.worker_id,
        updated_at=job.updated_at,
        queue=job.queue,
        priority=job.priority,
        result=job.result,
        started_at=job.started_at,
        finished_at=job.finished_at,
        expires_at=job.expires_at,
        progress=job.progress,
        cancel_requested=job.cancel_requested,
        last_error=job.last_error,
        limit_key=job.limit_key,
    )
