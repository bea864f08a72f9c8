"""``SqliteBackend``: lifecycle, plumbing, producing and working (see the package docstring)."""

from __future__ import annotations

import asyncio
import json
import math
import os
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

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
from wg_core.backends.sqlite.admin import SqliteAdmin
from wg_core.backends.sqlite.connection import Call, ConnectionThread, Fn
from wg_core.backends.sqlite.schema import (
    MEMORY,
    ensure_schema,
    parse_url,
    queries,
    register_functions,
)
from wg_core.backends.sqlite.watcher import CommitWatcher
from wg_core.errors import (
    BackendError,
    BackendUnavailableError,
    ConfigError,
    DuplicateJobError,
)
from wg_core.namespace import validate_namespace

__all__ = ["MIN_SQLITE_VERSION", "SqliteBackend"]

MIN_SQLITE_VERSION: Final = (3, 35, 0)
"""``UPDATE … RETURNING`` appeared in SQLite 3.35."""

_ID_CHUNK: Final = 512  # job ids looked up by one statement at most (a power of two)
_TABLES: Final = ("jobs", "scheduled", "retry", "dead")  # the order of table_spans
_RECHECK_INTERVAL: Final = 0.1  # an idle claimer's safety net against a missed wake-up
_T = TypeVar("_T")

# In-process wake-ups shared by every backend on the same (file, namespace).
_shared_waiters: weakref.WeakValueDictionary[tuple[str, str], Waiters] = (
    weakref.WeakValueDictionary()
)
_shared_lock = threading.Lock()


def _waiters_for(path: str, namespace: str) -> Waiters:
    key = (os.path.realpath(path), namespace)
    with _shared_lock:
        waiters = _shared_waiters.get(key)
        if waiters is None:
            waiters = Waiters()
            _shared_waiters[key] = waiters
        return waiters


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _enqueue_one(
    statement: str, row: tuple[str, str, str, int], connection: sqlite3.Connection
) -> None:
    """Store one new job; a taken id is a ``DuplicateJobError`` naming it, whether the
    unique index refused it or the statement stored nothing (the id is elsewhere)."""
    try:
        inserted = connection.execute(statement, row).rowcount
    except sqlite3.IntegrityError as exc:
        if "UNIQUE" not in str(exc):
            raise
        raise DuplicateJobError(f"job id already stored: {row[1]}") from exc
    if inserted != 1:
        raise DuplicateJobError(f"job id already stored: {row[1]}")


def _insert_new(
    connection: sqlite3.Connection, statement: str, rows: Sequence[tuple[Any, ...]]
) -> None:
    """Store new jobs' ``rows`` (job id second); an id the table's unique index refuses
    is a ``DuplicateJobError`` naming it."""
    before = connection.total_changes
    try:
        connection.executemany(statement, rows)
    except sqlite3.IntegrityError as exc:
        if "UNIQUE" not in str(exc):
            raise
        # The rows before the refused one went in: their count points at it.
        failed = rows[min(connection.total_changes - before, len(rows) - 1)]
        raise DuplicateJobError(f"job id already stored: {failed[1]}") from exc


