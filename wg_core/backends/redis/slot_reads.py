"""The namespace-wide verbs of ``RedisQueueSlots`` (slots.py): look-ups by id (each
queue's slot asked in turn), reads merged from every slot, pause and limits, and the
namespace slot's workers (its periodic entries: slot_ticks.py).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from wg_core.backend import (
    CancelOutcome,
    Counters,
    JobQuery,
    JobState,
    Move,
    QueueInfo,
    QueueLimit,
    StateCounts,
    StoredJob,
    WorkerInfo,
)
from wg_core.backends.redis.backend import RedisBackend
from wg_core.queues import DEFAULT_QUEUE

__all__ = ["SlotReads"]

T = TypeVar("T")


def _enqueued_at(raw: str) -> float:
    try:
        value = json.loads(raw).get("created_at")
    except (ValueError, AttributeError):
        return 0.0
    return float(value) if isinstance(value, int | float) else 0.0


def _listing_key(job: StoredJob) -> float:
    """Where a job of one slot's page falls in the namespace's order (JobQuery)."""
    if job.state is JobState.QUEUED:
        return _enqueued_at(job.raw)
    if job.state in (JobState.SCHEDULED, JobState.RETRY):
        return job.due_at or 0.0
    if job.state is JobState.RUNNING:
        return job.started_at or job.updated_at or 0.0
    if job.state is JobState.DEAD:
        return job.updated_at or 0.0
    return job.finished_at or job.updated_at or 0.0


def _sum_counts(parts: Sequence[StateCounts]) -> StateCounts:
    oldest = [part.oldest_queued_at for part in parts if part.oldest_queued_at is not None]
    return StateCounts(
        queued=sum(part.queued for part in parts),
        scheduled=sum(part.scheduled for part in parts),
        retry=sum(part.retry for part in parts),
        running=sum(part.running for part in parts),
        dead=sum(part.dead for part in parts),
        oldest_queued_at=min(oldest) if oldest else None,
        completed=sum(part.completed for part in parts),
        cancelled=sum(part.cancelled for part in parts),
    )


class SlotReads:
    """The namespace-wide verbs of ``RedisQueueSlots`` (a mixin: it needs the slots)."""

    _home: RedisBackend
    _per_queue: bool

    async def _slot(self, queue: str) -> RedisBackend | None:
        raise NotImplementedError  # RedisQueueSlots'

    async def _writer(self, queue: str) -> RedisBackend:
        raise NotImplementedError  # RedisQueueSlots'

    async def _every(self) -> list[tuple[str, RedisBackend]]:
        raise NotImplementedError  # RedisQueueSlots'

    # -- look-ups by id -------------------------------------------------------------------

    async def _holder(self, job_id: str) -> tuple[RedisBackend, StoredJob] | None:
        """The slot holding job ``job_id``, and the job (asks each queue in turn)."""
        for _, backend in await self._every():
            job = await backend.get_job(job_id)
            if job is not None:
                return backend, job
        return None

    async def get_job(self, job_id: str) -> StoredJob | None:
        found = await self._holder(job_id)
        return None if found is None else found[1]

    async def cancel(self, job_id: str, *, keep: float) -> CancelOutcome:
        found = await self._holder(job_id)
        if found is None:
            return CancelOutcome.NOT_CANCELLABLE
        return await found[0].cancel(job_id, keep=keep)

    async def wait_finished(self, job_id: str, *, timeout: float) -> StoredJob | None:
        found = await self._holder(job_id)
        if found is None:
            return None
        return await found[0].wait_finished(job_id, timeout=timeout)

    async def move_to_queue(self, moves: Sequence[Move]) -> int:
        moved = 0
        for move in moves:  # a job keeps its queue: each move in the slot holding it
            found = await self._holder(move.job_id)
            if found is not None:
                moved += await found[0].move_to_queue([move])
        return moved

    async def delete_jobs(self, job_ids: Sequence[str]) -> int:
        deleted = 0
        for _, backend in await self._every():
            deleted += await backend.delete_jobs(job_ids)
        return deleted

    # -- namespace-wide reads -------------------------------------------------------------

    async def _each(
        self, queue: str | None, call: Callable[[str, RedisBackend], Awaitable[T]]
    ) -> list[T]:
        """``call`` on ``queue``'s slot (none: every slot), with each slot's queue."""
        if queue is not None:
            backend = await self._slot(queue)
            return [] if backend is None else [await call(queue, backend)]
        return [await call(name, backend) for name, backend in await self._every()]

    async def counts(self, *, queue: str | None = None) -> StateCounts:
        if not self._per_queue:
            return await self._home.counts(queue=queue)
        return _sum_counts(
            await self._each(queue, lambda name, backend: backend.counts(queue=name))
        )

    async def counters(self, *, queue: str | None = None) -> Counters:
        if not self._per_queue:
            return await self._home.counters(queue=queue)
        parts = await self._each(queue, lambda name, backend: backend.counters(queue=name))
        return Counters(
            processed=sum(part.processed for part in parts),
            failed=sum(part.failed for part in parts),
        )

    async def queues(self) -> list[QueueInfo]:
        if not self._per_queue:
            return await self._home.queues()
        found: list[QueueInfo] = []
        for name, backend in await self._every():
            found += [info for info in await backend.queues() if info.name == name]
        return sorted(found, key=lambda info: info.name)

    async def list_jobs(self, query: JobQuery) -> list[StoredJob]:
        if not self._per_queue or query.queue is not None:
            backend = await self._slot(query.queue or DEFAULT_QUEUE)
            return [] if backend is None else await backend.list_jobs(query)
        # Each slot's first offset + limit jobs, merged in the listing's order.
        wide = JobQuery(
            state=query.state,
            limit=query.offset + query.limit,
            newest_first=query.newest_first,
            job_name=query.job_name,
            error_contains=query.error_contains,
            text_contains=query.text_contains,
        )
        pages = await self._each(None, lambda name, backend: backend.list_jobs(wide))
        jobs = [job for page in pages for job in page]
        jobs.sort(key=_listing_key, reverse=query.newest_first)
        return jobs[query.offset : query.offset + query.limit]

    async def purge(self, state: JobState, *, queue: str | None = None) -> int:
        if not self._per_queue:
            return await self._home.purge(state, queue=queue)
        return sum(await self._each(queue, lambda name, backend: backend.purge(state, queue=name)))

    async def prune(self, *, limit: int) -> int:
        pruned = 0
        for _, backend in await self._every():
            if pruned >= limit:
                break
            pruned += await backend.prune(limit=limit - pruned)
        return pruned

    # -- pause and limits -----------------------------------------------------------------

    async def set_paused(self, paused: bool, *, queue: str | None = None) -> None:
        if queue is not None:
            await (await self._writer(queue)).set_paused(paused, queue=queue)
            return
        # The namespace slot first, then each registered queue's (see _open_slot).
        await self._home.set_paused(paused)
        for name, backend in await self._every():
            if name != DEFAULT_QUEUE:
                await backend.set_paused(paused)

    async def is_paused(self, *, queue: str | None = None) -> bool:
        if queue is None:
            return await self._home.is_paused()
        backend = await self._slot(queue)
        return False if backend is None else await backend.is_paused(queue=queue)

    async def set_limit(self, limit: QueueLimit) -> None:
        await (await self._writer(limit.queue)).set_limit(limit)

    async def clear_limit(self, queue: str) -> bool:
        backend = await self._slot(queue)
        return False if backend is None else await backend.clear_limit(queue)

    async def limits(self) -> list[QueueLimit]:
        found: list[QueueLimit] = []
        for name, backend in await self._every():
            found += [limit for limit in await backend.limits() if limit.queue == name]
        return sorted(found, key=lambda limit: limit.queue)

    # -- workers (the namespace slot's) ---------------------------------------------------

    async def list_workers(self) -> list[WorkerInfo]:
        return await self._home.list_workers()

    async def request_worker_stop(self, worker_id: str) -> bool:
        return await self._home.request_worker_stop(worker_id)
