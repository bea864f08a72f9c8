"""What ``Client`` does to a namespace beyond producing and reading: limits, workers,
periodic entries, requeues, cancels, deletes, pauses (``Client`` inherits it).

Admin operations that rewrite a job (requeueing a dead job resets its
``retry_count``) do the read-modify-write here, above every backend
(``wg_core.requeueing``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from wg_core.backend import (
    Backend,
    CancelOutcome,
    JobState,
    WorkerInfo,
)
from wg_core.envelope import Envelope, EnvelopeError
from wg_core.errors import ConfigError
from wg_core.limits import QueueLimit, make_limit
from wg_core.new_jobs import JobBuilder
from wg_core.options import (
    Duration,
)
from wg_core.periodic import run_registered
from wg_core.periodic_records import PeriodicInfo
from wg_core.requeueing import REQUEUEABLE, RUNNABLE_NOW, requeue_ids, requeue_matching

__all__ = ["Administration"]


class Administration:
    """The admin half of ``Client`` (see ``wg_core.client``)."""

    # Set by Client.__init__.
    _jobs: JobBuilder
    _clock: Callable[[], float]
    _keep_finished: float

    async def _ready(self) -> Backend:
        raise NotImplementedError  # Client's: the opened, checked backend

    # -- limits (issue 20: wg_core.limits) ------------------------------------------------

    async def set_limit(
        self,
        queue: str,
        *,
        concurrency: int | None = None,
        rate: int | None = None,
        per: Duration | None = None,
        per_key: bool = False,
    ) -> QueueLimit:
        """Limit ``queue`` across every pool of the namespace: at most ``concurrency``
        jobs running at once, at most ``rate`` started per ``per`` (seconds or a
        ``timedelta``; 1 s by default) in any window; with ``per_key``, for each
        ``limit_key`` separately. Replaces the queue's limit; ``ValueError`` for a
        count or window ≤ 0. The queue need not exist yet."""
        limit = make_limit(queue, concurrency=concurrency, rate=rate, per=per, per_key=per_key)
        await (await self._ready()).set_limit(limit)
        return limit

    async def limits(self) -> list[QueueLimit]:
        """Every queue limit, with how much of it is in use now."""
        return await (await self._ready()).limits()

    async def clear_limit(self, queue: str) -> bool:
        """Remove ``queue``'s limit; whether it had one."""
        return await (await self._ready()).clear_limit(queue)

    async def workers(self) -> list[WorkerInfo]:
        """Registered worker pools with their last heartbeat."""
        return await (await self._ready()).list_workers()

    async def is_paused(self, *, queue: str | None = None) -> bool:
        """Whether workers of this namespace are told not to claim (``queue``: whether
        that queue is paused on its own, whatever the namespace's flag)."""
        return await (await self._ready()).is_paused(queue=queue)

    async def periodic_entries(self) -> list[PeriodicInfo]:
        """The periodic entries pools registered in this namespace, by name."""
        return await (await self._ready()).periodic_entries()

    # -- administering -------------------------------------------------------------------

    async def run_periodic(self, name: str) -> str:
        """Enqueue one run of the registered periodic entry ``name`` now, as its pools
        would (the job the registry keeps); recorded as its last run, its schedule
        untouched. Returns the job id; ``JobNotFoundError`` if no such entry."""
        return await run_registered(await self._ready(), self._jobs, name, now=self._clock())

    async def retry_jobs(self, job_ids: Sequence[str]) -> int:
        """Put dead, retry, scheduled, completed or cancelled jobs back in the queue
        now (a finished job runs again); returns how many.

        Dead, completed and cancelled jobs start over (``retry_count`` reset to 0;
        ``last_error`` is kept for the record). Ids not found or currently running are
        skipped.
        """
        return await requeue_ids(await self._ready(), job_ids, REQUEUEABLE)

    async def retry_all(
        self,
        state: JobState | str = JobState.DEAD,
        *,
        queue: str | None = None,
        job_name: str | None = None,
        error_contains: str | None = None,
    ) -> int:
        """Requeue every job in ``state`` (dead by default) matching the filters
        (``queue``: only that queue's jobs). Each job goes back to its own queue, at its
        own priority."""
        source = JobState(state)
        if source not in REQUEUEABLE:
            raise ConfigError(f"only {', '.join(REQUEUEABLE)} jobs can be requeued")
        return await requeue_matching(
            await self._ready(),
            source,
            queue=queue,
            job_name=job_name,
            error_contains=error_contains,
        )

    async def run_now(self, job_ids: Sequence[str]) -> int:
        """Move scheduled or retry jobs to the queue now (``retry_count`` kept)."""
        return await requeue_ids(await self._ready(), job_ids, RUNNABLE_NOW)

    async def cancel(self, job_id: str) -> bool:
        """Cancel one job. A queued, scheduled, retrying or dead job becomes
        ``cancelled`` at once and never runs; a running one is stopped by its worker
        (its async handler cancelled, or ``JobContext.cancelled`` set for a sync one)
        within about two seconds and ends ``cancelled``, not retried — unless it
        completes first. True if it was cancelled or its cancel requested; False for
        a job already completed or cancelled, or no such job. The cancelled job is
        kept for its ``JobOptions.keep_finished``, else this client's
        ``keep_finished``."""
        return await self._cancel(await self._ready(), job_id)

    async def cancel_jobs(self, job_ids: Iterable[str]) -> int:
        """``cancel`` each job; returns how many were cancelled or had their cancel
        requested."""
        backend = await self._ready()
        cancelled = 0
        for job_id in dict.fromkeys(job_ids):
            cancelled += await self._cancel(backend, job_id)
        return cancelled

    async def _cancel(self, backend: Backend, job_id: str) -> bool:
        stored = await backend.get_job(job_id)
        if stored is None:
            return False
        outcome = await backend.cancel(job_id, keep=self._keep_for(stored.raw))
        return outcome is not CancelOutcome.NOT_CANCELLABLE

    def _keep_for(self, raw: str) -> float:
        """How long a cancelled job is kept: its own ``keep_finished``, else ours."""
        try:
            keep = Envelope.decode(raw).keep_finished
        except EnvelopeError:
            keep = None
        return self._keep_finished if keep is None else keep

    async def delete_jobs(self, job_ids: Sequence[str]) -> int:
        """Delete jobs by id (not running ones); returns how many."""
        return await (await self._ready()).delete_jobs(list(dict.fromkeys(job_ids)))

    async def purge(self, state: JobState | str, *, queue: str | None = None) -> int:
        """Delete every job in ``state`` (queued, scheduled, retry or dead), of every
        queue or of one ``queue``; returns how many."""
        return await (await self._ready()).purge(JobState(state), queue=queue)

    async def pause(self, *, queue: str | None = None) -> None:
        """Tell every worker of the namespace to stop claiming (running jobs finish);
        with ``queue``, to stop claiming that queue's jobs only (pools go on with
        their other queues). The two flags are independent."""
        await (await self._ready()).set_paused(True, queue=queue)

    async def resume(self, *, queue: str | None = None) -> None:
        """Let workers claim again (the namespace, or one ``queue``: resuming a queue
        does not resume a paused namespace)."""
        await (await self._ready()).set_paused(False, queue=queue)

    async def stop_worker(self, worker_id: str) -> bool:
        """Ask one worker pool to drain and exit (at its next heartbeat)."""
        return await (await self._ready()).request_worker_stop(worker_id)
