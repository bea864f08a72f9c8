"""``MySqlBackend``: wg on MySQL 8.0+ / MariaDB 10.6+ (PyMySQL, on threads).

Guarantees, and how:

* **Never blocks the event loop**: PyMySQL is a blocking driver, so every connection
  gets its own thread, and a whole unit of work (BEGIN, the statements, COMMIT) runs
  there in one hop while the caller's loop waits on a single future. A small pool of
  such connections serves the backend (``pool_size``).
* **Atomic, leased, FIFO claims**: one short READ COMMITTED transaction selects the
  oldest ready ids ``FOR UPDATE SKIP LOCKED``, stamps them with a lease on the server's
  clock (``UTC_TIMESTAMP(6)``) and a fresh token by primary key, and commits. READ
  COMMITTED (set on wg's own sessions) avoids the gap locks that REPEATABLE READ takes
  on locking reads, which would block concurrent enqueues. A transaction that hits a
  deadlock (1213) or lock-wait timeout (1205) is retried whole, with jittered backoff.
  The claim and the acknowledgement take two round trips each: their statements are
  sent together as multi-statements, the acknowledgement's ``COMMIT`` on its own once
  its results are read (``CLIENT.MULTI_STATEMENTS``, on wg's own
  connections only; values are still bound by the driver).
* **Compare-and-set transitions** on (row id, token), with the counter bump in the same
  transaction. Connections use ``CLIENT.FOUND_ROWS`` so that an UPDATE reports the rows
  it matched, not only those it changed.
* **Exactly-once promotion**: due rows are locked with SKIP LOCKED and moved in one
  transaction.
* **Wake-ups**: an enqueue, promotion or release in this process wakes its idle
  claimers at once. Jobs enqueued by other processes are found by a *poller*: while
  at least one claimer waits, one dedicated connection (on its own thread, so it never
  queues behind busy pooled connections nor wakes the event loop for nothing) runs a
  cheap probe, a single indexed ``SELECT`` without locks or transaction; only when it
  sees a claimable job does it run the locking claim, itself, on its connection (the
  same statements, each waiting claimer's own limit and lease, oldest claimer first),
  and hand the attempts to that claimer: no wake-up, no hand-off to a pooled link, no
  gap between probe and claim. A claimer that is cancelled while the poller claims for
  it leaves the attempts to the poller, which releases them at once (they go to the
  front of the queue, and the claimers are woken); one whose wait ends meanwhile
  takes them. The probe runs every ``min_poll_interval`` (1 ms) while jobs flowed in
  the last ``idle_after`` seconds (2 s), then backs off, doubling, to
  ``max_poll_interval`` (1 s): an idle worker costs about one probe a second. A claim
  also runs on its own at least every claim wait (the pool's ``fetch_timeout``). The
  poller stops while no claimer waits (every slot busy). The fast cadence has a price
  while it lasts: a probe is roughly 0.1 ms of worker CPU and as much of the server's,
  so 1 ms polling is about a tenth of a core on each side (measured on a busy 2-core
  machine); raise ``min_poll_interval`` or lower ``idle_after`` to trade latency for
  it.
* **Transactional enqueue**: ``enqueue(jobs, connection=conn)`` writes through your
  PyMySQL connection inside your transaction (it is not committed for you).
* **Refuses old servers**: without ``SKIP LOCKED`` (MariaDB < 10.6, MySQL < 8.0.1)
  claims could not be both concurrent and FIFO, so ``open`` fails with a clear message.
* **Connection loss**: driver errors become ``BackendError`` /
  ``BackendUnavailableError``; a broken connection is closed and replaced on its next
  use, and the caller (the worker pool) retries.

Tables are InnoDB, ``utf8mb4``; envelopes are ``MEDIUMTEXT`` (up to 16 MiB). Where
binary logging is on, use ``binlog_format=ROW`` (or MIXED): ``SKIP LOCKED`` is unsafe for
statement-based replication.
"""

from __future__ import annotations

import asyncio
import collections
import queue
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any, Final, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from wg_core.backend import Attempt, NewJob
from wg_core.backends.sql.base import SqlBackend
from wg_core.backends.sql.session import Params, Row, SqlSession, micros
from wg_core.errors import (
    BackendError,
    BackendUnavailableError,
    ConfigError,
    DuplicateJobError,
    MissingDependencyError,
    WgError,
)

__all__ = ["MySqlBackend"]

T = TypeVar("T")

