"""``CheckedBackend``: the one layer between wg's front (``Client``, ``WorkerPool``) and
every backend.

It validates each verb's arguments once, so no backend repeats the guards (a purge of
RUNNING jobs, promoting a state that is never due, a lease that is not a positive
number…), and short-cuts calls that cannot change anything (acknowledging no attempts).
It is also where hooks and metrics attach: one place sees every storage call.

Validation raises ``ValueError`` (``ConfigError`` for settings): a wrong argument is
the caller's bug, never the storage's failure, so it is not a ``BackendError``.
Everything else passes through untouched: values, exceptions, cancellation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from wg_core.backend import (
    FINISHED_STATES,
    Attempt,
    Backend,
    CancelOutcome,
    Completion,
    Counters,
    HeartbeatReply,
    ImportedJob,
    JobQuery,
    JobState,
    Move,
    NewJob,
    PeriodicEntry,
    PeriodicInfo,
    Progress,
    QueueInfo,
    QueueLimit,
    StateCounts,
    StoredJob,
    WorkerInfo,
)
from wg_core.limits import validate_limit, validate_limit_key
from wg_core.queues import DEFAULT_QUEUE, validate_priority, validate_queue, validate_queues
from wg_core.unique import validate_unique_key

__all__ = ["CheckedBackend", "checked"]

_DUE_STATES = (JobState.SCHEDULED, JobState.RETRY)


def checked(backend: Backend) -> CheckedBackend:
    """``backend`` behind the checked-dispatch layer (once: a checked one is returned
    as it is)."""
    return backend if isinstance(backend, CheckedBackend) else CheckedBackend(backend)


def _seconds(name: str, value: float, *, positive: bool) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
        raise ValueError(f"{name} must be a number of seconds, not {value!r}")
    if math.isinf(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be finite and {bound}, not {value!r}")


def _instant(name: str, value: float | None, *, required: bool) -> None:
    """A point in time (Unix seconds): a finite number, or ``None`` where allowed."""
    if value is None:
        if required:
            raise ValueError(f"{name} is required for this state")
        return
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of Unix seconds, not {value!r}")


def _check_imported(jobs: Sequence[ImportedJob]) -> None:
    """Guards of ``import_jobs``: every job complete for its state, ids distinct."""
    seen: set[str] = set()
    for job in jobs:
        if not job.job_id:
            raise ValueError("a job to import needs a job id")
        if job.job_id in seen:
            raise ValueError(f"job id {job.job_id!r} appears twice in one import batch")
        seen.add(job.job_id)
        state = JobState(job.state)
        if state is JobState.RUNNING:
            raise ValueError("running jobs cannot be imported; stop their workers first")
        validate_queue(job.queue)
        validate_priority(job.priority)
        _instant("due_at", job.due_at, required=state in _DUE_STATES)
        finished = state in FINISHED_STATES
        _instant("updated_at", job.updated_at, required=False)
        _instant("started_at", job.started_at, required=False)
        _instant("finished_at", job.finished_at, required=finished)
        _instant("expires_at", job.expires_at, required=finished)
        if job.unique_key is not None:
            validate_unique_key(job.unique_key)
        validate_limit_key(job.limit_key)


def _count(name: str, value: int, *, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, not {value!r}")


def _periodic_entry(entry: PeriodicEntry) -> None:
    if not entry.name:
        raise ValueError("a periodic entry needs a name")
    validate_queue(entry.queue)
    validate_priority(entry.priority)


def _time(name: str, value: float) -> None:
    """A point in time (Unix seconds): a finite number."""
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or math.isnan(value)
        or math.isinf(value)
    ):
        raise ValueError(f"{name} must be a finite number of Unix seconds, not {value!r}")


MAX_PROGRESS_MESSAGE = 1000
"""Characters a progress message may have (the worker cuts longer ones)."""


def _unique(job: NewJob) -> None:
    """A job's unique key (1 to ``MAX_UNIQUE_KEY_LENGTH`` characters) and hold."""
    if job.unique_key is None:
        raise ValueError("unique_for needs a unique_key")
    validate_unique_key(job.unique_key)
    _seconds("unique_for", job.unique_for, positive=False)


