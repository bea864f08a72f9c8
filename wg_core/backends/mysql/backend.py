"""``MySqlBackend``: the SQL engine's MySQL/MariaDB dialect, on PyMySQL and threads
(the guarantees are listed in the package docstring, ``wg_core.backends.mysql``).

This module is the backend class: URL and settings, its pool of links (``link``), units
of work on them (``sessions``), the two-round-trip claim and acknowledgement, error
translation, and waiting for work through the poller (``poller``).
"""

from __future__ import annotations

import asyncio
import collections
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from functools import partial
from typing import Any, TypeVar

from wg_core.backend import Attempt, Completion, NewJob
from wg_core.backends.common import scrub_exception
from wg_core.backends.mysql.counting import MySqlCountVerbs
from wg_core.backends.mysql.driver import (
    CONFIG_REFUSED,
    DUPLICATE_KEY,
    TRANSIENT,
    UNREACHABLE,
    connect_args,
    load_pymysql,
    server_supports_skip_locked,
)
from wg_core.backends.mysql.link import Link
from wg_core.backends.mysql.poller import Poller
from wg_core.backends.mysql.sessions import (
    ForeignSession,
    Session,
    batched,
    begin,
    claim,
    commit,
    script_counts,
)
from wg_core.backends.sql.base import SqlBackend
from wg_core.backends.sql.kept import kept_id_error, split_completions
from wg_core.backends.sql.session import Body, Row, SqlSession, micros
from wg_core.backends.sql.unique import KeyHeld, keyed_batch, take_new_keys, unique_hold
from wg_core.errors import (
    BackendConfigError,
    BackendError,
    BackendUnavailableError,
    ConfigError,
    DuplicateJobError,
    WgError,
)

__all__ = ["MySqlBackend"]

T = TypeVar("T")


