"""``SqlBackend``: the backend contract on a SQL server with ``FOR UPDATE SKIP LOCKED``.

The tables and why they are shaped so: ``schema.py``. The verbs here are written once
as short transactions of named SQL blocks; a dialect (``wg_core.backends.postgres``,
``wg_core.backends.mysql``) provides the blocks (the same names in ``postgres.sql`` and
``mysql.sql``), the connections, the way idle claimers wait, and faster versions of the
hot paths where its SQL allows them.
"""

from __future__ import annotations

import abc
import asyncio
import json
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Final, TypeVar

from wg_core.backend import (
    Attempt,
    HeartbeatReply,
    JobState,
    NewJob,
    WorkerInfo,
)
from wg_core.backends.common import (
    WORKER_FORGET_AFTER_LEASES,
    Waiters,
)
from wg_core.backends.resources import load_blocks
from wg_core.backends.sql.admin import AdminVerbs
from wg_core.backends.sql.schema import EXPECTED_COLUMNS, RUST_COLUMNS, STATE_TABLES, TABLES
from wg_core.backends.sql.session import SqlSession, micros
from wg_core.errors import BackendError, SchemaError, WgError
from wg_core.namespace import validate_namespace
from wg_core.urls import redact_url

__all__ = ["SqlBackend"]

T = TypeVar("T")


COUNTER_SHARDS: Final = 16
"""Counter rows per counter; a bump picks one at random (fewer lock waits)."""

TRANSACTION_ATTEMPTS: Final = 6
"""A transaction that hits a deadlock or lock-wait timeout is retried this many times."""