def _queue(queue: str | None) -> str | None:
    """A queue filter: ``None`` (every queue) or a valid name."""
    return None if queue is None else validate_queue(queue)


class CheckedBackend:
    """A ``Backend`` that validates arguments, then delegates to ``inner``."""

    __slots__ = ("_inner",)

    def __init__(self, inner: Backend) -> None:
        self._inner = inner

    @property
    def inner(self) -> Backend:
        """The backend behind this layer."""
        return self._inner

    def __repr__(self) -> str:
        return repr(self._inner)

    # -- properties and lifecycle --------------------------------------------------------

    @property
    def namespace(self) -> str:
        """The validated namespace the backend stores under."""
        return self._inner.namespace

    @property
    def display_url(self) -> str:
        """Where the backend stores, credentials redacted."""
        return self._inner.display_url

    @property
    def supports_transactional_enqueue(self) -> bool:
        """Whether ``enqueue(..., connection=...)`` is supported."""
        return self._inner.supports_transactional_enqueue

    async def open(self, *, create: bool = True) -> None:
        """Connect (and create the storage unless ``create=False``)."""
        await self._inner.open(create=create)

    def clone(self) -> CheckedBackend:
        """A checked clone of the backend (see ``Backend.clone``)."""
        return CheckedBackend(self._inner.clone())

    async def close(self) -> None:
        """Release connections."""
        await self._inner.close()

    async def destroy(self) -> None:
        """Delete everything under the namespace."""
        await self._inner.destroy()

    # -- producing -----------------------------------------------------------------------

    async def enqueue(
        self, jobs: Sequence[NewJob], *, connection: object | None = None
    ) -> list[str]:
        """Store ``jobs`` atomically (nothing to do for an empty batch); per job, its
        id or the id of the job holding its unique key."""
        if not jobs:
            return []
        for job in jobs:
            if not job.job_id:
                raise ValueError("a job to store needs a job id")
            _seconds("delay", job.delay, positive=False)
            validate_queue(job.queue)
            validate_priority(job.priority)
            if job.unique_key is not None or job.unique_for:
                _unique(job)
            validate_limit_key(job.limit_key)
        if connection is not None and not self._inner.supports_transactional_enqueue:
            raise TypeError(f"{type(self._inner).__name__} cannot enqueue through a connection")
        return await self._inner.enqueue(jobs, connection=connection)

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
        """Lease up to ``limit`` queued jobs of ``queues``, in their order."""
        _count("limit", limit, minimum=1)
        _seconds("lease", lease, positive=True)
        _seconds("wait", wait, positive=False)
        return await self._inner.claim(
            limit=limit, lease=lease, worker_id=worker_id, wait=wait, queues=validate_queues(queues)
        )

    async def complete(self, attempts: Sequence[Attempt | Completion]) -> int:
        """Acknowledge finished attempts (with their results)."""
        for item in attempts:
            if isinstance(item, Completion):
                _seconds("keep", item.keep, positive=False)
        return await self._inner.complete(attempts) if attempts else 0

    async def retry(self, attempt: Attempt, *, raw: str, delay: float, error: str | None) -> bool:
        """RUNNING → RETRY in ``delay`` seconds."""
        _seconds("delay", delay, positive=False)
        return await self._inner.retry(attempt, raw=raw, delay=delay, error=error)

    async def bury(self, attempt: Attempt, *, raw: str, error: str | None) -> bool:
        """RUNNING → DEAD."""
        return await self._inner.bury(attempt, raw=raw, error=error)

    async def release(self, attempts: Sequence[Attempt]) -> int:
        """RUNNING → QUEUED at the front, no attempt used."""
        return await self._inner.release(attempts) if attempts else 0

    async def heartbeat(
        self, worker: WorkerInfo, *, attempts: Sequence[Attempt], lease: float
    ) -> HeartbeatReply:
        """Register the worker and renew leases."""
        _seconds("lease", lease, positive=True)
        return await self._inner.heartbeat(worker, attempts=attempts, lease=lease)

    async def finish_cancelled(self, attempt: Attempt, *, keep: float, error: str | None) -> bool:
        """RUNNING → CANCELLED for an attempt whose cancel was requested."""
        _seconds("keep", keep, positive=False)
        return await self._inner.finish_cancelled(attempt, keep=keep, error=error)

    async def set_progress(self, attempt: Attempt, progress: Progress) -> bool:
        """Record a held attempt's progress."""
        fraction = progress.fraction
        if (
            not isinstance(fraction, int | float)
            or isinstance(fraction, bool)
            or not 0.0 <= fraction <= 1.0
        ):
            raise ValueError(f"progress must be a number from 0 to 1, not {fraction!r}")
        if progress.message is not None and len(progress.message) > MAX_PROGRESS_MESSAGE:
            raise ValueError(f"a progress message is at most {MAX_PROGRESS_MESSAGE} characters")
        return await self._inner.set_progress(attempt, progress)

    async def wait_cancel_request(self, *, timeout: float) -> bool:
        """Wait for a cancel request of a running job."""
        _seconds("timeout", timeout, positive=False)
        return await self._inner.wait_cancel_request(timeout=timeout)

    async def unregister_worker(self, worker_id: str) -> None:
        """Remove a worker from the registry."""
        await self._inner.unregister_worker(worker_id)

    async def promote(self, state: JobState, *, limit: int) -> int:
        """Move due SCHEDULED or RETRY jobs to QUEUED."""
        if state not in _DUE_STATES:
            raise ValueError(f"only scheduled and retry jobs are promoted, not {state}")
        _count("limit", limit, minimum=1)
        return await self._inner.promote(state, limit=limit)

    async def reclaim_expired(
        self, *, limit: int, lease: float, worker_id: str, silent_after: float | None = None
    ) -> list[Attempt]:
        """Take over expired leases (and those of silent workers)."""
        _count("limit", limit, minimum=1)
        _seconds("lease", lease, positive=True)
        if silent_after is not None:
            _seconds("silent_after", silent_after, positive=True)
        return await self._inner.reclaim_expired(
            limit=limit, lease=lease, worker_id=worker_id, silent_after=silent_after
        )

    # -- admin ---------------------------------------------------------------------------

    async def layout_version(self) -> int:
        """The namespace's recorded storage layout version."""
        return await self._inner.layout_version()

    async def cancel(self, job_id: str, *, keep: float) -> CancelOutcome:
        """Cancel one job (see ``Backend.cancel``)."""
        _seconds("keep", keep, positive=False)
        if not job_id:
            return CancelOutcome.NOT_CANCELLABLE
        return await self._inner.cancel(job_id, keep=keep)

    async def wait_finished(self, job_id: str, *, timeout: float) -> StoredJob | None:
        """The job once finished (or as it is at the timeout)."""
        _seconds("timeout", timeout, positive=False)
        return await self._inner.wait_finished(job_id, timeout=timeout) if job_id else None

    async def prune(self, *, limit: int) -> int:
        """Delete expired completed/cancelled jobs."""
        _count("limit", limit, minimum=1)
        return await self._inner.prune(limit=limit)

    async def counts(self, *, queue: str | None = None) -> StateCounts:
        """Jobs per state (of one queue)."""
        return await self._inner.counts(queue=_queue(queue))

    async def counters(self, *, queue: str | None = None) -> Counters:
        """Processed/failed totals (of one queue)."""
        return await self._inner.counters(queue=_queue(queue))

    async def recount(self) -> bool:
        """Recount the kept state counts."""
        return await self._inner.recount()

    async def queues(self) -> list[QueueInfo]:
        """The namespace's queues."""
        return await self._inner.queues()

    async def list_jobs(self, query: JobQuery) -> list[StoredJob]:
        """A page of one state."""
        _count("limit", query.limit, minimum=0)
        _count("offset", query.offset, minimum=0)
        if query.limit == 0:
            return []
        # An empty filter matches everything: pass no filter, not an empty pattern.
        return await self._inner.list_jobs(
            replace(
                query,
                state=JobState(query.state),
                queue=_queue(query.queue),
                error_contains=query.error_contains or None,
                text_contains=query.text_contains or None,
            )
        )

    async def get_job(self, job_id: str) -> StoredJob | None:
        """The job with that id, or ``None``."""
        return await self._inner.get_job(job_id) if job_id else None

    async def import_jobs(self, jobs: Sequence[ImportedJob]) -> int:
        """Store jobs copied from another namespace (ids already here are skipped)."""
        _check_imported(jobs)
        return await self._inner.import_jobs(jobs) if jobs else 0

    async def move_to_queue(self, moves: Sequence[Move]) -> int:
        """Apply admin moves to QUEUED."""
        if any(move.from_state is JobState.RUNNING for move in moves):
            raise ValueError("running jobs cannot be moved; stop their workers first")
        return await self._inner.move_to_queue(moves) if moves else 0

    async def delete_jobs(self, job_ids: Sequence[str]) -> int:
        """Delete jobs by id (not RUNNING)."""
        return await self._inner.delete_jobs(job_ids) if job_ids else 0

    async def purge(self, state: JobState, *, queue: str | None = None) -> int:
        """Delete every job in ``state`` (not RUNNING), of one queue or all."""
        if JobState(state) is JobState.RUNNING:
            raise ValueError("running jobs cannot be purged; stop their workers first")
        return await self._inner.purge(JobState(state), queue=_queue(queue))

    async def set_paused(self, paused: bool, *, queue: str | None = None) -> None:
        """Pause or resume the namespace, or one queue."""
        await self._inner.set_paused(bool(paused), queue=_queue(queue))

    async def is_paused(self, *, queue: str | None = None) -> bool:
        """Whether the namespace (or one queue) is paused."""
        return await self._inner.is_paused(queue=_queue(queue))

    async def list_workers(self) -> list[WorkerInfo]:
        """Registered workers."""
        return await self._inner.list_workers()

    async def request_worker_stop(self, worker_id: str) -> bool:
        """Ask a worker to drain and stop."""
        return await self._inner.request_worker_stop(worker_id)

    # -- periodic entries ----------------------------------------------------------------

    async def register_periodic(self, entries: Sequence[PeriodicEntry], *, now: float) -> None:
        """Make the registry hold exactly ``entries`` (names must differ)."""
        names = [entry.name for entry in entries]
        if len(set(names)) != len(names):
            raise ValueError("two periodic entries share a name")
        for entry in entries:
            _periodic_entry(entry)
        _time("now", now)
        await self._inner.register_periodic(entries, now=now)

    async def fire_periodic(
        self,
        name: str,
        *,
        tick: float | None,
        job: NewJob,
        now: float,
        next_run: float | None,
        entry: PeriodicEntry | None = None,
    ) -> bool:
        """Claim one tick of an entry and store its job, atomically (re-creating the
        entry from ``entry`` when it is missing)."""
        if not name:
            raise ValueError("fire_periodic needs an entry name")
        if not job.job_id:
            raise ValueError("a job to store needs a job id")
        validate_queue(job.queue)
        validate_priority(job.priority)
        for label, value in (("tick", tick), ("now", now), ("next_run", next_run)):
            if value is not None:
                _time(label, value)
        if entry is not None:
            _periodic_entry(entry)
            if entry.name != name:
                raise ValueError(f"fire_periodic of {name!r} got the definition of {entry.name!r}")
            if tick is None:
                raise ValueError("a run by hand (tick=None) re-creates no entry: pass no entry")
        return await self._inner.fire_periodic(
            name, tick=tick, job=job, now=now, next_run=next_run, entry=entry
        )

    async def periodic_entries(self) -> list[PeriodicInfo]:
        """The registered periodic entries, by name."""
        return await self._inner.periodic_entries()

    async def set_limit(self, limit: QueueLimit) -> None:
        """Store a queue's limit (validated: ``wg_core.limits.validate_limit``)."""
        await self._inner.set_limit(validate_limit(limit))

    async def clear_limit(self, queue: str) -> bool:
        """Remove a queue's limit."""
        return await self._inner.clear_limit(validate_queue(queue))

    async def limits(self) -> list[QueueLimit]:
        """Every queue limit with its use."""
        return await self._inner.limits()
