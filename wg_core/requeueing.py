"""The read-modify-write behind ``Client``'s requeue verbs (``retry_jobs``, ``retry_all``,
``run_now``): which jobs may move back to their queue, and the envelope each goes back
with (``Pending``, no ``scheduled_at``, and ``retry_count`` reset to 0 when it starts
over). The backend moves a job only if it is still in the state it was read in, so a job
that changed meanwhile is skipped, never moved twice."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

from wg_core.backend import Backend, JobQuery, JobState, Move
from wg_core.jobs import JobInfo

__all__ = ["REQUEUEABLE", "RUNNABLE_NOW", "requeue_ids", "requeue_matching", "requeue_move"]

REQUEUEABLE: Final = (
    JobState.DEAD,
    JobState.RETRY,
    JobState.SCHEDULED,
    JobState.COMPLETED,
    JobState.CANCELLED,
)
"""The states a job can be put back in its queue from."""
RUNNABLE_NOW: Final = (JobState.SCHEDULED, JobState.RETRY)
"""The states ``run_now`` moves a job from (its ``retry_count`` kept)."""
_START_OVER: Final = (JobState.DEAD, JobState.COMPLETED, JobState.CANCELLED)
"""Requeued from these, a job starts over: its ``retry_count`` back to 0."""
_PAGE: Final = 500


def requeue_move(job: JobInfo) -> Move:
    """The move that puts ``job`` back at the end of its queue, from the state it is in."""
    envelope = job.envelope
    if envelope is None:
        # Not ours to rewrite: move the stored text as it is; the worker will
        # bury it again with the decode error.
        return Move(job_id=job.job_id, from_state=job.state, raw=job.raw)
    changes: dict[str, Any] = {"status": "Pending", "scheduled_at": None}
    if job.state in _START_OVER:
        changes["retry_count"] = 0
    return Move(job_id=job.job_id, from_state=job.state, raw=envelope.evolve(**changes).encode())


async def requeue_ids(backend: Backend, job_ids: Iterable[str], states: Sequence[JobState]) -> int:
    """Requeue each job of ``job_ids`` found in one of ``states``; returns how many moved."""
    moves: list[Move] = []
    for job_id in dict.fromkeys(job_ids):
        stored = await backend.get_job(job_id)
        if stored is None or stored.state not in states:
            continue
        moves.append(requeue_move(JobInfo.from_stored(stored)))
    return await backend.move_to_queue(moves) if moves else 0


async def requeue_matching(
    backend: Backend,
    state: JobState,
    *,
    queue: str | None,
    job_name: str | None,
    error_contains: str | None,
) -> int:
    """Requeue every job in ``state`` matching the filters, a page at a time; returns
    how many moved."""
    total = 0
    while True:
        # Always read the first page: moved jobs leave the state, so offsets shift.
        page = await backend.list_jobs(
            JobQuery(
                state=state,
                limit=_PAGE,
                queue=queue,
                job_name=job_name,
                error_contains=error_contains,
            )
        )
        if not page:
            return total
        moved = await backend.move_to_queue(
            [requeue_move(JobInfo.from_stored(job)) for job in page]
        )
        total += moved
        if moved == 0:
            return total  # someone else is moving them; do not spin