class SqliteBackend(SqliteAdmin):
    """Jobs in an SQLite database file, shared by every process on this machine.

    ``url``: ``sqlite:jobs.db`` (relative to the working directory), ``sqlite:///abs.db``,
    ``sqlite::memory:``, or a plain path. ``busy_timeout``: how long a write waits for
    another process's write lock before failing. ``synchronous``: ``"full"`` (default:
    an acknowledged job survives power loss) or ``"normal"`` (faster; the last
    transactions may be lost on power loss, never corrupted). ``poll_interval``: how
    often an idle claimer looks for commits made by other processes.
    """

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
        self._namespace = validate_namespace(namespace)
        self._path = parse_url(url)
        if synchronous not in ("full", "normal"):
            raise ConfigError(f"synchronous must be 'full' or 'normal', not {synchronous!r}")
        if busy_timeout < 0 or poll_interval <= 0:
            raise ConfigError("busy_timeout must be >= 0 and poll_interval > 0")
        self._clock = clock
        self._busy_timeout = busy_timeout
        self._synchronous = synchronous
        self._poll_interval = poll_interval
        self._q = queries(self._namespace)
        self._sized_queries: dict[tuple[str, str, int], str] = {}
        self._in_memory = self._path == MEMORY
        # An in-memory database is private to this backend (one connection holds it).
        self._waiters = Waiters() if self._in_memory else _waiters_for(self._path, namespace)
        self._writer: ConnectionThread | None = None
        self._reader: ConnectionThread | None = None
        self._watcher: CommitWatcher | None = None
        self._open_lock = asyncio.Lock()
        self._closed = False

    @classmethod
    def in_memory(cls, namespace: str = "wg", **options: Any) -> SqliteBackend:
        """A backend on a private in-memory database (tests; lost when closed)."""
        return cls(MEMORY, namespace, **options)

    # -- properties ----------------------------------------------------------------------

    @property
    def namespace(self) -> str:
        return self._namespace

    @property
    def display_url(self) -> str:
        return "sqlite::memory:" if self._in_memory else f"sqlite:{self._path}"

    @property
    def path(self) -> Path | None:
        """The database file, or ``None`` in memory."""
        return None if self._in_memory else Path(self._path)

    @property
    def supports_transactional_enqueue(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"SqliteBackend({self.display_url!r}, namespace={self._namespace!r})"

    # -- lifecycle -----------------------------------------------------------------------

    def _connect(self, *, write: bool) -> sqlite3.Connection:
        directory = os.path.dirname(self._path)
        if not self._in_memory and not os.path.isdir(directory):
            raise BackendUnavailableError(
                f"cannot open SQLite database {self._path}: directory {directory} does not exist"
            )
        connection = sqlite3.connect(
            self._path,
            timeout=self._busy_timeout,
            isolation_level=None,  # wg issues BEGIN/COMMIT itself
            check_same_thread=False,
        )
        try:
            register_functions(connection)
            if write and not self._in_memory:
                mode = connection.execute(self._q["pragma_wal"][0]).fetchone()[0]
                if str(mode).lower() != "wal":
                    raise BackendError(
                        f"could not put {self._path} in WAL mode (journal_mode={mode}): "
                        "is it on a network filesystem?"
                    )
            if write:
                pragma = f"pragma_synchronous_{self._synchronous}"
                connection.execute(self._q[pragma][0])
            else:
                connection.execute(self._q["pragma_query_only"][0])
        except BaseException:
            connection.close()
            raise
        return connection

    async def open(self, *, create: bool = True) -> None:
        """Open the connections and create the tables if missing (idempotent, safe when
        several processes open the same file at once)."""
        if sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
            need = ".".join(map(str, MIN_SQLITE_VERSION))
            raise BackendError(
                f"wg needs SQLite >= {need} (for UPDATE ... RETURNING); this Python uses "
                f"SQLite {sqlite3.sqlite_version}"
            )
        async with self._open_lock:
            self._closed = False
            if self._writer is None:
                try:
                    await self._start_connections()
                except sqlite3.Error as exc:
                    await self._stop_connections()
                    raise self._translate(exc) from exc
                except BaseException:
                    await self._stop_connections()
                    raise
            try:
                await self._write(self._ensure_schema)
            except BaseException:
                await self._stop_connections()
                raise

    async def _start_connections(self) -> None:
        lazy_sync = None
        if self._synchronous == "full" and not self._in_memory:
            lazy_sync = (
                self._q["pragma_synchronous_normal"][0],
                self._q["pragma_synchronous_full"][0],
            )
        writer = ConnectionThread(
            "wg-sqlite-write", lambda: self._connect(write=True), lazy_sync=lazy_sync
        )
        self._writer = writer
        await writer.start()
        if self._in_memory:
            self._reader = writer  # one connection holds the whole database
            return
        reader = ConnectionThread("wg-sqlite-read", lambda: self._connect(write=False))
        self._reader = reader
        await reader.start()

    async def _stop_connections(self) -> None:
        writer, reader, watcher = self._writer, self._reader, self._watcher
        self._writer = self._reader = None
        self._watcher = None
        if watcher is not None:
            await watcher.stop()
        for thread in {id(t): t for t in (reader, writer) if t is not None}.values():
            await thread.stop()

    def _ensure_schema(self, connection: sqlite3.Connection) -> None:
        ensure_schema(connection, self._q, self._namespace, self._path)

    async def close(self) -> None:
        """Close the connections (safe to call twice) and wake this backend's waiters."""
        self._closed = True
        async with self._open_lock:
            await self._stop_connections()
        self._waiters.wake_all()

    async def destroy(self) -> None:
        """Drop this namespace's tables. ``open()`` creates them again."""
        if self._writer is None:
            await self.open()
        await self._write(lambda c: self._run_all(c, "drop_schema"))

    def _run_all(self, connection: sqlite3.Connection, name: str) -> None:
        for statement in self._q[name]:
            connection.execute(statement)

    # -- plumbing ------------------------------------------------------------------------

    def _translate(self, exc: sqlite3.Error) -> BackendError:
        message = str(exc)
        where = "memory" if self._in_memory else self._path
        if "unable to open database file" in message:
            return BackendUnavailableError(f"cannot open SQLite database {where}: {message}")
        if "database is locked" in message or "database is busy" in message:
            return BackendError(
                f"SQLite database {where} stayed locked by another connection for longer "
                f"than busy_timeout={self._busy_timeout}s"
            )
        if "no such table" in message:
            return BackendError(
                f"SQLite database {where} has no tables for namespace {self._namespace!r} "
                f"(call open() first): {message}"
            )
        return BackendError(f"SQLite error on {where}: {message}")

    async def _call(
        self,
        thread: ConnectionThread | None,
        fn: Fn,
        *,
        write: bool,
        durable: bool = True,
        on_abandon: Callable[[Any], object] | None = None,
        atomic: bool = False,
    ) -> Any:
        """Run ``fn`` on ``thread``'s connection and return its result.

        Cancelling the caller: a read or a claim that has not started yet never runs. A
        write that has started, or any write but a claim, still runs to completion (a
        job that ran gets acknowledged even if the acknowledger is being cancelled); for
        a claim that did run, ``on_abandon`` gets its result (to release the jobs).
        """
        if thread is None:
            raise BackendError("the SQLite backend is not open: await backend.open() first")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
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
        except sqlite3.IntegrityError as exc:
            raise DuplicateJobError(f"job id already stored ({exc})") from exc
        except UnicodeEncodeError as exc:
            # sqlite3 stores text as UTF-8: a lone surrogate cannot be written.
            raise BackendError(f"text that is not valid Unicode cannot be stored: {exc}") from exc
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc

    async def _write(
        self,
        fn: Callable[[sqlite3.Connection], _T],
        *,
        durable: bool = True,
        atomic: bool = False,
    ) -> _T:
        result: _T = await self._call(self._writer, fn, write=True, durable=durable, atomic=atomic)
        return result

    async def _read(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        result: _T = await self._call(self._reader, fn, write=False)
        return result

    def _now_ms(self) -> int:
        return _ms(self._clock())

    def _taken_elsewhere(
        self, connection: sqlite3.Connection, target: str, ids: list[str]
    ) -> str | None:
        """The first of ``ids`` (new jobs for table ``target``) stored in another table.

        Runs on the writer thread. Each other table is checked the cheaper way: all its
        ids read when it holds no more rows than the batch, else its index probed.
        """
        if not ids:
            return None
        spans = connection.execute(self._q["table_spans"][0]).fetchone()
        wanted: set[str] | None = None
        for table, span in zip(_TABLES, spans, strict=True):
            if table == target or not span:
                continue
            if span <= len(ids):
                wanted = wanted or set(ids)
                for (job_id,) in connection.execute(self._table_query("job_ids_in", table)):
                    if job_id in wanted:
                        return str(job_id)
                continue
            for start in range(0, len(ids), _ID_CHUNK):
                chunk = ids[start : start + _ID_CHUNK]
                size = len(chunk)
                if size < _ID_CHUNK:  # a few statement sizes serve every batch (cached)
                    size = 1 << (size - 1).bit_length()
                    chunk += chunk[:1] * (size - len(chunk))
                query = self._table_query("ids_taken_in", table, size)
                row = connection.execute(query, chunk).fetchone()
                if row is not None:
                    return str(row[0])
        return None

    def _table_query(self, name: str, table: str, size: int = 0) -> str:
        """Block ``name`` for ``table`` (and ``size`` ids), built once and kept."""
        key = (name, table, size)
        text = self._sized_queries.get(key)
        if text is None:
            ids = ", ".join(f"?{i}" for i in range(1, size + 1))
            (template,) = self._q[name]
            text = template.replace("{table}", table).replace("{ids}", ids)
            self._sized_queries[key] = text
        return text

    async def _commit_watcher(self) -> CommitWatcher | None:
        """The watcher of other processes' commits, started on the first idle claim."""
        if self._in_memory or self._writer is None:
            return None  # nobody else can write to this database
        if self._watcher is None:
            (query,) = self._q["data_version"]
            connect = partial(sqlite3.connect, self._path, timeout=0, isolation_level=None)
            self._watcher = CommitWatcher(connect, query, self._waiters, self._poll_interval)
        if not self._watcher.ready.done():
            await asyncio.wrap_future(self._watcher.ready)
        return self._watcher

    # -- producing -----------------------------------------------------------------------

    async def enqueue(self, jobs: Sequence[NewJob], *, connection: object | None = None) -> None:
        if connection is not None:
            raise TypeError("SqliteBackend does not enqueue through your connection")
        if not jobs:
            return
        now = self._now_ms()
        if len(jobs) == 1 and jobs[0].delay <= 0:  # the common case, kept lean
            job = jobs[0]
            row = (job.raw, job.job_id, job.job_name, now)
            insert = partial(_enqueue_one, self._q["enqueue_queued"][0], row)
            await self._write(insert, atomic=True)
            self._waiters.wake_all()
            return
        seen: set[str] = set()
        queued: list[tuple[str, str, str, int]] = []
        scheduled: list[tuple[str, str, str, int, int, int]] = []
        for job in jobs:
            if job.job_id in seen:
                raise DuplicateJobError(f"job id already stored: {job.job_id}")
            seen.add(job.job_id)
            if job.delay <= 0:
                queued.append((job.raw, job.job_id, job.job_name, now))
            else:
                due = now + _ms(job.delay)
                scheduled.append(
                    (job.raw, job.job_id, job.job_name, now, due, math.ceil(now / 1000 + job.delay))
                )
        (insert_queued,) = self._q["insert_queued"]
        (insert_scheduled,) = self._q["insert_scheduled"]

        def run(c: sqlite3.Connection) -> None:
            # An id stored in the table a job goes to raises IntegrityError (its unique
            # index); one stored in another table is looked up for the whole batch at once.
            # Either way the whole batch is refused (rolled back).
            taken = self._taken_elsewhere(c, "jobs", [row[1] for row in queued])
            if taken is None and scheduled:
                taken = self._taken_elsewhere(c, "scheduled", [row[1] for row in scheduled])
            if taken is not None:
                raise DuplicateJobError(f"job id already stored: {taken}")
            if queued:
                _insert_new(c, insert_queued, queued)
            if scheduled:
                _insert_new(c, insert_scheduled, scheduled)

        await self._write(run)
        if queued:
            self._waiters.wake_all()

    # -- working -------------------------------------------------------------------------

    async def claim(
        self, *, limit: int, lease: float, worker_id: str, wait: float = 0.0
    ) -> list[Attempt]:
        if wait <= 0:
            return await self._claim_now(limit, lease, worker_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        watcher = await self._commit_watcher()
        # Note the watcher's count before claiming: any commit after it is then seen.
        seen = watcher.changes if watcher else 0
        attempts = await self._claim_now(limit, lease, worker_id)
        if attempts:
            return attempts
        if watcher is None:  # in memory: only this backend writes (and wakes us)
            return await self._claim_waiting(deadline, limit, lease, worker_id, 0)
        watcher.enter()
        try:
            return await self._claim_waiting(deadline, limit, lease, worker_id, seen, watcher)
        finally:
            watcher.leave()

    async def _claim_waiting(
        self,
        deadline: float,
        limit: int,
        lease: float,
        worker_id: str,
        seen: int,
        watcher: CommitWatcher | None = None,
    ) -> list[Attempt]:
        """Claim again whenever woken (or the watcher counted a commit) until the deadline."""
        loop = asyncio.get_running_loop()
        attempts: list[Attempt] = []
        while not attempts and not self._closed:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            # The watcher may see a commit just before this claimer starts waiting and
            # wake nobody: waking up now and then to compare counts closes that gap.
            woken = await self._waiters.wait(min(remaining, _RECHECK_INTERVAL))
            changes = watcher.changes if watcher else 0
            if woken or changes != seen:
                seen = changes
                attempts = await self._claim_now(limit, lease, worker_id)
        return attempts

    async def _claim_now(self, limit: int, lease: float, worker_id: str) -> list[Attempt]:
        if limit <= 0:
            return []
        now = self._now_ms()
        params = (uuid.uuid4().hex, now + _ms(lease), worker_id, now, limit)
        attempts: list[Attempt] = await self._call(
            self._writer,
            lambda c: self._lease_rows(c, "claim", params),
            write=True,
            durable=False,
            on_abandon=self._release_abandoned,
            atomic=True,
        )
        return attempts

    def _release_abandoned(self, attempts: list[Attempt]) -> None:
        """Put back what a cancelled claim leased (called on the claimer's loop)."""
        writer = self._writer
        if attempts and writer is not None:
            params = [(int(a.key), a.token) for a in attempts]
            (release,) = self._q["release"]
            writer.submit_unawaited(lambda c: c.executemany(release, params).rowcount)
            self._waiters.wake_all()

    def _lease_rows(
        self, connection: sqlite3.Connection, name: str, params: tuple[object, ...]
    ) -> list[Attempt]:
        rows = connection.execute(self._q[name][0], params).fetchall()
        rows.sort()  # RETURNING has no defined order: oldest first
        return [Attempt(key=str(row_id), token=token, raw=raw) for row_id, token, raw in rows]

    async def complete(self, attempts: Sequence[Attempt]) -> int:
        if not attempts:
            return 0
        params = [(int(a.key), a.token) for a in attempts]
        (complete,) = self._q["complete"]
        (count,) = self._q["count_processed"]

        def run(c: sqlite3.Connection) -> int:
            done = c.executemany(complete, params).rowcount
            if done:
                c.execute(count, (done,))
            return done

        done: int = await self._write(run)
        return done

    async def retry(self, attempt: Attempt, *, raw: str, delay: float, error: str | None) -> bool:
        now = self._now_ms()
        due = now + _ms(delay)
        (take,) = self._q["take_running"]
        (insert,) = self._q["insert_retry"]
        (count,) = self._q["count_failed"]

        def run(c: sqlite3.Connection) -> bool:
            row = c.execute(take, (int(attempt.key), attempt.token)).fetchone()
            if row is None:
                return False
            c.execute(insert, (raw, row[0], row[1], now, due, math.ceil(due / 1000), error))
            c.execute(count, (1,))
            return True

        moved: bool = await self._write(run)
        return moved

    async def bury(self, attempt: Attempt, *, raw: str, error: str | None) -> bool:
        now = self._now_ms()
        (take,) = self._q["take_running"]
        (insert,) = self._q["insert_dead"]
        (count,) = self._q["count_failed"]

        def run(c: sqlite3.Connection) -> bool:
            row = c.execute(take, (int(attempt.key), attempt.token)).fetchone()
            if row is None:
                return False
            c.execute(insert, (raw, row[0], row[1], now, error))
            c.execute(count, (1,))
            return True

        buried: bool = await self._write(run)
        return buried

    async def release(self, attempts: Sequence[Attempt]) -> int:
        if not attempts:
            return 0
        params = [(int(a.key), a.token) for a in attempts]
        (release,) = self._q["release"]
        released: int = await self._write(lambda c: c.executemany(release, params).rowcount)
        if released:
            self._waiters.wake_all()
        return released

    async def heartbeat(
        self, worker: WorkerInfo, *, attempts: Sequence[Attempt], lease: float
    ) -> HeartbeatReply:
        now = self._now_ms()
        until = now + _ms(lease)
        (renew,) = self._q["renew_lease"]
        (flag,) = self._q["worker_stop_flag"]
        (upsert,) = self._q["upsert_worker"]
        worker_row = (
            worker.worker_id,
            worker.host,
            worker.pid,
            worker.concurrency,
            worker.running,
            _ms(worker.started_at),
            now,
            worker.state,
            int(worker.stop_requested),
            json.dumps(list(worker.job_names)),
        )

        def run(c: sqlite3.Connection) -> HeartbeatReply:
            lost = frozenset(
                a.token
                for a in attempts
                if c.execute(renew, (int(a.key), a.token, until)).rowcount == 0
            )
            row = c.execute(flag, (worker.worker_id,)).fetchone()
            c.execute(upsert, worker_row)
            return HeartbeatReply(lost=lost, stop_requested=bool(row and row[0]))

        reply: HeartbeatReply = await self._write(run, durable=False)
        return reply

    async def unregister_worker(self, worker_id: str) -> None:
        (delete,) = self._q["delete_worker"]
        await self._write(lambda c: c.execute(delete, (worker_id,)).rowcount)

    async def promote(self, state: JobState, *, limit: int) -> int:
        if state is JobState.SCHEDULED:
            (take,) = self._q["promote_scheduled"]
        elif state is JobState.RETRY:
            (take,) = self._q["promote_retry"]
        else:
            raise ValueError(f"only scheduled and retry jobs are promoted, not {state}")
        if limit <= 0:
            return 0
        now = self._now_ms()
        (insert,) = self._q["insert_queued"]

        def run(c: sqlite3.Connection) -> int:
            rows = c.execute(take, (now, limit)).fetchall()
            rows.sort()  # due time, then id: the order they were due in
            c.executemany(insert, [(raw, job_id, name, now) for _, _, raw, job_id, name in rows])
            return len(rows)

        moved: int = await self._write(run)
        if moved:
            self._waiters.wake_all()
        return moved

    async def reclaim_expired(
        self, *, limit: int, lease: float, worker_id: str, silent_after: float | None = None
    ) -> list[Attempt]:
        now = self._now_ms()
        params = (uuid.uuid4().hex, now + _ms(lease), worker_id, now, limit)
        forget_before = now - _ms(WORKER_FORGET_AFTER_LEASES * lease)
        (forget,) = self._q["forget_workers"]

        def run(c: sqlite3.Connection) -> list[Attempt]:
            attempts = self._lease_rows(c, "reclaim", params) if limit > 0 else []
            c.execute(forget, (forget_before,))
            return attempts

        attempts: list[Attempt] = await self._write(run, durable=False)
        return attempts
