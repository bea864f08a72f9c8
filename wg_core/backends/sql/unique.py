"""Unique keys' holds in the SQL engine (layout 4, ``wg_core.unique``).

``{ns}_unique`` has one row per key: the job that took it (``job_id``) and how long
``unique_for`` holds it (``hold_until``, NULL for no timed hold). A key is taken while
that job is in ``{ns}_jobs`` (queued or running), ``{ns}_scheduled`` or ``{ns}_retry``,
or until ``hold_until``. The transitions that end a job (complete, bury, cancel,
delete, purge, prune) free its key by the move itself, in their own transaction:
nothing else to write, and nothing to forget when a job moves between tables. The
pruner deletes the rows nobody holds any more (``unique_forget``).

An enqueue takes the distinct keys of its batch inside the enqueue's transaction,
before inserting the jobs, so that keys and jobs are stored together or not at all:

1. ``unique_take_many`` inserts a row for every key in one statement (``ON CONFLICT DO
   NOTHING`` / ``INSERT IGNORE``, in key order): a key whose row exists, or that a
   concurrent producer's uncommitted insert has (the statement waits for it), inserts
   nothing. When every row was inserted (the usual case) the keys are the batch's;
2. otherwise ``unique_holders`` reads the batch's rows *locked* (``FOR UPDATE``, in key
   order so that two batches sharing keys cannot deadlock; SQLite's writers are
   serialised by ``BEGIN IMMEDIATE`` anyway): concurrent producers of one key queue
   here, and each sees the row as the previous one committed it;
3. a row of another job whose hold ran out and whose job is in none of the holding
   tables is taken over (``unique_take_over``, a compare-and-set on the job id read in
   step 2, in a statement that starts after the lock was granted, so that it sees
   every move committed before: READ COMMITTED on the servers).

The batch's own duplicates (its first job of a key wins) are settled here, in Python,
before any statement.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

from wg_core.backend import NewJob
from wg_core.backends.sql.session import SqlSession, micros

__all__ = ["KeyHeld", "keyed_batch", "take_new_keys", "take_unique_keys", "unique_hold"]

_TRIES: Final = 3
"""Reads of a key's row before giving up on a row that keeps vanishing (pruned between
the read and the insert): each try is one read and one write."""


class KeyHeld(Exception):
    """A key of a batch had a row: roll back what the batch's one-statement fast path
    took (``keyed_batch``), then settle the batch with ``take_unique_keys``."""


def keyed_batch(jobs: Sequence[NewJob]) -> bool:
    """Whether ``jobs`` are several jobs to queue now, without limit keys, each with a
    unique key of its own: the batches a dialect may store by inserting every key's
    row and the jobs at once, falling back (``KeyHeld``) when a key has a row."""
    keys = {job.unique_key for job in jobs}
    return (
        len(jobs) > 1
        and len(keys) == len(jobs)
        and None not in keys
        and all(job.delay <= 0 and job.limit_key is None for job in jobs)
    )


async def take_new_keys(session: SqlSession, jobs: Sequence[NewJob]) -> None:
    """Take the keys of ``jobs`` (a ``keyed_batch``) in one statement, inside the
    enqueue's transaction, or raise ``KeyHeld`` if any key has a row: the caller then
    rolls back (releasing what the statement took or locked, so no lock of this
    transaction is held when ``take_unique_keys`` settles the batch in the next)."""
    firsts = {job.unique_key: job for job in jobs if job.unique_key is not None}
    keys = sorted(firsts)  # concurrent batches lock shared keys in one order
    if await _take_many(session, firsts, keys) != len(keys):
        raise KeyHeld


async def take_unique_keys(
    session: SqlSession, jobs: Sequence[NewJob], *, read_first: bool = False
) -> list[str]:
    """Per job of ``jobs``, its own id if it may be stored (its key is now its own, or
    it has none), else the id of the job holding its key. Runs inside the enqueue's
    transaction. ``read_first``: read the rows locked before inserting (MySQL, whose
    ``INSERT IGNORE`` of an existing key takes a shared lock that a later ``FOR
    UPDATE`` of two producers would deadlock on)."""
    firsts: dict[str, NewJob] = {}
    for job in jobs:
        if job.unique_key is not None and job.unique_key not in firsts:
            firsts[job.unique_key] = job
    keys = sorted(firsts)
    holders: dict[str, str] = {}
    if read_first:
        held = await _holders(session, keys) if keys else {}
        fresh = [key for key in keys if key not in held]
        if fresh and await _take_many(session, firsts, fresh) == len(fresh):
            holders.update((key, firsts[key].job_id) for key in fresh)
        else:  # a concurrent producer inserted some of them first: each alone
            for key in fresh:
                holders[key] = await _take(session, firsts[key]) or firsts[key].job_id
    elif keys:
        # The usual case first: no key of the batch has a row, one statement takes all.
        if await _take_many(session, firsts, keys) == len(keys):
            holders.update((key, firsts[key].job_id) for key in keys)
            held = {}
        else:
            held = await _holders(session, keys)  # our own new rows among them
    else:
        held = {}
    for key, old in held.items():
        first = firsts[key]
        if key in holders:
            continue
        if old == first.job_id:
            holders[key] = old
        elif await session.execute("unique_take_over", {**unique_hold(first), "old": old}):
            holders[key] = first.job_id
        else:
            holders[key] = old
    for key in keys:
        if key not in holders:  # its row was pruned between two statements: alone
            holders[key] = await _take(session, firsts[key]) or firsts[key].job_id
    return [job.job_id if job.unique_key is None else holders[job.unique_key] for job in jobs]


async def _holders(session: SqlSession, keys: list[str]) -> dict[str, str]:
    """The rows of ``keys`` (key -> job id), locked."""
    rows = await session.fetch("unique_holders", {"keys": keys})
    return {str(key): str(job_id) for key, job_id in rows}


async def _take_many(session: SqlSession, firsts: dict[str, NewJob], keys: list[str]) -> int:
    """Insert a row for each of ``keys`` that has none: how many were inserted."""
    if len(keys) == 1:  # scalars: cheaper to bind than a batch's columns
        return await session.execute("unique_take", unique_hold(firsts[keys[0]]))
    return await session.execute("unique_take_many", _new_holds(firsts, keys))


def unique_hold(job: NewJob) -> dict[str, Any]:
    """The parameters that name ``job``'s key and hold (``key``, ``job_id``, ``hold_us``)."""
    return {"key": job.unique_key, "job_id": job.job_id, "hold_us": micros(job.unique_for)}


def _new_holds(firsts: dict[str, NewJob], keys: list[str]) -> dict[str, Any]:
    """``unique_take_many``'s parameters: columns (PostgreSQL) or rows as JSON text
    (SQLite, MySQL)."""
    jobs = [firsts[key] for key in keys]
    holds = [micros(job.unique_for) for job in jobs]
    ids = [job.job_id for job in jobs]
    return {
        "keys": keys,
        "job_ids": ids,
        "holds_us": holds,
        "rows_json": json.dumps(list(zip(keys, ids, holds, strict=True)), ensure_ascii=False),
    }


async def _take(session: SqlSession, job: NewJob) -> str | None:
    """Take ``job``'s key for it alone: ``None`` if taken (or already its own), else the
    id of the job holding it."""
    params = unique_hold(job)
    holder: str | None = None
    for _ in range(_TRIES):
        rows = await session.fetch("unique_holder", {"key": job.unique_key})
        if rows:
            holder = str(rows[0][0])
            if holder == job.job_id:
                return None
            if await session.execute("unique_take_over", {**params, "old": holder}):
                return None
            return holder
        if await session.execute("unique_take", params):
            return None
    return holder