class MySqlBackend(MySqlCountVerbs, SqlBackend):
    """Jobs in MySQL/MariaDB tables ``{namespace}_jobs``, ``_scheduled``, ``_retry``,
    ``_dead`` (+ ``_workers``, ``_meta``).

    ``MySqlBackend("mysql://user:password@host:3306/db", "myapp")``.

    * ``pool_size``: connections (and threads) for this process's units of work; the
      poller has one more of its own.
    * ``min_poll_interval`` (seconds, default 0.001): the poller's cadence while jobs
      flow from other processes (the latency floor for their jobs).
    * ``idle_after`` (default 2.0): seconds without a job found before polling backs off.
    * ``max_poll_interval`` (default 1.0): the slowest cadence the back-off reaches (the
      worst extra latency for the first job into an idle queue from another process).
    """

    SQL_FILE = "mysql.sql"
    # INSERT IGNORE of an existing key takes a shared lock: two producers of one key
    # would then deadlock on its FOR UPDATE. The engine's path (a key with a row)
    # therefore reads the rows locked first, taking the exclusive lock at once
    # (sql/unique.py); the usual enqueue, keys nobody holds, inserts first and rolls
    # back on a key with a row, before any FOR UPDATE (``enqueue``).
    UNIQUE_READ_FIRST = True
    HEARTBEAT_IN_TRANSACTION = False  # no row lock held across round trips (base.py)
    EXTRA_BLOCKS = frozenset(
        {
            "version",
            "probe",
            "enqueue_job",
            "enqueue_unique_job",
            "enqueue_taken",
            "claim_begin",
            "claim_lease",
            "complete_counted",
            "complete_queue",
            "complete_kept",
            "schema_counts",
            "count_rows",
            "count_unlock",
            "counting_off",
            "count_enqueued",
            "counting_on",
            "fold_counts",
            "fold_counts_delete",
            "fold_counts_add",
        }
    )
    KEEPS_COUNTS = True  # {ns}_counts: row triggers, and wg's hot paths count themselves

    def __init__(
        self,
        url: str,
        namespace: str = "wg",
        *,
        pool_size: int = 10,
        min_poll_interval: float = 0.001,
        idle_after: float = 2.0,
        max_poll_interval: float = 1.0,
        connect_timeout: float = 10.0,
    ) -> None:
        super().__init__(url, namespace)
        if pool_size < 1:
            raise ConfigError("pool_size must be at least 1")
        if not 0 < min_poll_interval <= max_poll_interval:
            raise ConfigError("need 0 < min_poll_interval <= max_poll_interval")
        if idle_after < 0:
            raise ConfigError("idle_after must not be negative")
        self._connect_args = connect_args(url, self.display_url, connect_timeout)
        self._claim_sql = (
            self._sql["claim_begin"],
            self._sql["claim_select"],
            self._sql["claim_lease"],
        )
        self._pool_size = pool_size
        self._links: list[Link] = []
        self._idle: asyncio.LifoQueue[Link] | None = None
        # Finds other processes' jobs for the claimers waiting here (see poller.py).
        self._poller = Poller(
            self._sql,
            claim=self._claim_on,
            handles=self._handles,
            wake=self._signal,
            give_back=self._release_soon,
            min_interval=min_poll_interval,
            idle_after=idle_after,
            max_interval=max_poll_interval,
        )

    # -- connections ---------------------------------------------------------------------

    def _new_connection(self) -> Any:
        pymysql = load_pymysql()
        from pymysql.constants import CLIENT

        connection = pymysql.connect(
            **self._connect_args,
            charset="utf8mb4",
            autocommit=True,
            # MULTI_STATEMENTS: the claim sends BEGIN with its SELECT and the lease with
            # its COMMIT (two round trips, not five). Every value is still bound by
            # the driver; the statements are wg's own text.
            client_flag=CLIENT.FOUND_ROWS | CLIENT.MULTI_STATEMENTS,
            init_command="SET time_zone = '+00:00'",
        )
        with connection.cursor() as cursor:
            # For wg's own sessions only: every transaction on them is READ COMMITTED.
            cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        return connection

    async def _connect(self) -> None:
        pymysql = load_pymysql()
        self._idle = asyncio.LifoQueue()
        self._links = []
        link = self._add_link()

        async def version() -> list[Row]:
            return await Session(link, self._sql).fetch("version")

        try:
            [(server_version,)] = await link.run(version)
        except pymysql.err.MySQLError as exc:
            await self._disconnect()
            if isinstance(refused := self._translate(exc), BackendConfigError):
                raise refused from None  # retrying will not help: say so
            raise BackendUnavailableError(
                f"cannot connect to MySQL at {self.display_url}: {scrub_exception(exc, self._url)}"
            ) from None
        if not server_supports_skip_locked(str(server_version)):
            await self._disconnect()
            raise BackendError(
                f"{self.display_url} runs {server_version}, which lacks FOR UPDATE SKIP "
                "LOCKED: wg needs MariaDB 10.6+ or MySQL 8.0.1+"
            )
        self._idle.put_nowait(link)
        self._poller.start(Link(self._new_connection, "wg-mysql-poller"))

    def _add_link(self) -> Link:
        link = Link(self._new_connection)
        self._links.append(link)
        return link

    async def _disconnect(self) -> None:
        links, self._links = self._links, []
        self._idle = None
        poller = self._poller.stop()
        if poller is not None:
            links.append(poller)
        for link in links:
            await asyncio.to_thread(link.close)

    async def _checkout(self) -> Link:
        if self._idle is None:
            raise BackendError(f"{self!r} is not open: call open() first")
        if self._idle.empty() and len(self._links) < self._pool_size:
            return self._add_link()
        return await self._idle.get()

    def _checkin(self, link: Link) -> None:
        if self._idle is not None and link in self._links:
            self._idle.put_nowait(link)

    async def _unit(
        self, body: Callable[[SqlSession], Awaitable[T]], *, transaction: bool, durable: bool
    ) -> T:
        # InnoDB's flush policy is server-wide (innodb_flush_log_at_trx_commit): every
        # commit here is as durable as the server is configured to make it.
        link = await self._checkout()

        async def work() -> T:
            # On the link's thread: BEGIN, the body's statements and COMMIT in one hop.
            session = Session(link, self._sql)
            if not transaction:
                return await body(session)
            link.call(begin)
            try:
                result = await body(session)
                link.call(commit)
            except BaseException:
                link.rollback()
                raise
            return result

        try:
            return await link.run(work)
        finally:
            self._checkin(link)

    @asynccontextmanager
    async def _foreign(self, connection: object) -> AsyncIterator[SqlSession]:
        pymysql = load_pymysql()
        if not isinstance(connection, pymysql.connections.Connection):
            raise TypeError(
                f"MySqlBackend enqueues through a PyMySQL connection, not "
                f"{type(connection).__name__}"
            )
        yield ForeignSession(connection, self._sql)

    async def enqueue(
        self, jobs: Sequence[NewJob], *, connection: object | None = None
    ) -> list[str]:
        """Store ``jobs`` (the engine's ``enqueue``). One job to queue now with a unique
        key nobody holds, on wg's own connections (the one-at-a-time unique producer's
        call), is one multi-statement transaction: one round trip, one commit
        (``enqueue_unique_job``); a key with a row takes the engine's path."""
        if connection is None and len(jobs) == 1:
            job = jobs[0]
            if job.unique_key is not None and job.delay <= 0 and job.limit_key is None:
                params = {
                    "raw": job.raw,
                    "job_id": job.job_id,
                    "job_name": job.job_name,
                    "queue": job.queue,
                    "priority": job.priority,
                    **unique_hold(job),
                }
                sql = self._sql["enqueue_unique_job"]

                async def body(session: SqlSession) -> int:
                    assert isinstance(session, Session)
                    # START TRANSACTION, the key, SET, the job, COMMIT: the job's count.
                    return session.call(script_counts, sql, params, True)[3]

                if await self._run(body, transaction=False):
                    self._signal()
                    return [job.job_id]
        elif connection is None and keyed_batch(jobs):
            # Keys nobody holds (the usual batch): the keys' rows in one statement, then
            # the jobs, with no locked read of the keys first; a key with a row rolls
            # the transaction back, and the engine's path settles the batch.
            try:
                await self._run(partial(self._enqueue_keyed, jobs))
            except KeyHeld:
                pass
            else:
                self._signal()
                return [job.job_id for job in jobs]
        return await super().enqueue(jobs, connection=connection)

    async def _enqueue_keyed(self, jobs: Sequence[NewJob], session: SqlSession) -> None:
        """Take every key of ``jobs`` and store them, or raise ``KeyHeld``."""
        await take_new_keys(session, jobs)
        await self._insert(session, "enqueue_jobs", jobs)

    async def _insert(self, session: SqlSession, block: str, jobs: Sequence[NewJob]) -> None:
        rows = [
            {
                "raw": job.raw,
                "job_id": job.job_id,
                "job_name": job.job_name,
                "delay_us": micros(job.delay),
                "queue": job.queue,
                "priority": job.priority,
            }
            for job in jobs
        ]
        # PyMySQL turns executemany of a plain INSERT ... VALUES into multi-row INSERTs
        # of up to 1 MB each; enqueue_scheduled computes due times on the server, row by
        # row. A batch of several jobs therefore runs inside a transaction (the base
        # class opens one: ONE_STATEMENT_BATCHES is False).
        assert isinstance(session, Session | ForeignSession)
        if len(rows) == 1:
            # One statement, no executemany rewriting: it stores nothing when the id is
            # kept in {ns}_finished.
            one = "enqueue_job" if block == "enqueue_jobs" else block
            if not await session.execute(one, rows[0]):
                raise kept_id_error(jobs[0].job_id)
            return
        await self._refuse_kept(session, jobs)  # in the batch's transaction
        if block != "enqueue_jobs" or not isinstance(session, Session):
            await session.execute_many(block, rows)  # counted by the triggers, row by row
            return
        # The batch counts itself, one row per queue, instead of one trigger's upsert per
        # job (several times the INSERT's own cost on MariaDB; sql/counting.py).
        await session.execute("counting_off")
        try:
            await session.execute_many(block, rows)
        finally:
            await session.execute("counting_on")
        per_queue = collections.Counter(job.queue for job in jobs)
        moves = [{"queue": queue, "n": n} for queue, n in sorted(per_queue.items())]
        await session.execute("count_enqueued", {"moves": json.dumps(moves)})

    async def _claim_now(
        self, limit: int, lease: float, worker_id: str, queues: tuple[str, ...]
    ) -> list[Attempt]:
        # The shared claim's statements, pipelined into two round trips (one more per
        # further queue a short batch is filled from), in one function on the link's
        # thread: START TRANSACTION + the locking SELECT (with the pause checks), then
        # the lease UPDATE + COMMIT (see claim_begin in mysql.sql).
        async def body(session: SqlSession) -> list[Attempt]:
            assert isinstance(session, Session)
            return session.call(self._claim_on, limit, lease, worker_id, queues)

        return await self._run(body, transaction=False)

    def _claim_on(
        self, connection: Any, limit: int, lease: float, worker_id: str, queues: Sequence[str]
    ) -> list[Attempt]:
        """The claim on ``connection`` (a link's thread: a pooled one or the poller's)."""
        batch = uuid.uuid4().hex
        params = {"limit": limit, "batch": batch, "lease_us": micros(lease), "worker_id": worker_id}
        rows = claim(connection, self._claim_sql, params, queues)
        return [
            Attempt(key=str(id_), token=f"{batch}-{id_}", raw=raw, queue=queue)
            for id_, raw, queue in rows
        ]

    async def complete(self, attempts: Sequence[Attempt | Completion]) -> int:
        """Finish jobs still held under their tokens and count them as processed (the
        shared verb's transaction, in one round trip): deleted (``complete_counted``),
        or those with a ``keep`` stored with their results (``complete_kept``)."""
        if not attempts:
            return 0
        held, kept = split_completions(attempts)
        params: dict[str, Any] = {**self._handles(held), "shard": self._shard()}
        sql = self._sql["complete_counted"]
        opening = 1  # START TRANSACTION
        if kept:
            sql = self._sql["complete_kept"]
            opening = 3  # START TRANSACTION, the locking SELECT, the finished rows' REPLACE
            params["kept"] = json.dumps(
                [
                    # Matched by token too: a batch may hold a stale attempt of a job.
                    {
                        "id": int(item.attempt.key),
                        "token": item.attempt.token,
                        "keep_us": micros(item.keep),
                    }
                    # A JSON null may read back as the text 'null': leave the key out.
                    | ({} if item.result is None else {"result": item.result})
                    for item in kept
                ]
            )
        # Then each queue's DELETE and counter (complete_queue, its parameters numbered):
        # the DELETE's row count is that queue's count, read by no locking SELECT.
        groups: dict[str, list[Attempt]] = {}
        for attempt in held:
            groups.setdefault(attempt.queue, []).append(attempt)
        parts = [sql]
        for i, (queue, group) in enumerate(groups.items()):
            parts.append(self._sql["complete_queue"].replace("{i}", str(i)))
            params[f"ids{i}"] = [int(attempt.key) for attempt in group]
            params[f"tokens{i}"] = [attempt.token for attempt in group]
            params[f"queue{i}"] = queue
        sql = ";\n".join(part.strip().rstrip(";") for part in parts)

        async def body(session: SqlSession) -> int:
            assert isinstance(session, Session)
            # The opening statements, then per queue SET, DELETE, SET, INSERT, INSERT
            # (then COMMIT): the sum of the DELETEs' counts.
            try:
                counts = session.call(script_counts, sql, params)
            except BaseException:
                # Stopped between complete_queue's SET @wg_counting = 1 and its reset
                # (a DELETE that failed): the triggers must count this connection again.
                with suppress(Exception):  # a dead connection is dropped anyway
                    await session.execute("counting_on")
                raise
            return sum(counts[opening + 1 :: 5])

        done = await self._run(body, transaction=False)
        if kept:
            self._finished.wake()
        # This process's claimers of a limited queue at once (other processes' see the
        # poller's mark change).
        await self._slots_freed(attempt.queue for attempt in held)
        return done

    def connection_ids(self) -> list[int]:
        """Server-side ids of this backend's open connections (``KILL`` targets)."""
        poller = self._poller.link
        links = [*self._links, *([poller] if poller is not None else [])]
        return [cid for link in links if (cid := link.connection_id()) is not None]

    # -- errors --------------------------------------------------------------------------

    def _translate(self, exc: BaseException) -> WgError | None:
        pymysql = load_pymysql()
        if not isinstance(exc, pymysql.err.MySQLError):
            return None
        code = exc.args[0] if exc.args else 0
        message = scrub_exception(exc, self._url)  # and the driver's own text, chained
        if isinstance(exc, pymysql.err.InterfaceError) or code in UNREACHABLE:
            return BackendUnavailableError(f"MySQL at {self.display_url}: {message}")
        if code in CONFIG_REFUSED:
            return BackendConfigError(
                f"MySQL at {self.display_url} refuses this configuration: {message}"
            )
        if code == DUPLICATE_KEY:
            return DuplicateJobError(f"job id already stored: {message}")
        return BackendError(f"MySQL at {self.display_url}: {message}")

    def _is_transient(self, exc: BaseException) -> bool:
        pymysql = load_pymysql()
        return isinstance(exc, pymysql.err.MySQLError) and bool(
            exc.args and exc.args[0] in TRANSIENT
        )

    # -- waiting for work ----------------------------------------------------------------

    async def _claim_unit(self, body: Body[list[Attempt]]) -> list[Attempt]:
        # The limited claim (sql/limiting.py) as a BatchedTransaction: three round trips.
        return await self._run(partial(batched, body), transaction=False, durable=False)

    def _claim_succeeded(self, found: bool) -> None:
        if found:
            self._poller.found_jobs()

    async def _wait_for_work(
        self,
        timeout: float,
        generation: int,
        limit: int,
        lease: float,
        worker_id: str,
        queues: Sequence[str],
    ) -> list[Attempt]:
        # The shared claim's wait, except that while it waits the poller may claim for
        # it (see poller.py): those jobs come back from here.
        if self._wake_generation != generation:
            return []  # woken while the claim ran: look again at once
        return await self._poller.wait(timeout, limit, lease, worker_id, tuple(queues))

    def _release_soon(self, attempts: list[Attempt]) -> None:
        """Release ``attempts`` in the background (close() waits for it), as a
        cancelled claim's are."""
        release = asyncio.ensure_future(self.release(attempts))
        self._orphans.add(release)
        release.add_done_callback(self._orphan_done)

    def _signal(self) -> None:
        """Wake this process's idle claimers, those waiting for the poller too (they
        look for themselves; the poller no longer claims for them)."""
        super()._signal()
        self._poller.wake_all()
