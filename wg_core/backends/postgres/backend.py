"""``PostgresBackend``: the PostgreSQL dialect of the SQL engine (see the package docstring)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from wg_core.backend import Attempt, Completion, NewJob
from wg_core.backends.common import scrub_exception
from wg_core.backends.postgres.driver import check_url, load_psycopg, query, refuses_config
from wg_core.backends.postgres.limited import PipelinedLimits
from wg_core.backends.postgres.pools import pool_class
from wg_core.backends.postgres.sessions import Session, ThreadSession
from wg_core.backends.sql.counting import FOLDED
from wg_core.backends.sql.kept import kept_id_error, split_completions
from wg_core.backends.sql.session import Row, SqlSession, micros
from wg_core.backends.sql.unique import KeyHeld, keyed_batch, unique_hold
from wg_core.errors import (
    BackendConfigError,
    BackendError,
    BackendUnavailableError,
    ConfigError,
    DuplicateJobError,
    WgError,
)
from wg_core.records import claimed_attempt

if TYPE_CHECKING:
    import psycopg
    import psycopg_pool

__all__ = ["PostgresBackend"]


def _columns(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """The engine's rows of import parameters as the arrays the PostgreSQL blocks take,
    one per parameter, of the same name."""
    return {name: [row[name] for row in rows] for name in rows[0]} if rows else {}


T = TypeVar("T")

logger = logging.getLogger("wg.postgres")


class PostgresBackend(PipelinedLimits):
    """Jobs in PostgreSQL tables ``{namespace}_jobs``, ``_scheduled``, ``_retry``,
    ``_dead`` (+ ``_workers``, ``_meta``).

    ``PostgresBackend("postgresql://user@host/db", "myapp")``; then ``Client(backend)``
    or ``WorkerPool(backend=backend)``. ``pool_size``: connections for this process
    (size it to the worker concurrency); ``poll_interval``: seconds between polls while
    the LISTEN connection is down.
    """

    SQL_FILE = "postgres.sql"
    ONE_STATEMENT_BATCHES = True  # unnest() of arrays: any batch is one INSERT
    ANNOUNCES_FREED = True  # a freed slot of a limited queue is NOTIFYed
    KEEPS_COUNTS = True  # {ns}_counts, kept by statement-level triggers (sql/counting.py)
    HEARTBEAT_IN_TRANSACTION = False  # no row lock held across round trips (base.py)
    EXTRA_BLOCKS = frozenset(
        {
            "claim",
            "enqueue_taken",
            "enqueue_unique_job",
            "enqueue_unique_jobs",
            "claim_queues",
            "limit_lease",
            "complete_counted",
            "complete_kept",
            "retry_counted",
            "bury_counted",
            "listen",
            "notify",
            "notify_finished",
            "notify_cancel",
            "enqueue_job",
            "prune",
            "schema_counts",
            "fold_counts",
        }
    )

    def __init__(
        self,
        url: str,
        namespace: str = "wg",
        *,
        pool_size: int = 10,
        poll_interval: float = 1.0,
        connect_timeout: float = 10.0,
        application_name: str | None = None,
    ) -> None:
        super().__init__(url, namespace)
        check_url(url, self.display_url)
        if pool_size < 1:
            raise ConfigError("pool_size must be at least 1")
        self._pool_size = pool_size
        self._poll_interval = poll_interval
        self._connect_timeout = connect_timeout
        self._application_name = application_name or f"wg:{self.namespace}"
        self._pool: psycopg_pool.AsyncConnectionPool[Any] | None = None
        self._lease_pool: psycopg_pool.AsyncConnectionPool[Any] | None = None
        self._checks: set[asyncio.Task[None]] = set()
        self._listener: asyncio.Task[None] | None = None
        self._listening = False
        self._listener_ready: asyncio.Event | None = None
        self._producer_cursors: dict[psycopg.AsyncConnection[Any], psycopg.AsyncCursor[Any]] = {}

    # -- connections ---------------------------------------------------------------------

    def _connect_kwargs(self) -> dict[str, Any]:
        return {
            "autocommit": True,
            "application_name": self._application_name,
            "connect_timeout": max(1, round(self._connect_timeout)),
        }

    async def _connect(self) -> None:
        psycopg, _ = load_psycopg()  # both installed, or a message saying what to install
        # Connect once directly first: a refused connection or a bad password gives its
        # real message here, instead of a pool timeout later.
        try:
            probe = await psycopg.AsyncConnection.connect(self._url, **self._connect_kwargs())
        except psycopg.Error as exc:
            message = scrub_exception(exc, self._url)
            if refuses_config(exc):  # retrying will not help: say so
                raise BackendConfigError(
                    f"PostgreSQL at {self.display_url} refuses this configuration: {message}"
                ) from None
            raise BackendUnavailableError(
                f"cannot connect to PostgreSQL at {self.display_url}: {message}"
            ) from None
        await probe.close()
        pool = pool_class()(
            self._url,
            min_size=min(2, self._pool_size),
            max_size=self._pool_size,
            kwargs=self._connect_kwargs(),
            open=False,
            timeout=self._connect_timeout,
            name=self._application_name,
        )
        await pool.open()
        self._pool = pool
        # Claims commit without waiting for the WAL flush (synchronous_commit=off) on a
        # small pool of their own. A server crash may forget a claim made in its last
        # moments; the job is then simply queued again and runs again: at-least-once,
        # as after a worker crash. Everything else (enqueue, complete, retry, bury...)
        # commits durably. This removes one fsync wait from every claim.
        lease_pool = pool_class()(
            self._url,
            min_size=1,
            max_size=2,
            kwargs={**self._connect_kwargs(), "options": "-c synchronous_commit=off"},
            open=False,
            timeout=self._connect_timeout,
            name=f"{self._application_name}:lease",
        )
        await lease_pool.open()
        self._lease_pool = lease_pool

    async def _disconnect(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
        self._listening = False
        self._listener_ready = None
        for pool in (self._pool, self._lease_pool):
            if pool is not None:
                await pool.close()
        self._pool = self._lease_pool = None
        self._producer_cursors.clear()

    def _require_pool(self, *, durable: bool = True) -> psycopg_pool.AsyncConnectionPool[Any]:
        pool = self._pool if durable else self._lease_pool
        if pool is None:
            raise BackendError(f"{self!r} is not open: call open() first")
        return pool

    async def _unit(
        self, body: Callable[[SqlSession], Awaitable[T]], *, transaction: bool, durable: bool
    ) -> T:
        # Pool connections are in autocommit mode: a single statement needs no BEGIN.
        async with self._require_pool(durable=durable).connection() as connection:
            if not transaction:
                return await body(Session(connection, self._sql))
            async with connection.transaction():
                return await body(Session(connection, self._sql))

    @asynccontextmanager
    async def _foreign(self, connection: object) -> AsyncIterator[SqlSession]:
        psycopg, _ = load_psycopg()
        if isinstance(connection, psycopg.AsyncConnection):
            yield Session(connection, self._sql)
        elif isinstance(connection, psycopg.Connection):
            yield ThreadSession(connection, self._sql)
        else:
            raise TypeError(
                "PostgresBackend enqueues through a psycopg (3) connection, "
                f"not {type(connection).__name__}"
            )

    async def _import_rows(
        self, session: SqlSession, block: str, rows: Sequence[dict[str, Any]]
    ) -> int:
        # One statement for the page: its columns as arrays (see the import blocks).
        return await session.execute(block, _columns(rows))

    async def _insert(self, session: SqlSession, block: str, jobs: Sequence[NewJob]) -> None:
        if block == "enqueue_jobs" and len(jobs) == 1:
            # One-at-a-time enqueue, the most common call: three scalars are much cheaper
            # to adapt than three one-element binary arrays (same INSERT and NOTIFY).
            [job] = jobs
            if not await session.execute("enqueue_job", self._job_params(job)):
                raise kept_id_error(job.job_id)
            return
        job_ids = [job.job_id for job in jobs]
        stored = await session.execute(
            block,
            {
                "raws": [job.raw for job in jobs],
                "job_ids": job_ids,
                "job_names": [job.job_name for job in jobs],
                "delays_us": [micros(job.delay) for job in jobs],
                "queues": [job.queue for job in jobs],
                "priorities": [job.priority for job in jobs],
            },
        )
        if not stored:  # one of the ids is kept in {ns}_finished: the block stored nothing
            await self._refuse_kept(session, jobs)  # raises, naming it
            raise kept_id_error(job_ids[0])  # deleted meanwhile: still refused

    @staticmethod
    def _job_params(job: NewJob) -> dict[str, Any]:
        return {
            "raw": job.raw,
            "job_id": job.job_id,
            "job_name": job.job_name,
            "queue": job.queue,
            "priority": job.priority,
        }

    async def enqueue(
        self, jobs: Sequence[NewJob], *, connection: object | None = None
    ) -> list[str]:
        """Store ``jobs`` in one transaction (the caller's, with ``connection``).

        One job to queue now, on wg's own connections (the one-at-a-time producer's
        call), is a single autocommit statement on a connection taken straight from the
        pool: one round trip and one (durable) commit, without the retry machinery that
        several-statement units need."""
        if (
            connection is None
            and len(jobs) == 1
            and jobs[0].delay <= 0
            and jobs[0].limit_key is None
        ):
            job = jobs[0]
            if job.unique_key is None:
                if not await self._enqueue_one("enqueue_job", self._job_params(job)):
                    raise kept_id_error(job.job_id)
                self._signal()
                return [job.job_id]
            # A key nobody holds: one statement too. Else the engine's transaction.
            params = {**self._job_params(job), **unique_hold(job)}
            if await self._enqueue_one("enqueue_unique_job", params):
                self._signal()
                return [job.job_id]
        elif connection is None and keyed_batch(jobs):
            # Keys nobody holds: one statement too (enqueue_unique_jobs), in a
            # transaction rolled back when a key has a row. Else the engine's path.
            try:
                await self._run(partial(self._enqueue_keyed, jobs))
            except KeyHeld:
                pass
            else:
                self._signal()
                return [job.job_id for job in jobs]
        return await super().enqueue(jobs, connection=connection)

    async def _enqueue_keyed(self, jobs: Sequence[NewJob], session: SqlSession) -> None:
        """Store ``jobs`` (see ``_keyed_batch``) and take their keys, or raise
        ``KeyHeld`` (storing nothing once the transaction is rolled back)."""
        params = {
            "raws": [job.raw for job in jobs],
            "job_ids": [job.job_id for job in jobs],
            "job_names": [job.job_name for job in jobs],
            "queues": [job.queue for job in jobs],
            "priorities": [job.priority for job in jobs],
            "keys": [job.unique_key for job in jobs],
            "holds_us": [micros(job.unique_for) for job in jobs],
        }
        if not await session.execute("enqueue_unique_jobs", params):
            raise KeyHeld

    async def _enqueue_one(self, block: str, params: dict[str, Any]) -> int:
        """Run ``block`` for one job on a pooled connection's kept cursor: the rows it
        returned (1: stored)."""
        if not self._opened:
            raise BackendError(f"{self!r} is not open: call open() first")
        pool = self._require_pool()
        try:
            conn = await pool.getconn()
            try:
                cursor = self._producer_cursors.get(conn)
                if cursor is None:
                    cursor = self._producer_cursor(conn)
                # Not shielded from cancellation as _run's units are (the extra task
                # and loop turns cost more CPU than the rest of wg's share of the
                # call): cancelled mid-statement, psycopg cancels the query on the
                # server and waits (at most ~10 s) for it to end, so the connection
                # goes back to the pool idle. The job is then stored or not, and the
                # caller was told neither.
                await cursor.execute(query(self._sql[block]), params)
                stored = cursor.rowcount
            finally:
                await pool.putconn(conn)
        except Exception as exc:
            translated = self._wg_error(exc)
            if translated is None:
                raise
            raise translated from exc
        return stored

    def _producer_cursor(
        self, connection: psycopg.AsyncConnection[Any]
    ) -> psycopg.AsyncCursor[Any]:
        # One cursor per pooled connection, kept for single enqueues: a new cursor per
        # call (connection.execute) costs ~20 us of adapter set-up, a tenth of the
        # whole call. Connections the pool has closed since are forgotten here.
        for stale in [conn for conn in self._producer_cursors if conn.closed]:
            del self._producer_cursors[stale]
        cursor = self._producer_cursors[connection] = connection.cursor()
        return cursor

    async def _announce(self, session: SqlSession) -> None:
        await session.fetch("notify")

    async def _announce_finished(self, session: SqlSession) -> None:
        await session.fetch("notify_finished")

    async def _announce_cancel(self, session: SqlSession) -> None:
        await session.fetch("notify_cancel")

    # -- errors --------------------------------------------------------------------------

    def _translate(self, exc: BaseException) -> WgError | None:
        psycopg, psycopg_pool = load_psycopg()
        if not isinstance(exc, psycopg.Error):  # PoolTimeout is one too
            return None
        message = scrub_exception(exc, self._url)  # and the driver's own text, chained
        if isinstance(exc, psycopg_pool.PoolTimeout):
            return BackendUnavailableError(
                f"no PostgreSQL connection available at {self.display_url}: {message}"
            )
        if refuses_config(exc):
            return BackendConfigError(
                f"PostgreSQL at {self.display_url} refuses this configuration: {message}"
            )
        if isinstance(exc, psycopg.OperationalError):
            # Connections may have died together (server restart, terminated backends):
            # have the pool test its idle ones now rather than fail on each in turn.
            for pool in (self._pool, self._lease_pool):
                if pool is not None:
                    check = asyncio.get_running_loop().create_task(self._check_pool(pool))
                    self._checks.add(check)  # keep a reference until it is done
                    check.add_done_callback(self._checks.discard)
            return BackendUnavailableError(f"PostgreSQL at {self.display_url}: {message}")
        if isinstance(exc, psycopg.errors.UniqueViolation):
            return DuplicateJobError(f"job id already stored: {exc.diag.message_detail or message}")
        return BackendError(f"PostgreSQL at {self.display_url}: {message}")

    @staticmethod
    async def _check_pool(pool: psycopg_pool.AsyncConnectionPool[Any]) -> None:
        try:
            await pool.check()
        except Exception:  # the pool may be closing; nothing to recover here
            logger.debug("pool check failed", exc_info=True)

    def _is_transient(self, exc: BaseException) -> bool:
        psycopg, _ = load_psycopg()
        return isinstance(
            exc,
            psycopg.errors.DeadlockDetected
            | psycopg.errors.SerializationFailure
            | psycopg.errors.LockNotAvailable,
        )

    # -- hot paths in one statement ------------------------------------------------------

    async def _claim_now(
        self, limit: int, lease: float, worker_id: str, queues: tuple[str, ...]
    ) -> list[Attempt]:
        batch = uuid.uuid4().hex
        params: dict[str, Any] = {
            "limit": limit,
            "batch": batch,
            "lease_us": micros(lease),
            "worker_id": worker_id,
        }
        if len(queues) == 1:  # a pool serving one queue (the common case): no array
            block, params["queue"] = "claim", queues[0]
        else:
            block, params["queues"] = "claim_queues", list(queues)

        async def body(session: SqlSession) -> list[Row]:
            return await session.fetch(block, params)

        # Rows in the claim's order (queue order, priority DESC, then id), the id as
        # text: the attempt's key, and its token's tail (the SQL builds the same one).
        rows = await self._run(body, transaction=False, durable=False)
        prefix = batch + "-"
        if len(queues) == 1:
            queue = queues[0]
            return [claimed_attempt(key, prefix + key, raw, queue) for key, raw in rows]
        return [claimed_attempt(key, prefix + key, raw, queue) for key, raw, queue in rows]

    async def complete(self, attempts: Sequence[Attempt | Completion]) -> int:
        """Finish jobs still held under their tokens and count them, in one statement:
        deleted (``complete_counted``), or those with a ``keep`` stored with their
        results and the finished channel notified (``complete_kept``); either notifies
        the jobs channel if it freed a limited queue's slot."""
        if not attempts:
            return 0
        held, kept = split_completions(attempts)
        params = {**self._handles(held), "shard": self._shard()}
        block = "complete_counted"
        if kept:
            block = "complete_kept"
            params["kept_ids"] = [int(item.attempt.key) for item in kept]
            # Matched by token too: a batch may hold a stale attempt of the same job.
            params["kept_tokens"] = [item.attempt.token for item in kept]
            params["results"] = [item.result for item in kept]
            params["keeps_us"] = [micros(item.keep) for item in kept]

        async def body(session: SqlSession) -> list[Row]:
            return await session.fetch(block, params)

        [row] = await self._run(body, transaction=False)
        if kept:
            self._finished.wake()
        # Other processes were notified by the statement itself if it freed a slot.
        self._slots_freed_here(attempt.queue for attempt in held)
        return int(row[0])

    async def retry(self, attempt: Attempt, *, raw: str, delay: float, error: str | None) -> bool:
        """RUNNING → RETRY due in ``delay`` seconds, ``failed += 1``, in one statement."""
        return await self._fail_now(
            "retry_counted", attempt, {"raw": raw, "delay_us": micros(delay), "last_error": error}
        )

    async def bury(self, attempt: Attempt, *, raw: str, error: str | None) -> bool:
        """RUNNING → DEAD, ``failed += 1``, in one statement."""
        return await self._fail_now("bury_counted", attempt, {"raw": raw, "last_error": error})

    async def _fail_now(self, block: str, attempt: Attempt, params: dict[str, Any]) -> bool:
        values = {
            **params,
            "id": int(attempt.key),
            "token": attempt.token,
            "shard": self._shard(),
        }

        async def body(session: SqlSession) -> list[Row]:
            return await session.fetch(block, values)

        [(moved, ended)] = await self._run(body, transaction=False)
        if ended:  # buried, or cancelled instead of retried
            self._finished.wake()
        await self._slots_freed((attempt.queue,))
        return bool(moved)

    async def prune(self, *, limit: int) -> int:
        """Delete up to ``limit`` expired finished jobs in one statement (SKIP LOCKED:
        each by one pruner), up to ``limit`` unique keys' holds nobody holds any more
        in another (``sql/unique.py``), and the state counts of sessions gone folded
        in a third (``sql/counting.py``)."""

        async def body(session: SqlSession) -> int:
            await session.execute("unique_forget", {"limit": limit})
            await session.execute("fold_counts", {"limit": FOLDED})
            return await session.execute("prune", {"limit": limit})

        pruned = await self._run(body, transaction=False)
        await self._prune_limit_keys()
        return pruned
