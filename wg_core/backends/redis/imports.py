"""Importing jobs into Redis (``wg migrate``; mixed into ``RedisBackend``): one
``import_jobs`` script call per queue and chunk, which stores each job in its state's
structure unless its id is in the index already (``HSETNX`` on ``{ns}:ids``: atomic,
no read in Python first). The same call sets the stored jobs' limit keys and takes
the unique keys' holds of the waiting ones (a key another job holds stays its)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from wg_core.backend import FINISHED_STATES, ImportedJob, JobState
from wg_core.backends.common import import_hold
from wg_core.backends.redis.keys import STATE_LETTER, Keys
from wg_core.backends.redis.records import finished_record
from wg_core.backends.redis.transport import Transport

__all__ = ["RedisImports"]

_CHUNK: Final = 500
"""Jobs per script call: a long import never blocks the server for long."""


def _row(job: ImportedJob) -> tuple[str, ...]:
    """The script's eight arguments for ``job`` (see ``import_jobs`` in scripts.lua)."""
    state = JobState(job.state)
    letter = STATE_LETTER[state]
    keys = (import_hold(job) or "", job.limit_key or "")
    if state in FINISHED_STATES:
        return (
            job.job_id,
            letter,
            str(job.priority),
            f"{job.finished_at:.6f}",
            f"{job.expires_at:.6f}",
            finished_record(job),
            *keys,
        )
    if state in (JobState.SCHEDULED, JobState.RETRY):
        at = f"{job.due_at:.6f}"
    elif state is JobState.DEAD and job.updated_at is not None:
        at = f"{job.updated_at:.6f}"
    else:
        at = ""
    return (job.job_id, letter, str(job.priority), at, "", job.raw, *keys)


class RedisImports:
    """``import_jobs`` of ``RedisBackend`` (a mixin: it needs the backend's transport)."""

    _transport: Transport
    _keys: Keys

    async def import_jobs(self, jobs: Sequence[ImportedJob]) -> int:
        """Store each job in its state unless its id is stored already; how many were."""
        k = self._keys
        by_queue: dict[str, list[ImportedJob]] = {}
        for job in jobs:
            by_queue.setdefault(job.queue, []).append(job)
        stored = 0
        for queue, batch in by_queue.items():
            q = k.queue(queue)
            keys: tuple[str, ...] = (k.ids, k.aliases, k.placements, k.queues, k.order)
            keys += (k.died, k.finished)
            keys += (k.expiry, q.jobs, q.prio, q.schedule, q.retry, q.dead, q.wake)
            keys += (q.completed, q.cancelled, k.unique, k.limit_keys)
            for start in range(0, len(batch), _CHUNK):
                args = [queue]
                for job in batch[start : start + _CHUNK]:
                    args.extend(_row(job))
                # Repeating the call is harmless: ids stored by the first are skipped.
                stored += int(await self._transport.run_idempotent("import_jobs", keys, args))
        return stored
