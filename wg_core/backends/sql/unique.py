"""Unique keys' holds in the SQL engine (layout 4, ``wg_core.unique``).

``{ns}_unique`` has one row per key: the job that took it (``job_id``) and how long
``unique_for`` holds it (``hold_until``, NULL for no timed hold). A key is taken while
that job is in ``{ns}_jobs`` (queued or running), ``{ns}_scheduled`` or ``{ns}_retry``,
or until ``hold_until``. The transitions that end a job (complete, bury, cancel,
delete, purge, prune) free its key by the move itself, in their own transaction:
nothing else to write, and nothing to forget when a job moves between tables.

An enqueue takes each distinct key of its batch inside the enqueue's transaction,
before inserting the jobs, so the key and the job are stored together or not at all:

1. ``unique_holder`` reads the key's row *locked* (``FOR UPDATE``; SQLite's writers
   are serialised by ``BEGIN IMMEDIATE`` anyway), so concurrent producers of one key
   queue here, and each sees the row as the previous one committed it;
2. no row: ``unique_take`` inserts it (``ON CONFLICT DO NOTHING`` / ``INSERT IGNORE``:
   a concurrent first insert of the key makes this one insert nothing, and the key is
   read again);
3. a row: ``unique_take_over`` replaces it only if its hold ran out and its job is in
   none of the holding tables, a statement that starts after the lock was granted,
   so it sees every move committed before (READ COMMITTED on the servers).

Keys are taken in sorted order so that two batches sharing keys cannot deadlock on
them; the batch's own duplicates (the first wins) are settled here, in Python, before
any statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from wg_core.backend import NewJob
from wg_core.backends.sql.session import SqlSession, micros

__all__ = ["take_unique_keys"]

_TRIES: Final = 3
"""Reads of a key's row before giving up on a row that keeps vanishing (pruned between
the read and the insert): each try is one read and one write."""


async def take_unique_keys(session: SqlSession, jobs: Sequence[NewJob]) -> list[str]:
    """Per job of ``jobs``, its own id if it may be stored (its key is now its own, or
    it has none), else the id of the job holding its key. Runs inside the enqueue's
    transaction."""
    firsts: dict[str, NewJob] = {}
    for job in jobs:
        if job.unique_key is not None and job.unique_key not in firsts:
            firsts[job.unique_key] = job
    holders: dict[str, str] = {}
    for key in sorted(firsts):
        first = firsts[key]
        holders[key] = await _take(session, first) or first.job_id
    return [job.job_id if job.unique_key is None else holders[job.unique_key] for job in jobs]


async def _take(session: SqlSession, job: NewJob) -> str | None:
    """Take ``job``'s key for it: ``None`` if taken, else the id of the job holding it."""
    params = {"key": job.unique_key, "job_id": job.job_id, "hold_us": micros(job.unique_for)}
    holder: str | None = None
    for _ in range(_TRIES):
        rows = await session.fetch("unique_holder", {"key": job.unique_key})
        if rows:
            holder = str(rows[0][0])
            if await session.execute("unique_take_over", {**params, "old": holder}):
                return None
            return holder
        if await session.execute("unique_take", params):
            return None
    return holder or job.job_id  # vanished every time: held by no one we could name