class SqlBackend(AdminVerbs):
    """The shared engine. Subclasses name their SQL file and quote character and provide
    connections (see the abstract methods)."""

    SQL_FILE: str = ""
    """The dialect's resource file in ``wg_core.backends.sql``."""
    EXTRA_BLOCKS: frozenset[str] = frozenset()
    """Blocks only this dialect has (its single-statement fast paths)."""
    ONE_STATEMENT_BATCHES: bool = False
    """Whether ``_insert`` stores any batch in one statement (else a batch of several
    jobs gets an explicit transaction, so that it is all or nothing)."""

    def __init__(self, url: str, namespace: str = "wg") -> None:
        self._url = url
        self._namespace = validate_namespace(namespace)
        blocks = load_blocks("wg_core.backends.sql", self.SQL_FILE)
        # The namespace is validated (letters, digits, '_'), and the quotes around every
        # identifier are in the SQL text itself: substitute it once, here.
        self._sql: dict[str, str] = {
            name: text.replace("{ns}", self._namespace) for name, text in blocks.items()
        }
        self._waiters = Waiters()
        self._wake_generation = 0
        self._opened = False
        self._schema_ready = False
        self._orphans: set[asyncio.Future[Any]] = set()

    # -- properties ----------------------------------------------------------------------

    @property
    def namespace(self) -> str:
        """The validated namespace this backend stores under."""
        return self._namespace

    @property
    def display_url(self) -> str:
        """The server URL with any password redacted."""
        return redact_url(self._url)

    @property
    def supports_transactional_enqueue(self) -> bool:
        """SQL backends write through the caller's connection when given one."""
        return True

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.display_url!r}, namespace={self._namespace!r})"

    # -- what a dialect provides ---------------------------------------------------------

    @abc.abstractmethod
    async def _connect(self) -> None:
        """Open the connection pool (raise ``BackendUnavailableError`` if unreachable)."""

    @abc.abstractmethod
    async def _disconnect(self) -> None:
        """Close every connection."""

    @abc.abstractmethod
    async def _unit(
        self, body: Callable[[SqlSession], Awaitable[T]], *, transaction: bool, durable: bool
    ) -> T:
        """Run ``body`` once on a pooled connection: inside one transaction (committed
        when ``body`` returns, rolled back if it raises), or with each statement
        committing on its own (``transaction=False``).

        ``durable=False`` allows a commit that a *server* crash may lose (never a process
        crash); only for writes whose loss merely lets a job run again, such as claims.
        Dialects without such a setting ignore it."""

    @abc.abstractmethod
    def _foreign(self, connection: object) -> AbstractAsyncContextManager[SqlSession]:
        """A session over the caller's own connection: no commit, no rollback (theirs)."""

    @abc.abstractmethod
    async def _insert(self, session: SqlSession, block: str, jobs: Sequence[NewJob]) -> None:
        """Insert ``jobs`` with ``block`` (``enqueue_jobs``/``enqueue_scheduled``) in one
        statement, in order."""

    @abc.abstractmethod
    def _translate(self, exc: BaseException) -> WgError | None:
        """wg's error for a driver error, or ``None`` if ``exc`` is not one."""

    def _wg_error(self, exc: BaseException) -> WgError | None:
        """``_translate``, plus what every dialect shares: text the driver cannot
        encode (a lone surrogate) is refused as a ``BackendError``."""
        if isinstance(exc, UnicodeError):
            return BackendError(f"cannot store text that is not valid UTF-8: {exc}")
        return self._translate(exc)

    @abc.abstractmethod
    def _is_transient(self, exc: BaseException) -> bool:
        """Whether ``exc`` is a deadlock or lock timeout worth retrying the transaction."""

    @abc.abstractmethod
    async def _wait_for_work(
        self, timeout: float, generation: int, limit: int, lease: float, worker_id: str
    ) -> list[Attempt]:
        """Sleep until work may be there (a wake-up since ``generation``) or ``timeout``.

        Returns ``[]``, or jobs claimed for this waiter (``limit``, ``lease`` and
        ``worker_id`` are its claim's) by a dialect whose waiting claims on its behalf.
        """

    async def _announce(self, session: SqlSession) -> None:
        """Tell other processes' idle claimers that jobs became ready, inside the
        transaction that made them ready (nothing by default: they poll)."""
        return None

    def _claim_succeeded(self, found: bool) -> None:
        """Hook: a claim found jobs (``True``) or found none (polling dialects adapt)."""
        return None

    # -- running units of work -----------------------------------------------------------

    async def _run(
        self,
        body: Callable[[SqlSession], Awaitable[T]],
        *,
        transaction: bool = True,
        durable: bool = True,
    ) -> T:
        """Run ``body`` in a transaction (or autocommit), retrying on deadlocks and lock
        timeouts with jittered backoff, translating driver errors to wg's."""
        if not self._opened:
            raise BackendError(f"{self!r} is not open: call open() first")
        # The unit of work runs to its end even if the caller is cancelled: a worker
        # cancelled while acknowledging must not roll back a completion whose handler
        # already ran (close() waits for such orphans).
        task = asyncio.ensure_future(self._attempt(body, transaction, durable))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            self._orphans.add(task)
            task.add_done_callback(self._orphan_done)
            raise

    async def _settle_orphans(self) -> None:
        """Wait for work whose caller was cancelled (and for what it set off, such as
        releasing a cancelled claim's jobs), so that later calls see its effects."""
        current = asyncio.current_task()
        while pending := self._orphans - {current}:
            await asyncio.gather(*pending, return_exceptions=True)

    def _orphan_done(self, task: asyncio.Future[Any]) -> None:
        self._orphans.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a failure here was already the caller's problem

    async def _attempt(
        self, body: Callable[[SqlSession], Awaitable[T]], transaction: bool, durable: bool
    ) -> T:
        for attempt in range(TRANSACTION_ATTEMPTS):
            try:
                return await self._unit(body, transaction=transaction, durable=durable)
            except Exception as exc:
                if self._is_transient(exc) and attempt + 1 < TRANSACTION_ATTEMPTS:
                    await asyncio.sleep(random.uniform(0.5, 1.5) * 0.005 * 2**attempt)
                    continue
                translated = self._wg_error(exc)
                if translated is None:
                    raise
                raise translated from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _signal(self) -> None:
        """Wake this process's idle claimers (another wake-up generation)."""
        self._wake_generation += 1
        self._waiters.wake_all()

    # -- lifecycle -----------------------------------------------------------------------

    async def open(self, *, create: bool = True) -> None:
        """Connect and create the tables if missing (idempotent, safe to race)."""
        if not self._opened:
            await self._connect()
            self._opened = True
        if not self._schema_ready:
            await self._run(self._create_schema, transaction=False)
            self._schema_ready = True

    async def _create_schema(self, session: SqlSession) -> None:
        lock = {"lock": f"wg-schema:{self._namespace}"}
        # A server-side lock serialises processes starting at once: concurrent CREATE
        # TABLE IF NOT EXISTS can otherwise fail on the catalog (PostgreSQL) or race.
        await session.fetch("schema_lock", lock)
        try:
            for table in await self._check_columns(session):
                try:
                    await session.script(f"upgrade_{table}")
                except Exception as exc:
                    if self._wg_error(exc) is None:
                        raise
                    raise SchemaError(
                        f"table {self._namespace}_{table} looks like the Rust wg's, but adding "
                        f"wg's columns to it failed ({exc}); add them by hand (see the "
                        f"'upgrade_{table}' block of {self.SQL_FILE}) or use another namespace"
                    ) from exc
            await session.script("schema")
        finally:
            await session.fetch("schema_unlock", lock)

    async def _check_columns(self, session: SqlSession) -> list[str]:
        """Tables to upgrade from the Rust wg's shape; SchemaError for foreign ones."""
        names = {f"{self._namespace}_{table}": table for table in TABLES}
        upgrades: list[str] = []
        found: dict[str, set[str]] = {}
        for table_name, column in await session.fetch("columns", {"tables": list(names)}):
            found.setdefault(str(table_name), set()).add(str(column).lower())
        for table_name, columns in found.items():
            table = names.get(table_name)
            if table is None:
                continue
            missing = EXPECTED_COLUMNS[table] - columns
            if not missing:
                continue
            if table in RUST_COLUMNS and RUST_COLUMNS[table] <= columns:
                upgrades.append(table)
            else:
                raise SchemaError(
                    f"table {table_name!r} exists but lacks the column(s) "
                    f"{', '.join(sorted(missing))} that wg needs: it was not created by wg. "
                    f"Use another namespace, or drop or rename that table."
                )
        return upgrades

    async def close(self) -> None:
        """Close the connections; waiting claimers return. Safe to call twice."""
        self._signal()
        if self._orphans:
            await asyncio.gather(*self._orphans, return_exceptions=True)
        if self._opened:
            self._opened = False
            await self._disconnect()

    async def destroy(self) -> None:
        """Drop this namespace's tables (``open`` creates them again)."""

        async def body(session: SqlSession) -> None:
            await session.execute("drop")

        await self._run(body, transaction=False)
        self._schema_ready = False

    # -- producing -----------------------------------------------------------------------

    async def enqueue(self, jobs: Sequence[NewJob], *, connection: object | None = None) -> None:
        """Store ``jobs`` in one transaction (the caller's, with ``connection``)."""
        if not jobs:
            return
        queued = [job for job in jobs if job.delay <= 0]
        scheduled = [job for job in jobs if job.delay > 0]

        async def body(session: SqlSession) -> None:
            if queued:
                await self._insert(session, "enqueue_jobs", queued)
            if scheduled:
                await self._insert(session, "enqueue_scheduled", scheduled)

        if connection is not None:
            try:
                async with self._foreign(connection) as session:
                    await body(session)
            except Exception as exc:
                translated = self._wg_error(exc)
                if translated is None:
                    raise
                raise translated from exc
        else:
            # A batch that is one INSERT statement needs no explicit transaction.
            several_statements = (bool(queued) and bool(scheduled)) or (
                len(jobs) > 1 and not self.ONE_STATEMENT_BATCHES
            )
            await self._run(body, transaction=several_statements)
        if queued:
            self._signal()

    # -- claiming ------------------------------------------------------------------------

    async def claim(
        self, *, limit: int, lease: float, worker_id: str, wait: float = 0.0
    ) -> list[Attempt]:
        """Lease up to ``limit`` queued jobs, oldest first; wait up to ``wait`` seconds
        for a wake-up when none is ready."""
        if limit <= 0:
            return []
        await self._settle_orphans()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            generation = self._wake_generation
            attempts = await self._claim_or_release(limit, lease, worker_id)
            self._claim_succeeded(bool(attempts))
            remaining = deadline - loop.time()
            if attempts or remaining <= 0 or not self._opened:
                return attempts
            attempts = await self._wait_for_work(remaining, generation, limit, lease, worker_id)
            if attempts:
                return attempts

    async def _claim_or_release(self, limit: int, lease: float, worker_id: str) -> list[Attempt]:
        """``_claim_now``, but if the caller is cancelled meanwhile, whatever the claim
        leased goes straight back to the front of the queue."""
        task = asyncio.ensure_future(self._claim_now(limit, lease, worker_id))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            self._orphans.add(task)
            task.add_done_callback(self._release_orphan)
            raise

    def _release_orphan(self, task: asyncio.Future[list[Attempt]]) -> None:
        self._orphans.discard(task)
        if task.cancelled() or task.exception() is not None or not task.result():
            return
        release = asyncio.ensure_future(self.release(task.result()))
        self._orphans.add(release)
        release.add_done_callback(self._orphan_done)

    async def _claim_now(self, limit: int, lease: float, worker_id: str) -> list[Attempt]:
        batch = uuid.uuid4().hex

        async def body(session: SqlSession) -> list[Attempt]:
            # The pause flag is read on its own, without a lock: a locking read of it
            # inside the claim would make every claimer queue on (or skip) that row.
            paused = await session.fetch("is_paused")
            if paused and paused[0][0]:
                return []
            rows = await session.fetch("claim_select", {"limit": limit})
            if not rows:
                return []
            ids = [row[0] for row in rows]
            await session.execute(
                "lease",
                {"ids": ids, "batch": batch, "lease_us": micros(lease), "worker_id": worker_id},
            )
            return [Attempt(key=str(id_), token=f"{batch}-{id_}", raw=raw) for id_, raw in rows]

        return await self._run(body)

    @staticmethod
    def _handles(attempts: Sequence[Attempt]) -> dict[str, Any]:
        return {
            "ids": [int(attempt.key) for attempt in attempts],
            "tokens": [attempt.token for attempt in attempts],
        }

    @staticmethod
    def _shard() -> int:
        return random.randrange(COUNTER_SHARDS)

    def _bump(self, counter: str, n: int) -> dict[str, Any]:
        return {"name": counter, "shard": self._shard(), "n": n}

    async def complete(self, attempts: Sequence[Attempt]) -> int:
        """Delete finished jobs still held under their tokens; count them as processed."""
        if not attempts:
            return 0

        async def body(session: SqlSession) -> int:
            done = await session.execute("complete", self._handles(attempts))
            if done:
                await session.execute("bump", self._bump("processed", done))
            return done

        return await self._run(body)

    async def _fail(self, attempt: Attempt, block: str, params: dict[str, Any]) -> bool:
        async def body(session: SqlSession) -> bool:
            rows = await session.fetch("hold", {"id": int(attempt.key), "token": attempt.token})
            if not rows:
                return False
            job_id, job_name = rows[0]
            await session.execute(block, {**params, "job_id": job_id, "job_name": job_name})
            await session.execute("remove_jobs", {"ids": [int(attempt.key)]})
            await session.execute("bump", self._bump("failed", 1))
            return True

        return await self._run(body)

    async def retry(self, attempt: Attempt, *, raw: str, delay: float, error: str | None) -> bool:
        """RUNNING → RETRY due in ``delay`` seconds; ``failed += 1``."""
        return await self._fail(
            attempt,
            "insert_retry",
            {"raw": raw, "delay_us": micros(delay), "last_error": error},
        )

    async def bury(self, attempt: Attempt, *, raw: str, error: str | None) -> bool:
        """RUNNING → DEAD; ``failed += 1``."""
        return await self._fail(attempt, "insert_dead", {"raw": raw, "last_error": error})

    async def release(self, attempts: Sequence[Attempt]) -> int:
        """RUNNING → QUEUED keeping the row's id, hence its place at the front."""
        if not attempts:
            return 0
        # A completion whose caller was cancelled may still be on its way: let it land
        # first, or the release would win and a finished job would run again.
        await self._settle_orphans()

        async def body(session: SqlSession) -> int:
            released = await session.execute("release", self._handles(attempts))
            if released:
                await self._announce(session)
            return released

        released = await self._run(body)
        if released:
            self._signal()
        return released

    async def heartbeat(
        self, worker: WorkerInfo, *, attempts: Sequence[Attempt], lease: float
    ) -> HeartbeatReply:
        """Register ``worker`` and renew the leases of ``attempts``."""

        async def body(session: SqlSession) -> HeartbeatReply:
            lost: frozenset[str] = frozenset()
            if attempts:
                handles = self._handles(attempts)
                await session.execute("renew", {**handles, "lease_us": micros(lease)})
                held = {row[0] for row in await session.fetch("held", handles)}
                lost = frozenset(a.token for a in attempts if a.token not in held)
            rows = await session.fetch("worker_stop_flag", {"worker_id": worker.worker_id})
            stop = bool(rows and rows[0][0])
            await session.execute(
                "register_worker",
                {
                    "worker_id": worker.worker_id,
                    "host": worker.host,
                    "pid": worker.pid,
                    "concurrency": worker.concurrency,
                    "running": worker.running,
                    "started_at": worker.started_at,
                    "state": worker.state,
                    "stop_requested": worker.stop_requested,
                    "job_names": json.dumps(list(worker.job_names)),
                },
            )
            return HeartbeatReply(lost=lost, stop_requested=stop)

        return await self._run(body)

    async def unregister_worker(self, worker_id: str) -> None:
        """Remove a worker from the registry."""

        async def body(session: SqlSession) -> None:
            await session.execute("unregister_worker", {"worker_id": worker_id})

        await self._run(body, transaction=False)

    async def promote(self, state: JobState, *, limit: int) -> int:
        """Move up to ``limit`` due scheduled/retry jobs to the back of the queue, each
        once: the rows are locked with SKIP LOCKED and deleted in the same transaction."""
        if state not in (JobState.SCHEDULED, JobState.RETRY):
            raise ValueError(f"only scheduled and retry jobs are promoted, not {state}")
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
        """Re-lease running jobs whose lease ran out; forget long-silent workers."""
        batch = uuid.uuid4().hex
        forget_us = micros(WORKER_FORGET_AFTER_LEASES * lease)

        async def body(session: SqlSession) -> list[Attempt]:
            await session.execute("forget_workers", {"forget_us": forget_us})
            rows = await session.fetch("expired", {"limit": limit})
            if not rows:
                return []
            ids = [row[0] for row in rows]
            await session.execute(
                "lease",
                {"ids": ids, "batch": batch, "lease_us": micros(lease), "worker_id": worker_id},
            )
            return [Attempt(key=str(id_), token=f"{batch}-{id_}", raw=raw) for id_, raw in rows]

        return await self._run(body)
