"""``SqliteBackend``: the SQL engine's SQLite dialect (see the package docstring)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, Final, Literal, Self, TypeVar

from wg_core.backend import Attempt, Completion, NewJob
from wg_core.backends.sql.kept import split_completions
from wg_core.backends.sql.schema import SQLITE_COLUMNS, SQLITE_V3_COLUMNS
from wg_core.backends.sql.session import Body, SqlSession, drive, micros
from wg_core.backends.sql.unique import unique_hold
from wg_core.backends.sqlite.claiming import SqliteClaims
from wg_core.backends.sqlite.connection import Call, ConnectionThread
from wg_core.backends.sqlite.database import MEMORY, connect, parse_url, translate_error
from wg_core.backends.sqlite.inserts import IdLookups, insert_new, job_row
from wg_core.backends.sqlite.prepared import PreparedBlocks
from wg_core.backends.sqlite.session import SqliteSession
from wg_core.backends.sqlite.wakeups import Wakeups, wakeups_for
from wg_core.backends.sqlite.watcher import CommitWatcher
from wg_core.errors import (
    BackendError,
    ConfigError,
    DuplicateJobError,
    WgError,
)
from wg_core.queues import DEFAULT_QUEUE

__all__ = ["MIN_SQLITE_VERSION", "SqliteBackend"]

MIN_SQLITE_VERSION: Final = (3, 35, 0)
"""``UPDATE … RETURNING`` appeared in SQLite 3.35."""

T = TypeVar("T")


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


class SqliteBackend(SqliteClaims):
    """Jobs in an SQLite database file, shared by every process on this machine.

    ``url``: ``sqlite:jobs.db`` (relative to the working directory), ``sqlite:///abs.db``,
    ``sqlite::memory:``, or a plain path. ``busy_timeout``: how long a write waits for
    another process's write lock before failing. ``synchronous``: ``"full"`` (default:
    an acknowledged job survives power loss) or ``"normal"`` (faster; the last
    transactions may be lost on power loss, never corrupted). ``poll_interval``: how
    often an idle claimer looks for commits made by other processes. ``clock``: Unix
    seconds for due times and leases (injectable for tests).
    """

    SQL_FILE = "sqlite.sql"
    EXTRA_BLOCKS = frozenset(
        {
            "pragma_wal",
            "pragma_synchronous_full",
            "pragma_synchronous_normal",
            "pragma_query_only",
            "pragma_cache_size",
            "pragma_wal_autocheckpoint",
            "data_version",
            "claim",
            "bump_default",
            "complete_queue",
            "complete_kept",
            "enqueue_job",
            "table_spans",
            "job_ids_in",
            "ids_taken_in",
        }
    )
    COLUMNS = SQLITE_COLUMNS
    V3_UPGRADES = SQLITE_V3_COLUMNS
    DDL_IN_TRANSACTION = True  # BEGIN IMMEDIATE is SQLite's schema lock
    LOCKS_ROWS = False  # every write transaction holds the database's write lock
    UNITS_OUTLIVE_CALLERS = True  # a submitted Call runs to its end (connection.py)

    def __init__(
        self,
        url: str | os.PathLike[str] = "sqlite:wg.db",
        namespace: str = "wg",
        *,
        clock: Callable[[], float] = time.time,
        busy_timeout: float = 5.0,
        synchronous: Literal["full", "normal"] = "full",
        poll_interval: float = 0.005,
    ) -> None:
        path = parse_url(url)
        super().__init__(f"sqlite:{path}", namespace)
        if synchronous not in ("full", "normal"):
            raise ConfigError(f"synchronous must be 'full' or 'normal', not {synchronous!r}")
        if busy_timeout < 0 or poll_interval <= 0:
            raise ConfigError("busy_timeout must be >= 0 and poll_interval > 0")
        self._path = path
        self._in_memory = path == MEMORY
        self._clock = clock
        self._busy_timeout = busy_timeout
        self._synchronous = synchronous
        self._poll_interval = poll_interval
        self._ids = IdLookups(self._sql)
        self._blocks = PreparedBlocks(self._sql)
        # One session per connection (each used by its own thread only), reused by
        # every unit of work there: a unit only sets its clock reading.
        self._sessions: dict[sqlite3.Connection, SqliteSession] = {}
        # An in-memory database is private to this backend (one connection holds it)
        # and to its clones.
        self._share(Wakeups() if self._in_memory else wakeups_for(path, self.namespace))
        self._writer: ConnectionThread | None = None
        self._reader: ConnectionThread | None = None
        self._watcher: CommitWatcher | None = None
        self._memory_origin: SqliteBackend | None = None

    @classmethod
    def in_memory(cls, namespace: str = "wg", **options: Any) -> SqliteBackend:
        """A backend on a private in-memory database (tests; lost when closed)."""
        return cls(MEMORY, namespace, **options)

    # -- properties ----------------------------------------------------------------------

    @property
    def display_url(self) -> str:
        """``sqlite:PATH`` or ``sqlite::memory:``."""
        return "sqlite::memory:" if self._in_memory else f"sqlite:{self._path}"

    @property
    def path(self) -> Path | None:
        """The database file, or ``None`` in memory."""
        return None if self._in_memory else Path(self._path)

    @property
    def supports_transactional_enqueue(self) -> bool:
        """SQLite has no connection of yours to write through."""
        return False

    def clone(self) -> Self:
        """A new, unopened backend on the same file (in memory: on this backend's own
        database and connection threads, which stay this backend's to close)."""
        twin = super().clone()
        if self._in_memory:
            twin._memory_origin = self._memory_origin or self
            twin._share(self._wakeups)
        return twin

    def _share(self, wakeups: Wakeups) -> None:
        """Use ``wakeups``, which the other backends on this database use too."""
        self._wakeups = wakeups
        self._waiters = wakeups.waiters
        self._finished = wakeups.finished
        self._cancels = wakeups.cancels

    # -- connections ---------------------------------------------------------------------

    async def _connect(self) -> None:
        await self._connect_for(create=True)

    async def _connect_for(self, *, create: bool) -> None:
        if sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
            need = ".".join(map(str, MIN_SQLITE_VERSION))
            raise BackendError(
                f"wg needs SQLite >= {need} (for UPDATE ... RETURNING); this Python uses "
                f"SQLite {sqlite3.sqlite_version}"
            )
        origin = self._memory_origin
        if origin is not None:
            if origin._writer is None:
                raise BackendError(f"{origin!r}, whose in-memory database this is, is not open")
            self._writer = self._reader = origin._writer
            return
        try:
            await self._start_connections(create)
        except sqlite3.Error as exc:
            await self._stop_connections()
            raise (self._translate(exc) or BackendError(str(exc))) from exc
        except BaseException:
            await self._stop_connections()
            raise

    async def _start_connections(self, create: bool) -> None:
        writes = [
            self._sql[f"pragma_synchronous_{self._synchronous}"],
            self._sql["pragma_cache_size"],
            self._sql["pragma_wal_autocheckpoint"],
        ]
        lazy_sync = None
        if not self._in_memory:
            if create:  # a reader never changes the file's journal mode
                writes.insert(0, self._sql["pragma_wal"])
            if self._synchronous == "full":
                lazy_sync = (
                    self._sql["pragma_synchronous_normal"],
                    self._sql["pragma_synchronous_full"],
                )
        opener = partial(connect, self._path, create=create, busy_timeout=self._busy_timeout)
        writer = ConnectionThread(
            "wg-sqlite-write",
            partial(opener, write=True, pragmas=writes),
            lazy_sync=lazy_sync,
        )
        self._writer = writer
        await writer.start()
        if self._in_memory:
            self._reader = writer  # one connection holds the whole database
            return
        reads = [self._sql["pragma_query_only"]]
        reader = ConnectionThread("wg-sqlite-read", partial(opener, write=False, pragmas=reads))
        self._reader = reader
        await reader.start()

    async def _stop_connections(self) -> None:
        writer, reader, watcher = self._writer, self._reader, self._watcher
        self._writer = self._reader = None
        self._watcher = None
        if watcher is not None:
            await watcher.stop()
        if self._memory_origin is None:  # else the origin's threads: the origin stops them
            for thread in {id(t): t for t in (reader, writer) if t is not None}.values():
                await thread.stop()
        self._sessions.clear()

    async def _disconnect(self) -> None:
        await self._stop_connections()

    # -- running units of work -----------------------------------------------------------

    def _now_ms(self) -> int:
        return _ms(self._clock())

    async def _call(
        self,
        thread: ConnectionThread | None,
        body: Body[T],
        *,
        write: bool,
        durable: bool = True,
        atomic: bool = False,
        on_abandon: Callable[[Any], object] | None = None,
    ) -> T:
        """Run ``body`` on ``thread``'s connection (one hop there, one back).

        Cancelling the caller: a read or a claim that has not started yet never runs. A
        write that has started, or any write but a claim, still runs to completion (a
        job that ran gets acknowledged even if the acknowledger is being cancelled); for
        a claim that did run, ``on_abandon`` gets its result (to release the jobs).
        """
        if thread is None:
            raise BackendError(f"{self!r} is not open: call open() first")
        now, session_for = self._now_ms(), self._session

        def fn(connection: sqlite3.Connection) -> T:
            session = session_for(connection)
            session.now_ms = now
            return drive(body(session))  # type: ignore[arg-type]

        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        cancellable = not write or on_abandon is not None
        thread.submit(Call(fn, write, durable, loop, future, cancellable, on_abandon, atomic))
        try:
            return await future
        except asyncio.CancelledError:
            # The result came back but this task was cancelled before it could resume:
            # the claim's jobs must not stay leased to nobody.
            if (
                on_abandon is not None
                and future.done()
                and not future.cancelled()
                and future.exception() is None
            ):
                on_abandon(future.result())
            raise

    async def _run(
        self, body: Body[T], *, transaction: bool = True, durable: bool = True, read: bool = False
    ) -> T:
        # The engine's _run, without its retry loop and the shield: SQLite has no
        # transient error worth retrying (busy_timeout already waited) and a submitted
        # call runs to its end by itself. Two coroutine frames fewer on every unit.
        if not self._opened:
            raise BackendError(f"{self!r} is not open: call open() first")
        try:
            if read:
                return await self._call(self._reader, body, write=False)
            return await self._call(
                self._writer, body, write=True, durable=durable, atomic=not transaction
            )
        except Exception as exc:
            translated = self._wg_error(exc)
            if translated is None:
                raise
            raise translated from exc

    def _session(self, connection: sqlite3.Connection) -> SqliteSession:
        """This backend's session on ``connection`` (called on that connection's thread)."""
        session = self._sessions.get(connection)
        if session is None:
            session = SqliteSession(connection, self._blocks, self._sql)
            self._sessions[connection] = session
        return session

    async def _unit(self, body: Body[T], *, transaction: bool, durable: bool) -> T:
        # Without a transaction, a unit alone in its batch runs in autocommit mode (each
        # statement is its own transaction); with others it shares their group commit.
        return await self._call(
            self._writer, body, write=True, durable=durable, atomic=not transaction
        )

    async def _read_unit(self, body: Body[T]) -> T:
        return await self._call(self._reader, body, write=False)

    @asynccontextmanager
    async def _foreign(self, connection: object) -> AsyncIterator[SqlSession]:
        raise TypeError("SqliteBackend does not enqueue through your connection")
        yield  # pragma: no cover - never reached

    def _translate(self, exc: BaseException) -> WgError | None:
        where = "memory" if self._in_memory else self._path
        return translate_error(exc, where, self._busy_timeout, self.namespace)

    def _is_transient(self, exc: BaseException) -> bool:
        return False  # a busy database was already waited for (busy_timeout)

    # -- producing -----------------------------------------------------------------------

    async def enqueue(
        self, jobs: Sequence[NewJob], *, connection: object | None = None
    ) -> list[str]:
        """Store ``jobs`` (the engine's ``enqueue``). One job to queue now with a unique
        key nobody holds (the one-at-a-time unique producer's call) skips the engine's
        general path: the key's row and the job in one unit of the writer (its own
        transaction, or a savepoint of the group commit it shares)."""
        job = jobs[0] if len(jobs) == 1 else None
        if (
            connection is None
            and job is not None
            and job.unique_key is not None
            and job.delay <= 0
            and job.limit_key is None
            and await self._run(partial(self._enqueue_unique_one, job))
        ):
            self._signal()
            return [job.job_id]
        # Else (a key with a row: held, or to be taken over) the general path.
        return await super().enqueue(jobs, connection=connection)

    async def _enqueue_unique_one(self, job: NewJob, session: SqlSession) -> bool:
        """Take ``job``'s key if no row holds it and store ``job``: False (nothing
        stored) if the key has a row. An id already stored raises ``DuplicateJobError``,
        which rolls the key's row back with the unit."""
        assert isinstance(session, SqliteSession)
        params = {**unique_hold(job), "now_ms": session.now_ms}
        if not session.connection.execute(self._sql["unique_take"], params).rowcount:
            return False
        await self._insert(session, "enqueue_jobs", [job])
        return True

    async def _insert(self, session: SqlSession, block: str, jobs: Sequence[NewJob]) -> None:
        assert isinstance(session, SqliteSession)
        connection, now = session.connection, session.now_ms
        if block == "enqueue_jobs" and len(jobs) == 1:
            # The common case, one statement: an id taken in another table stores
            # nothing, one taken in {ns}_jobs is refused by its unique index.
            job = jobs[0]
            row = job_row(job, now)
            try:
                inserted = connection.execute(self._sql["enqueue_job"], row).rowcount
            except sqlite3.IntegrityError as exc:
                if "UNIQUE" not in str(exc):
                    raise
                inserted = 0
            if inserted != 1:
                raise DuplicateJobError(f"job id already stored: {job.job_id}")
            return
        rows = [job_row(job, now) for job in jobs]
        # An id stored in the table a job goes to raises IntegrityError (its unique
        # index); one stored in another table is looked up for the whole batch at once.
        # Either way the whole batch is refused (rolled back).
        target = "jobs" if block == "enqueue_jobs" else "scheduled"
        taken = self._ids.taken_elsewhere(connection, target, [job.job_id for job in jobs])
        if taken is not None:
            raise DuplicateJobError(f"job id already stored: {taken}")
        insert_new(connection, self._sql[block], rows)

    # -- claiming ------------------------------------------------------------------------

    def _bump_block(self, queue: str) -> str:
        # The queue default's counters stay in {ns}_meta's one row (a rowid update).
        return "bump_default" if queue == DEFAULT_QUEUE else "bump"

    async def complete(self, attempts: Sequence[Attempt | Completion]) -> int:
        """Those to keep in one statement (``complete_kept``), then every held row
        deleted and counted per queue (``_delete_by_queue``), in one transaction."""
        if not attempts:
            return 0
        held, kept = split_completions(attempts)
        if not kept:

            async def body(session: SqlSession) -> int:
                return await self._delete_by_queue(session, held)

            return await self._run(body)
        # Those to keep, in one statement (complete_kept), then the same delete.
        rows = [
            [int(item.attempt.key), item.attempt.token, item.result, micros(item.keep)]
            for item in kept
        ]

        async def kept_body(session: SqlSession) -> int:
            await session.execute("complete_kept", {"kept": rows})
            return await self._delete_by_queue(session, held)

        done = await self._run(kept_body)
        self._finished.wake()
        return done

    async def _delete_by_queue(self, session: SqlSession, held: Sequence[Attempt]) -> int:
        """The held rows, one plain DELETE per queue of the batch (by ``Attempt.queue``;
        no ``RETURNING``, which costs SQLite a temporary table per statement) whose row
        count bumps that queue's counter in the same transaction. An attempt whose
        queue is not its row's (none the engine hands out) is left to the engine's
        ``complete``, which reads each row's queue."""
        groups: dict[str, list[Attempt]] = {}
        for attempt in held:
            groups.setdefault(attempt.queue, []).append(attempt)
        done = 0
        for queue, attempts in groups.items():
            deleted = await session.execute(
                "complete_queue", {**self._handles(attempts), "queue": queue}
            )
            if deleted:
                bump = self._bump("processed", queue, deleted)
                await session.execute(self._bump_block(queue), bump)
                done += deleted
        if done == len(held):
            return done
        return done + await self._complete_counted(session, self._handles(held))
