"""Importing jobs into the SQL engine (``wg migrate``; mixed into ``SqlBackend``): each
job is one INSERT of its state's ``import_<state>`` block, which stores nothing when
the id is already in any table (a NOT EXISTS probe of the other tables and the target
table's unique index, in the statement: no read in Python first). A batch is one
transaction, which also stores the jobs' limit keys and takes the unique keys' holds
of its waiting jobs (``sql/unique.py``'s step, as an enqueue takes them: a key another
job holds stays that job's, and the imported job is stored all the same)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Final

from wg_core.backend import ImportedJob, JobState, NewJob
from wg_core.backends.common import import_hold
from wg_core.backends.sql.limiting import store_limit_keys
from wg_core.backends.sql.session import SqlSession, UnitRunner
from wg_core.backends.sql.unique import take_unique_keys

__all__ = ["ImportVerbs"]

_BLOCKS: Final = {
    JobState.QUEUED: "import_queued",
    JobState.SCHEDULED: "import_scheduled",
    JobState.RETRY: "import_retry",
    JobState.DEAD: "import_dead",
    JobState.COMPLETED: "import_finished",
    JobState.CANCELLED: "import_finished",
}
"""The block that stores a job of each state (the checked layer refuses RUNNING)."""


def _micros(seconds: float | None) -> int | None:
    """An instant as whole Unix microseconds (how every dialect's blocks take times)."""
    return None if seconds is None else round(seconds * 1_000_000)


def _params(job: ImportedJob) -> dict[str, Any]:
    progress = job.progress
    return {
        "raw": job.raw,
        "job_id": job.job_id,
        "job_name": job.job_name,
        "queue": job.queue,
        "priority": job.priority,
        "state": str(job.state),
        "due_us": _micros(job.due_at),
        "at_us": _micros(job.updated_at),
        "last_error": job.last_error,
        "result": job.result,
        "started_us": _micros(job.started_at),
        "finished_us": _micros(job.finished_at),
        "expires_us": _micros(job.expires_at),
        "progress": None if progress is None else progress.fraction,
        "progress_message": None if progress is None else progress.message,
        "progress_us": None if progress is None else _micros(progress.updated_at),
    }


def _runs(jobs: Sequence[ImportedJob]) -> list[tuple[str, list[dict[str, Any]]]]:
    """``jobs`` as runs of one block each, in order (a page of one state is one run)."""
    runs: list[tuple[str, list[dict[str, Any]]]] = []
    for job in jobs:
        block = _BLOCKS[JobState(job.state)]
        if not runs or runs[-1][0] != block:
            runs.append((block, []))
        runs[-1][1].append(_params(job))
    return runs


def _holds(jobs: Sequence[ImportedJob]) -> list[NewJob]:
    """The waiting jobs of ``jobs`` that take their unique key's hold, as the enqueue's
    unique step takes them (no ``unique_for``: see ``ImportedJob``)."""
    holds: list[NewJob] = []
    for job in jobs:
        key = import_hold(job)
        if key is not None:
            holds.append(NewJob(job_id=job.job_id, job_name=job.job_name, raw="", unique_key=key))
    return holds


class ImportVerbs(UnitRunner):
    """``import_jobs``, written over ``_run``; ``SqlBackend`` provides it."""

    UNIQUE_READ_FIRST: ClassVar[bool]

    async def _import_rows(
        self, session: SqlSession, block: str, rows: Sequence[dict[str, Any]]
    ) -> int:
        """Run ``block`` once per row; how many rows it stored. A dialect may send them
        all at once (PostgreSQL: one pipelined ``executemany``)."""
        stored = 0
        for params in rows:
            stored += await session.execute(block, params)
        return stored

    async def import_jobs(self, jobs: Sequence[ImportedJob]) -> int:
        """Store each job in its state unless its id is stored already; how many were."""
        runs = _runs(jobs)

        holds = _holds(jobs)
        keyed = [job for job in jobs if job.limit_key is not None]

        async def body(session: SqlSession) -> tuple[int, bool]:
            stored, ready = 0, False
            for block, rows in runs:
                count = await self._import_rows(session, block, rows)
                stored += count
                ready = ready or (count > 0 and block == _BLOCKS[JobState.QUEUED])
            if holds:  # the enqueue's own step; a key held by another job stays its
                await take_unique_keys(session, holds, read_first=self.UNIQUE_READ_FIRST)
            await store_limit_keys(session, keyed)
            if ready:
                await self._announce(session)
            return stored, ready

        stored, ready = await self._run(body)
        if ready:
            self._signal()
        return stored