_TRANSIENT: Final = frozenset({1205, 1213})  # lock wait timeout, deadlock
_UNREACHABLE: Final = frozenset(
    {
        1040,  # too many connections
        1045,  # access denied
        1053,  # server shutdown in progress
        1927,  # connection killed (MariaDB)
        2003,  # can't connect
        2006,  # server has gone away
        2013,  # lost connection during query
        2055,  # lost connection (system error)
        4031,  # disconnected by the server for inactivity (MySQL 8)
    }
)
_DUPLICATE_KEY: Final = 1062


def _pymysql() -> Any:
    """PyMySQL, imported on first use (wg_core imports no driver)."""
    try:
        import pymysql
    except ModuleNotFoundError as exc:
        raise MissingDependencyError.for_extra("pymysql", "mysql") from exc
    return pymysql


def _split_statements(text: str) -> list[str]:
    return [statement.strip() for statement in text.split(";") if statement.strip()]


def _server_supports_skip_locked(version: str) -> bool:
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", version)
    if match is None:
        return True  # unknown format: let the first claim tell
    major, minor, patch = (int(part) for part in match.groups())
    if "mariadb" in version.lower():
        return (major, minor) >= (10, 6)
    return (major, minor, patch) >= (8, 0, 1)


class _Link:
    """One PyMySQL connection and the one thread that ever touches it. A whole unit of
    work (all statements of a transaction) runs there in one hop: the caller's loop
    waits on a single future, never on the driver.

    The thread takes jobs from a plain queue rather than running an event loop of its
    own: handing a job over then costs a lock release, whereas waking a loop writes to
    its self-pipe, and that ``send`` gives up the GIL to the woken thread, stalling the
    caller's loop while the link runs its Python (measured: about 0.6 ms a hand-off
    under load). The unit's coroutine is driven by hand (it never suspends: every
    statement blocks this thread, which exists for that)."""

    def __init__(self, connect: Callable[[], Any], name: str = "wg-mysql") -> None:
        self._connect = connect
        self._connection: Any = None
        self._jobs: queue.SimpleQueue[Callable[[], object] | None] = queue.SimpleQueue()
        self._closed = False
        self._closing = threading.Lock()  # no job is queued behind the last one
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            job()
        self._drop()

    async def run(self, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run ``work()`` on the link's thread; wait for it from the caller's loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def job() -> None:
            try:
                result = _drive(work())
            except BaseException as exc:  # handed to the caller, whatever it is
                _settle(loop, future, None, exc)
            else:
                _settle(loop, future, result, None)

        self.submit(job)
        return await future

    def submit(self, function: Callable[[], object]) -> None:
        """Run ``function()`` on the link's thread, without waiting for it."""
        with self._closing:
            if self._closed:
                raise BackendError("this MySQL connection was closed (the backend is closing)")
            self._jobs.put(function)

    # -- on the link's thread ------------------------------------------------------------

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """``function(connection, *args)``, connecting first if needed; a connection
        that broke is dropped (and replaced at the next call)."""
        pymysql = _pymysql()
        if self._connection is None:
            self._connection = self._connect()
        try:
            return function(self._connection, *args)
        except (pymysql.err.OperationalError, pymysql.err.InterfaceError) as exc:
            code = exc.args[0] if exc.args else 0
            if isinstance(exc, pymysql.err.InterfaceError) or code in _UNREACHABLE:
                self._drop()
            raise

    def rollback(self) -> None:
        if self._connection is not None:
            with suppress(Exception):  # a dead connection has no transaction to roll back
                self._connection.rollback()

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with suppress(Exception):  # already dead; closing is a courtesy
                connection.close()

    # -- from anywhere -------------------------------------------------------------------

    def connection_id(self) -> int | None:
        """The server's id for this connection (for operators and tests), if connected."""
        connection = self._connection
        return None if connection is None else int(connection.thread_id())

    def close(self) -> None:
        """Close the connection and stop the thread once the jobs queued so far are
        done (blocking: call from a thread)."""
        with self._closing:
            if self._closed:
                return
            self._closed = True
            self._jobs.put(None)
        self._thread.join()


_WAITING: Final = "waiting"  # in the poller's queue
_TAKEN: Final = "taken"  # the poller runs a claim for it
_DELIVERED: Final = "delivered"  # the poller's claim is done: attempts are set
_DONE: Final = "done"  # nothing more will come (woken, timed out or answered)
_GONE: Final = "gone"  # the claimer left while taken: the poller releases its claim


class _Request:
    """A claimer waiting for the poller, and what it asks for. ``state`` and
    ``attempts`` change only under the backend's poll lock: whoever moves the request
    on owns the attempts (the claimer returns them, or the poller releases them)."""

    __slots__ = ("attempts", "future", "lease", "limit", "loop", "state", "worker_id")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, limit: int, lease: float, worker_id: str
    ) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.limit = limit
        self.lease = lease
        self.worker_id = worker_id
        self.state: str = _WAITING
        self.attempts: list[Attempt] = []

    def wake(self) -> bool:
        """Resolve the claimer's future from any thread; False if its loop is closed."""
        try:
            self.loop.call_soon_threadsafe(_resolve, self.future)
        except RuntimeError:  # the loop is closed: nobody waits there any more
            return False
        return True


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _drive(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends to its end, on this thread."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        result: T = stop.value
        return result
    coroutine.close()
    raise RuntimeError("a MySQL unit of work must not suspend (it runs on a link's thread)")


def _settle(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[T],
    result: T | None,
    exc: BaseException | None,
) -> None:
    """Hand a link job's outcome to the caller's loop (if it still waits)."""

    def settle() -> None:
        if future.done():
            return  # the caller was cancelled
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    with suppress(RuntimeError):  # the caller's loop is closed: nobody waits
        loop.call_soon_threadsafe(settle)


def _run(connection: Any, sql: str, params: Params | None, fetch: bool) -> Any:
    with connection.cursor() as cursor:
        count = cursor.execute(sql, params or {})
        return list(cursor.fetchall()) if fetch else count


def _run_many(connection: Any, sql: str, rows: Sequence[Params]) -> int:
    with connection.cursor() as cursor:
        return int(cursor.executemany(sql, rows) or 0)


def _script(connection: Any, statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def _probe(connection: Any, sql: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        row = cursor.fetchone()
    return bool(row and row[0])


def _claim(connection: Any, begin: str, lease: str, params: dict[str, Any]) -> list[Row]:
    """The claim transaction in two round trips (see ``claim_begin``/``claim_lease``)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute(begin, params)
            cursor.nextset()  # START TRANSACTION's result, then the SELECT's
            rows: list[Row] = list(cursor.fetchall())
            if rows:
                params["ids"] = [row[0] for row in rows]
                cursor.execute(lease, params)
                while cursor.nextset():  # the COMMIT's result: read, or the next
                    pass  # statement on this connection would be out of sync
            else:
                connection.commit()  # nothing locked; just end the transaction
    except BaseException:
        with suppress(Exception):  # a dead connection has no transaction to roll back
            connection.rollback()
        raise
    return rows


def _script_counts(connection: Any, sql: str, params: dict[str, Any]) -> list[int]:
    """Run a multi-statement transaction (``START TRANSACTION; …``) in one round trip,
    then ``COMMIT`` once every result is read (two round trips); each statement's
    affected-row count. On any error the rest of the statements did not run: the open
    transaction is rolled back."""
    counts: list[int] = []
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            counts.append(cursor.rowcount)
            while cursor.nextset():  # reads (and raises) each statement's result
                counts.append(cursor.rowcount)
        connection.commit()
    except BaseException:
        with suppress(Exception):  # a dead connection has no transaction to roll back
            connection.rollback()
        raise
    return counts


def _begin(connection: Any) -> None:
    connection.begin()


def _commit(connection: Any) -> None:
    connection.commit()


class _Session:
    """Runs named blocks on a link, from the link's own thread (so each call simply
    blocks that thread, which exists for this)."""

    def __init__(self, link: _Link, sql: dict[str, str]) -> None:
        self._link = link
        self._sql = sql

    async def fetch(self, block: str, params: Params | None = None) -> list[Row]:
        rows: list[Row] = self._link.call(_run, self._sql[block], params, True)
        return rows

    async def execute(self, block: str, params: Params | None = None) -> int:
        count: int = self._link.call(_run, self._sql[block], params, False)
        return count

    async def execute_many(self, block: str, rows: Sequence[Params]) -> int:
        return self._link.call(_run_many, self._sql[block], rows)

    async def script(self, block: str) -> None:
        self._link.call(_script, _split_statements(self._sql[block]))

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """``function(connection, *args)`` on the link's thread (it already is)."""
        return self._link.call(function, *args)


class _ForeignSession:
    """Runs named blocks on a caller's PyMySQL connection, in a worker thread."""

    def __init__(self, connection: Any, sql: dict[str, str]) -> None:
        self._connection = connection
        self._sql = sql

    async def fetch(self, block: str, params: Params | None = None) -> list[Row]:
        rows: list[Row] = await asyncio.to_thread(
            _run, self._connection, self._sql[block], params, True
        )
        return rows

    async def execute(self, block: str, params: Params | None = None) -> int:
        count: int = await asyncio.to_thread(
            _run, self._connection, self._sql[block], params, False
        )
        return count

    async def execute_many(self, block: str, rows: Sequence[Params]) -> int:
        return await asyncio.to_thread(_run_many, self._connection, self._sql[block], rows)

    async def script(self, block: str) -> None:
        await asyncio.to_thread(_script, self._connection, _split_statements(self._sql[block]))


class MySqlBackend(SqlBackend):
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
    EXTRA_BLOCKS = frozenset({"version", "probe", "claim_begin", "claim_lease", "complete_counted"})

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
        self._connect_args = self._parse(url, connect_timeout)
        self._pool_size = pool_size
        self._min_poll = min_poll_interval
        self._max_poll = max_poll_interval
        self._idle_after = idle_after
        self._poll = min_poll_interval  # the poller's current interval (backs off)
        self._last_found = 0.0  # monotonic time a claim or probe last found jobs
        self._links: list[_Link] = []
        self._idle: asyncio.LifoQueue[_Link] | None = None
        # The poller: its link, whether its loop runs, how many claimers wait for it.
        self._poller: _Link | None = None
        self._poll_lock = threading.Lock()
        self._polling = False
        self._requests: collections.deque[_Request] = collections.deque()  # oldest first
        self._poll_stop = threading.Event()

    def _parse(self, url: str, connect_timeout: float) -> dict[str, Any]:
        parts = urlsplit(url)
        if parts.scheme != "mysql":
            raise ConfigError(f"not a mysql:// URL: {self.display_url}")
        args: dict[str, Any] = {
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 3306,
            "user": unquote(parts.username) if parts.username else "root",
            "password": unquote(parts.password) if parts.password else "",
            "database": unquote(parts.path.lstrip("/")) or None,
            "connect_timeout": connect_timeout,
        }
        for key, values in parse_qs(parts.query).items():
            if key in ("unix_socket", "ssl_ca", "ssl_cert", "ssl_key"):
                args[key] = values[-1]
        if args["database"] is None:
            raise ConfigError(f"the MySQL URL needs a database: {self.display_url}")
        return args

    # -- connections ---------------------------------------------------------------------

    def _new_connection(self) -> Any:
        pymysql = _pymysql()
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
        pymysql = _pymysql()
        self._idle = asyncio.LifoQueue()
        self._links = []
        link = self._add_link()

        async def version() -> list[Row]:
            return await _Session(link, self._sql).fetch("version")

        try:
            [(server_version,)] = await link.run(version)
        except pymysql.err.MySQLError as exc:
            await self._disconnect()
            raise BackendUnavailableError(
                f"cannot connect to MySQL at {self.display_url}: {exc}"
            ) from None
        if not _server_supports_skip_locked(str(server_version)):
            await self._disconnect()
            raise BackendError(
                f"{self.display_url} runs {server_version}, which lacks FOR UPDATE SKIP "
                "LOCKED: wg needs MariaDB 10.6+ or MySQL 8.0.1+"
            )
        self._idle.put_nowait(link)
        with self._poll_lock:
            self._poll_stop = threading.Event()
            self._polling = False
            self._poller = _Link(self._new_connection, "wg-mysql-poller")

    def _add_link(self) -> _Link:
        link = _Link(self._new_connection)
        self._links.append(link)
        return link

    async def _disconnect(self) -> None:
        links, self._links = self._links, []
        self._idle = None
        with self._poll_lock:
            self._poll_stop.set()
            poller, self._poller = self._poller, None
        if poller is not None:
            links.append(poller)
        for link in links:
            await asyncio.to_thread(link.close)

    async def _checkout(self) -> _Link:
        if self._idle is None:
            raise BackendError(f"{self!r} is not open: call open() first")
        if self._idle.empty() and len(self._links) < self._pool_size:
            return self._add_link()
        return await self._idle.get()

    def _checkin(self, link: _Link) -> None:
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
            session = _Session(link, self._sql)
            if not transaction:
                return await body(session)
            link.call(_begin)
            try:
                result = await body(session)
                link.call(_commit)
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
        pymysql = _pymysql()
        if not isinstance(connection, pymysql.connections.Connection):
            raise TypeError(
                f"MySqlBackend enqueues through a PyMySQL connection, not "
                f"{type(connection).__name__}"
            )
        yield _ForeignSession(connection, self._sql)

    async def _insert(self, session: SqlSession, block: str, jobs: Sequence[NewJob]) -> None:
        rows = [
            {
                "raw": job.raw,
                "job_id": job.job_id,
                "job_name": job.job_name,
                "delay_us": micros(job.delay),
            }
            for job in jobs
        ]
        # PyMySQL turns executemany of a plain INSERT ... VALUES into multi-row INSERTs
        # of up to 1 MB each; enqueue_scheduled computes due times on the server, row by
        # row. A batch of several jobs therefore runs inside a transaction (the base
        # class opens one: ONE_STATEMENT_BATCHES is False).
        assert isinstance(session, _Session | _ForeignSession)
        if len(rows) == 1:
            await session.execute(block, rows[0])  # no executemany rewriting for one row
        else:
            await session.execute_many(block, rows)

    async def _claim_now(self, limit: int, lease: float, worker_id: str) -> list[Attempt]:
        # The shared claim's statements, pipelined into two round trips, in one function
        # on the link's thread: START TRANSACTION + the locking SELECT (with the pause
        # check), then the lease UPDATE + COMMIT (see claim_begin in mysql.sql).
        async def body(session: SqlSession) -> list[Attempt]:
            assert isinstance(session, _Session)
            return session.call(self._claim_on, limit, lease, worker_id)

        return await self._run(body, transaction=False)

    def _claim_on(self, connection: Any, limit: int, lease: float, worker_id: str) -> list[Attempt]:
        """The claim on ``connection`` (a link's thread: a pooled one or the poller's)."""
        batch = uuid.uuid4().hex
        params = {"limit": limit, "batch": batch, "lease_us": micros(lease), "worker_id": worker_id}
        rows = _claim(connection, self._sql["claim_begin"], self._sql["claim_lease"], params)
        return [Attempt(key=str(id_), token=f"{batch}-{id_}", raw=raw) for id_, raw in rows]

    async def complete(self, attempts: Sequence[Attempt]) -> int:
        """Delete finished jobs still held under their tokens; count them as processed
        (the shared verb's transaction, in one round trip: see ``complete_counted``)."""
        if not attempts:
            return 0
        sql = self._sql["complete_counted"]
        params = {**self._handles(attempts), "shard": self._shard()}

        async def body(session: SqlSession) -> int:
            assert isinstance(session, _Session)
            # START TRANSACTION, DELETE, SET, INSERT (then COMMIT): the DELETE's count.
            return session.call(_script_counts, sql, params)[1]

        return await self._run(body, transaction=False)

    def connection_ids(self) -> list[int]:
        """Server-side ids of this backend's open connections (``KILL`` targets)."""
        links = [*self._links, *([self._poller] if self._poller is not None else [])]
        return [cid for link in links if (cid := link.connection_id()) is not None]

    # -- errors --------------------------------------------------------------------------

    def _translate(self, exc: BaseException) -> WgError | None:
        pymysql = _pymysql()
        if not isinstance(exc, pymysql.err.MySQLError):
            return None
        code = exc.args[0] if exc.args else 0
        if isinstance(exc, pymysql.err.InterfaceError) or code in _UNREACHABLE:
            return BackendUnavailableError(f"MySQL at {self.display_url}: {exc}")
        if code == _DUPLICATE_KEY:
            return DuplicateJobError(f"job id already stored: {exc}")
        return BackendError(f"MySQL at {self.display_url}: {exc}")

    def _is_transient(self, exc: BaseException) -> bool:
        pymysql = _pymysql()
        return isinstance(exc, pymysql.err.MySQLError) and bool(
            exc.args and exc.args[0] in _TRANSIENT
        )

    # -- waiting for work ----------------------------------------------------------------

    def _claim_succeeded(self, found: bool) -> None:
        if found:
            self._last_found = time.monotonic()

    async def _wait_for_work(
        self, timeout: float, generation: int, limit: int, lease: float, worker_id: str
    ) -> list[Attempt]:
        # The shared claim's wait, except that while it waits the poller may claim for
        # it (see the module docstring): those jobs come back from here.
        if self._wake_generation != generation:
            return []  # woken while the claim ran: look again at once
        return await self._wait_for_poller(timeout, limit, lease, worker_id)

    async def _wait_for_poller(
        self, timeout: float, limit: int, lease: float, worker_id: str
    ) -> list[Attempt]:
        """Wait up to ``timeout`` for a wake-up or for the jobs the poller claims for
        us ([] unless it did). Whatever the poller claimed for us is never stranded:
        it is returned, or, if we are cancelled, released at once."""
        request = _Request(asyncio.get_running_loop(), limit, lease, worker_id)
        self._enlist(request)
        try:
            with suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(request.future), timeout)
            with self._poll_lock:
                if request.state == _WAITING:
                    self._requests.remove(request)
                    request.state = _DONE
                taken = request.state == _TAKEN
            if taken:
                # Timed out just as the poller took us: its claim (two round trips) is
                # on its way, and ours to take.
                await asyncio.shield(request.future)
            with self._poll_lock:
                attempts, request.attempts = request.attempts, []
                request.state = _DONE
            return attempts
        except BaseException:  # cancelled (or worse): give back what came for us
            with self._poll_lock:
                attempts, request.attempts = request.attempts, []
                if request.state == _WAITING:
                    self._requests.remove(request)
                # Taken: the poller's claim lands after we left, so it releases it.
                request.state = _GONE if request.state == _TAKEN else _DONE
            if attempts:
                self._release_soon(attempts)
            raise

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
        with self._poll_lock:
            woken = list(self._requests)
            self._requests.clear()
            for request in woken:
                request.state = _DONE
        for request in woken:
            request.wake()

    def _enlist(self, request: _Request) -> None:
        """Queue ``request`` for the poller, starting it if it is not running."""
        with self._poll_lock:
            self._requests.append(request)
            if self._polling or self._poller is None:
                return
            self._polling = True
            poller, stop = self._poller, self._poll_stop
        with suppress(BackendError):  # closed meanwhile: nobody to poll for
            poller.submit(lambda: self._poll_loop(poller, stop))

    def _poll_loop(self, link: _Link, stop: threading.Event) -> None:
        """On the poller's thread, while claimers wait: probe; when it found a
        claimable job, claim for the waiting claimers; sleep the adaptive interval;
        again."""
        try:
            self._polling_on(link, stop)
        finally:
            with self._poll_lock:
                if stop is self._poll_stop:  # else a later open() has its own poller
                    self._polling = False

    def _polling_on(self, link: _Link, stop: threading.Event) -> None:
        probe = self._sql["probe"]
        if time.monotonic() - self._last_found < self._idle_after:
            self._poll = self._min_poll
        # Sleep first: the claimer that started us has just looked.
        while not stop.wait(self._poll):
            with self._poll_lock:
                if not self._requests:
                    if stop is self._poll_stop:
                        self._polling = False  # with the check: a new claimer restarts us
                    return
            try:
                found = link.call(_probe, probe)
            except Exception:  # the claimers' own claims report server trouble
                self._poll = min(self._poll * 2, self._max_poll)  # don't hammer a sick server
                continue
            now = time.monotonic()
            if found:
                self._last_found = now
                self._poll = self._min_poll
                self._claim_for_waiting(link)
            elif now - self._last_found > self._idle_after:
                self._poll = min(self._poll * 2, self._max_poll)
            else:
                self._poll = self._min_poll

    def _claim_for_waiting(self, link: _Link) -> None:
        """Run the claim for the oldest waiting claimer, with its limit and lease, on
        the poller's connection and hand it the attempts (saving its wake-up and a
        hand-off to a pooled link); then for the next one while claims come back full.
        Attempts whose claimer left meanwhile are released at once."""
        while True:
            with self._poll_lock:
                if not self._requests:
                    return
                request = self._requests.popleft()
                request.state = _TAKEN
            try:
                attempts = link.call(
                    self._claim_on, request.limit, request.lease, request.worker_id
                )
            except Exception:  # the claimer, woken empty-handed, claims and reports it
                attempts = []
            with self._poll_lock:
                delivered = request.state == _TAKEN
                if delivered:
                    request.state = _DELIVERED
                    request.attempts = attempts
            if not (delivered and request.wake()) and attempts:
                self._release_on(link, attempts)
            if len(attempts) < request.limit:
                return  # the queue ran dry (or the claim failed): back to probing

    def _release_on(self, link: _Link, attempts: list[Attempt]) -> None:
        """Release attempts nobody took, on the poller's connection, and wake the
        claimers for them (if this fails, their leases expire: nothing is lost)."""
        with suppress(Exception):
            link.call(_run, self._sql["release"], self._handles(attempts), False)
        self._signal()
