"""Producing, claiming and transitions of the SQL engine (mixed into ``SqlBackend``):
each verb is one short unit of work of named blocks, the same for every dialect."""

from __future__ import annotations

import abc
import asyncio
import collections
import json
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar, Final, TypeVar

from wg_core.backend import Attempt, Completion, HeartbeatReply, JobState, NewJob, WorkerInfo
from wg_core.backends.common import WORKER_FORGET_AFTER_LEASES, grouped_by_class, registry_fields
from wg_core.backends.sql.kept import kept_id_error, split_completions
from wg_core.backends.sql.limiting import LimitVerbs
from wg_core.backends.sql.schema import STATE_TABLES
from wg_core.backends.sql.session import Row, SqlSession, micros
from wg_core.backends.sql.signals import Signal
from wg_core.backends.sql.unique import take_unique_keys
from wg_core.errors import WgError
from wg_core.queues import DEFAULT_QUEUE

__all__ = ["COUNTER_SHARDS", "WorkVerbs"]

T = TypeVar("T")

COUNTER_SHARDS: Final = 16
"""Counter rows per counter; a bump picks one at random (fewer lock waits). Dialects
with a single writer (SQLite) keep one row and ignore the shard."""


class WorkVerbs(LimitVerbs):
    """The producing and working verbs, written over ``_run``; ``SqlBackend`` provides
    the plumbing named here."""

    ONE_STATEMENT_BATCHES: ClassVar[bool]
    UNIQUE_READ_FIRST: ClassVar[bool]
    UNITS_OUTLIVE_CALLERS: ClassVar[bool]
    HEARTBEAT_IN_TRANSACTION: ClassVar[bool]
    _opened: bool
    _wake_generation: int
    _orphans: set[asyncio.Future[Any]]
    _finished: Signal

    @abc.abstractmethod
    def _foreign(self, connection: object) -> AbstractAsyncContextManager[SqlSession]:
        """A session over the caller's connection (see ``SqlBackend``)."""

    @abc.abstractmethod
    async def _insert(self, session: SqlSession, block: str, jobs: Sequence[NewJob]) -> None:
        """Insert jobs (see ``SqlBackend``)."""

    @abc.abstractmethod
    def _wg_error(self, exc: BaseException) -> WgError | None:
        """wg's error for a driver error (see ``SqlBackend``)."""

    @abc.abstractmethod
    async def _wait_for_work(
        self,
        timeout: float,
        generation: int,
        limit: int,
        lease: float,
        worker_id: str,
        queues: Sequence[str],
    ) -> list[Attempt]:
        """Wait for work (see ``SqlBackend``)."""

    @abc.abstractmethod
    def _claim_succeeded(self, found: bool) -> None:
        """Hook after each claim (see ``SqlBackend``)."""

    @abc.abstractmethod
    async def _settle_orphans(self) -> None:
        """Wait for units whose caller was cancelled (see ``SqlBackend``)."""

    @abc.abstractmethod
    def _orphan_done(self, task: asyncio.Future[Any]) -> None:
        """Forget a settled orphan (see ``SqlBackend``)."""

    @abc.abstractmethod
    async def _complete_kept(self, attempts: Sequence[Attempt], kept: Sequence[Completion]) -> int:
        """Complete with results to keep (see ``FinishVerbs``)."""

    @abc.abstractmethod
    async def _announce_finished(self, session: SqlSession) -> None:
        """Tell other processes' waiters that jobs finished (see ``FinishVerbs``)."""

    # -- producing -----------------------------------------------------------------------

    async def enqueue(
        self, jobs: Sequence[NewJob], *, connection: object | None = None
    ) -> list[str]:
        """Store ``jobs`` in one transaction (the caller's, with ``connection``); a
        batch with unique keys takes them in the same transaction (``sql/unique.py``)."""
        if not jobs:
            return []
        unique = any(job.unique_key is not None for job in jobs)
        ids = [job.job_id for job in jobs]
        queued = [job for job in jobs if job.delay <= 0]
        scheduled = [job for job in jobs if job.delay > 0]
        keyed = any(job.limit_key is not None for job in jobs)

        async def body(session: SqlSession) -> None:
            nonlocal ids, queued, scheduled
            if unique:
                ids = await take_unique_keys(session, jobs, read_first=self.UNIQUE_READ_FIRST)
                new = [job for job, held in zip(jobs, ids, strict=True) if held == job.job_id]
                queued = [job for job in new if job.delay <= 0]
                scheduled = [job for job in new if job.delay > 0]
            if queued:
                await self._insert(session, "enqueue_jobs", grouped_by_class(queued))
            if scheduled:
                await self._insert(session, "enqueue_scheduled", scheduled)
            if keyed:  # of the jobs stored (not of duplicates of a unique key)
                await self._store_limit_keys(session, [*queued, *scheduled])

        if connection is not None:
            try:
                async with self._foreign(connection) as session:
                    if queued and scheduled:
                        # Each insert stores nothing when one of its ids is a kept
                        # finished job's, but the caller's transaction would keep the
                        # queued ones stored before the scheduled ones were refused
                        # (wg's own transaction is rolled back instead).
                        await self._refuse_kept(session, scheduled)
                    await body(session)
            except Exception as exc:
                translated = self._wg_error(exc)
                if translated is None:
                    raise
                raise translated from exc
        else:
            # A batch that is one INSERT statement needs no explicit transaction.
            several_statements = (
                unique
                or (bool(queued) and bool(scheduled))
                or (len(jobs) > 1 and not self.ONE_STATEMENT_BATCHES)
                or keyed
            )
            await self._run(body, transaction=several_statements)
        if queued:
            self._signal()
        return ids

    async def _refuse_kept(self, session: SqlSession, jobs: Sequence[NewJob]) -> None:
        """Raise ``DuplicateJobError`` if one of ``jobs``' ids is held by a COMPLETED or
        CANCELLED job kept in ``{ns}_finished`` (block ``enqueue_taken`` of the dialects
        that write through a caller's connection)."""
        rows = await session.fetch("enqueue_taken", {"job_ids": [job.job_id for job in jobs]})
        if rows:
            raise kept_id_error(rows[0][0])

    # -- claiming ------------------------------------------------------------------------

    async def claim(
        self,
        *,
        limit: int,
        lease: float,
        worker_id: str,
        wait: float = 0.0,
        queues: Sequence[str] = (DEFAULT_QUEUE,),
    ) -> list[Attempt]:
        """Lease up to ``limit`` queued jobs of ``queues`` (in their order; within a
        queue by priority, then oldest first); wait up to ``wait`` seconds for a wake-up
        when none is ready."""
        await self._settle_orphans()
        queues = tuple(queues)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        limited = await self._limits_view(queues, short=False)
        woken = False
        while True:
            generation = self._wake_generation
            waits: list[float] = []
            attempts = await self._claim_or_release(
                self._claim_limited(limit, lease, worker_id, queues, waits, look_first=not woken)
                if limited
                else self._claim_now(limit, lease, worker_id, queues)
            )
            if not limited and len(attempts) < limit:
                # A queue that became limited is skipped by the fast claim: look again.
                limited = await self._limits_view(queues, short=True)
                if limited and not attempts:
                    continue
            self._claim_succeeded(bool(attempts))
            remaining = deadline - loop.time()
            if attempts or remaining <= 0 or not self._opened:
                return attempts
            if waits:  # a rate holds a queue back: its window frees a start then
                remaining = min(remaining, max(min(waits), 0.001))
            attempts = await self._wait_for_work(
                remaining, generation, limit, lease, worker_id, queues
            )
            if attempts or not self._opened:
                return attempts
            woken = self._woken_for_room(generation, waits)
            limited = await self._limits_view(queues, short=False)

    async def _claim_or_release(self, claiming: Awaitable[list[Attempt]]) -> list[Attempt]:
        """Await a claim, but if the caller is cancelled meanwhile, whatever the claim
        leased goes straight back to the front of the queue (by the driver itself where
        units outlive their callers)."""
        if self.UNITS_OUTLIVE_CALLERS:
            return await claiming
        return await self._outliving(claiming, self._release_orphan)

    async def _outliving(
        self, work: Awaitable[T], orphaned: Callable[[asyncio.Future[T]], object]
    ) -> T:
        """Await ``work``, which runs to its end even if the caller is cancelled: then it
        becomes an orphan (``close()`` waits for those) and ``orphaned`` gets its task."""
        task = asyncio.ensure_future(work)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            self._orphans.add(task)
            task.add_done_callback(orphaned)
            raise

    def _release_orphan(self, task: asyncio.Future[list[Attempt]]) -> None:
        self._orphans.discard(task)
        if task.cancelled() or task.exception() is not None or not task.result():
            return
        release = asyncio.ensure_future(self.release(task.result()))
        self._orphans.add(release)
        release.add_done_callback(self._orphan_done)

    async def _claim_now(
        self, limit: int, lease: float, worker_id: str, queues: tuple[str, ...]
    ) -> list[Attempt]:
        batch = uuid.uuid4().hex

        async def body(session: SqlSession) -> list[Attempt]:
            # The pause flag is read on its own, without a lock: a locking read of it
            # inside the claim would make every claimer queue on (or skip) that row.
            paused = await session.fetch("is_paused")
            if paused and paused[0][0]:
                return []
            # One locking read per queue, in the pool's order, until the batch is full
            # (claim_select skips a paused queue).
            rows: list[Row] = []
            for queue in queues:
                wanted = {"limit": limit - len(rows), "queue": queue}
                rows.extend(await session.fetch("claim_select", wanted))
                if len(rows) >= limit:
                    break
            if not rows:
                return []
            return await self._lease(session, rows, batch, lease, worker_id)

        return await self._run(body)

    @staticmethod
    async def _lease(
        session: SqlSession, rows: Sequence[Row], batch: str, lease: float, worker_id: str
    ) -> list[Attempt]:
        """Lease the selected ``(id, raw, queue[, cancel_requested])`` rows to
        ``worker_id`` as one batch."""
        ids = [row[0] for row in rows]
        await session.execute(
            "lease",
            {"ids": ids, "batch": batch, "lease_us": micros(lease), "worker_id": worker_id},
        )
        return [
            Attempt(
                key=str(row[0]),
                token=f"{batch}-{row[0]}",
                raw=row[1],
                queue=row[2],
                cancel_requested=len(row) > 3 and bool(row[3]),
            )
            for row in rows
        ]

    @staticmethod
    def _handles(attempts: Sequence[Attempt]) -> dict[str, Any]:
        return {
            "ids": [int(attempt.key) for attempt in attempts],
            "tokens": [attempt.token for attempt in attempts],
        }

    @staticmethod
    def _shard() -> int:
        return random.randrange(COUNTER_SHARDS)

    def _bump_block(self, queue: str) -> str:
        """The block that bumps ``queue``'s counters (a dialect may keep some apart)."""
        return "bump"

    def _bump(self, counter: str, queue: str, n: int) -> dict[str, Any]:
        return {"name": counter, "queue": queue, "shard": self._shard(), "n": n}

    # -- transitions ---------------------------------------------------------------------

    async def complete(self, attempts: Sequence[Attempt | Completion]) -> int:
        """Finish jobs still held under their tokens, count them as processed: kept
        with their results (``FinishVerbs``), or, with nothing to keep, deleted."""
        if not attempts:
            return 0
        held, kept = split_completions(attempts)
        if kept:
            return await self._complete_kept(held, kept)
        handles = self._handles(held)

        async def body(session: SqlSession) -> int:
            return await self._complete_counted(session, handles)

        done = await self._run(body)
        await self._slots_freed(attempt.queue for attempt in held)
        return done

    async def _complete_counted(self, session: SqlSession, handles: dict[str, Any]) -> int:
        """Delete the held rows of ``handles`` and count each queue's in its counter."""
        done = await session.fetch("complete", handles)
        if not done:
            return 0
        first = done[0][0]
        if all(row[0] == first for row in done):  # mostly: a batch of one queue
            counted = {first: len(done)}
        else:
            counted = collections.Counter(row[0] for row in done)
        for queue, n in counted.items():
            await session.execute(self._bump_block(queue), self._bump("processed", queue, n))
        return len(done)

    async def _fail(self, attempt: Attempt, block: str, params: dict[str, Any]) -> bool:
        buried = block == "insert_dead"

        async def body(session: SqlSession) -> tuple[bool, bool]:
            """Whether the attempt was held, and whether the job ended (dead, or
            cancelled instead of retried)."""
            rows = await session.fetch("hold", {"id": int(attempt.key), "token": attempt.token})
            if not rows:
                return False, False
            job_id, job_name, queue, priority, cancel_requested = rows[0]
            ended = buried or bool(cancel_requested)
            if cancel_requested and not buried:
                # Its cancel was requested: it must not run again. It ends cancelled
                # (kept as the cancel asked), its failure counted all the same.
                await session.execute(
                    "retry_cancelled", {"id": int(attempt.key), "raw": params["raw"]}
                )
            else:
                await session.execute(
                    block,
                    {
                        **params,
                        "job_id": job_id,
                        "job_name": job_name,
                        "queue": queue,
                        "priority": priority,
                    },
                )
            await session.execute("remove_jobs", {"ids": [int(attempt.key)]})
            await session.execute(self._bump_block(queue), self._bump("failed", queue, 1))
            if ended:  # wait_finished returns DEAD and CANCELLED jobs
                await self._announce_finished(session)
            return True, ended

        held, ended = await self._run(body)
        if ended:
            self._finished.wake()
        await self._slots_freed((attempt.queue,))
        return held

    async def retry(self, attempt: Attempt, *, raw: str, delay: float, error: str | None) -> bool:
        """RUNNING → RETRY due in ``delay`` seconds; ``failed += 1``."""
        return await self._fail(
            attempt,
            "insert_retry",
            {"raw": raw, "delay_us": micros(delay), "last_error": error},
        )

    async def bury(self, attempt: Attempt, *, raw: str, error: str | None) -> bool:
        """RUNNING → DEAD (``died_at``: now); ``failed += 1``."""
        return await self._fail(attempt, "insert_dead", {"raw": raw, "last_error": error})

    async def release(self, attempts: Sequence[Attempt]) -> int:
        """RUNNING → QUEUED keeping the row's id, hence its place at the front."""
        if not attempts:
            return 0
        # A completion whose caller was cancelled may still be on its way: let it land
        # first, or the release would win and a finished job would run again.
        await self._settle_orphans()

        handles = self._handles(attempts)
        cancelled = 0

        async def body(session: SqlSession) -> int:
            nonlocal cancelled
            cancelled = 0
            # A job whose cancel was requested must not run again: it ends cancelled,
            # kept as the cancel asked (cancel_keep_us), as if its worker had finished it.
            if ids := [row[0] for row in await session.fetch("held_cancels", handles)]:
                await session.execute("keep_released", {"ids": ids})
                await session.execute("remove_jobs", {"ids": ids})
                await self._announce_finished(session)
                cancelled = len(ids)
            released = await session.execute("release", handles)
            if released:
                await self._announce(session)
            return released + cancelled

        released = await self._run(body)
        if released > cancelled:
            self._signal()
        if cancelled:
            self._finished.wake()
        await self._slots_freed(attempt.queue for attempt in attempts)
        return released

    async def heartbeat(
        self, worker: WorkerInfo, *, attempts: Sequence[Attempt], lease: float
    ) -> HeartbeatReply:
        """Register ``worker`` and renew the leases of ``attempts``; report those lost
        and those whose cancel was requested. Not durable: a lost renewal only lets a
        job run again."""

        async def body(session: SqlSession) -> HeartbeatReply:
            lost: frozenset[str] = frozenset()
            cancelled: frozenset[str] = frozenset()
            if attempts:
                handles = self._handles(attempts)
                await session.execute("renew", {**handles, "lease_us": micros(lease)})
                rows = await session.fetch("held", handles)
                held = {row[0] for row in rows}
                lost = frozenset(a.token for a in attempts if a.token not in held)
                cancelled = frozenset(row[0] for row in rows if row[1])
            rows = await session.fetch("worker_stop_flag", {"worker_id": worker.worker_id})
            stop = bool(rows and rows[0][0])
            await session.execute(
                "register_worker",
                {
                    **registry_fields(worker),
                    "worker_id": worker.worker_id,
                    "stop_requested": worker.stop_requested,
                    "job_names": json.dumps(list(worker.job_names)),
                    "queues": json.dumps(list(worker.queues)),
                },
            )
            return HeartbeatReply(lost=lost, stop_requested=stop, cancelled=cancelled)

        # Autocommitted, "held" still reads the renewal just made; register ORs the stop.
        return await self._run(body, transaction=self.HEARTBEAT_IN_TRANSACTION, durable=False)

    async def unregister_worker(self, worker_id: str) -> None:
        """Remove a worker from the registry."""

        async def body(session: SqlSession) -> None:
            await session.execute("unregister_worker", {"worker_id": worker_id})

        await self._run(body, transaction=False)

    async def promote(self, state: JobState, *, limit: int) -> int:
        """Move up to ``limit`` due scheduled/retry jobs to the back of the queue, each
        once: the rows are locked (SKIP LOCKED, or SQLite's write lock) and deleted in
        the same transaction."""
        table = STATE_TABLES[state]

        async def body(session: SqlSession) -> int:
            rows = await session.fetch(f"due_{table}", {"limit": limit})
            if not rows:
                return 0
            ids = {"ids": [row[0] for row in rows]}
            await session.execute(f"requeue_{table}", ids)
            await session.execute(f"remove_{table}", ids)
            await self._announce(session)
            return len(rows)

        moved = await self._run(body)
        if moved:
            self._signal()
        return moved

    async def reclaim_expired(
        self, *, limit: int, lease: float, worker_id: str, silent_after: float | None = None
    ) -> list[Attempt]:
        """Re-lease running jobs whose lease ran out (or whose registered worker has
        been silent for ``silent_after`` seconds), with their cancel requests; forget
        long-silent workers. Not durable: a lost reclaim leaves the job to the next
        one."""
        batch = uuid.uuid4().hex
        forget_us = micros(WORKER_FORGET_AFTER_LEASES * lease)
        silent_us = None if silent_after is None else micros(silent_after)

        async def body(session: SqlSession) -> list[Attempt]:
            await session.execute("forget_workers", {"forget_us": forget_us})
            rows = await session.fetch(
                "expired", {"limit": limit, "silent_us": silent_us, "worker_id": worker_id}
            )
            if not rows:
                return []
            return await self._lease(session, rows, batch, lease, worker_id)

        return await self._run(body, durable=False)
