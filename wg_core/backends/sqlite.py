"""``SqliteBackend``: the backend contract on an embedded SQLite file (or in memory).

Guarantees, and how they are kept:

* **Nothing acknowledged is lost.** The database runs in WAL mode with
  ``synchronous=FULL`` by default: an enqueue, an acknowledgement or an admin change
  returns only after its transaction is on disk (``synchronous="normal"`` trades the
  last transactions on power loss for speed). Claims, lease renewals and reclaims
  commit without waiting for the disk: losing one on power loss only puts a job back
  in the queue, and the next durable commit carries it to disk anyway.
* **Atomic leased claims, FIFO.** A claim is one ``UPDATE … WHERE id IN (SELECT … ORDER
  BY id LIMIT n) RETURNING`` statement under the write lock, so two claimers (threads,
  backends, processes) never lease the same row. A running job stays
  in ``{ns}_jobs`` with its lease set; releasing it clears the lease, so it keeps its
  place at the front.
* **Compare-and-set transitions.** Complete, retry, bury, release and lease renewal
  match the row *and* the attempt's token; counters change in the same transaction.
* **Every write transaction takes the write lock up front** and waits for it up to
  ``busy_timeout``: ``BEGIN IMMEDIATE``, or, for a lone one-statement write (a single
  enqueue, a claim), autocommit mode, where the statement's first step does the same.
  (A deferred transaction that reads and then writes fails at once with SQLITE_BUSY in
  WAL mode when another connection wrote in between.) Promotion therefore moves each
  due job exactly once. A single enqueue is one ``INSERT … SELECT … WHERE NOT EXISTS``
  (the other tables) under ``{ns}_jobs``'s unique index on ``job_id``: one statement,
  one commit.
* **Times** come from the injectable ``clock`` (Unix seconds) and are passed to SQL as
  integer milliseconds; SQLite's own clock is never used.

How it runs: each backend owns one write connection and one read connection (admin
queries), each on its own thread, so the event loop never blocks on SQLite. The standard
library's ``sqlite3`` is driven directly rather than through aiosqlite: one thread hop
runs a whole transaction, where aiosqlite needs one per statement (about 0.2 ms each);
on this project's machines that is 1.7× the throughput of a claim/complete loop. The
caller's asyncio future travels with the call and is settled by one
``call_soon_threadsafe`` per batch: a call is one hop there and one back. A call
never waits for others to arrive. Write calls that arrive while a transaction is
running are committed together in the next one (group commit), each in its own
savepoint, so concurrent workers share the cost of an fsync without sharing each
other's failures; in such a group the writes that need not reach the disk (claims,
lease renewals) commit first and are answered before the others wait for their fsync.

Cancelling a caller never abandons a write half-way: a submitted write runs to the end
(so a finished job is acknowledged even if its acknowledger is cancelled); a claim
cancelled before it ran never runs, and one cancelled while running releases its jobs.

Wake-ups: enqueue, promotion, release and resume wake idle claimers of every
``SqliteBackend`` on the same file and namespace in this process at once (a shared
``Waiters``). For work made by other processes, a watcher thread (started by the first
claim that waits) polls ``PRAGMA data_version`` every ``poll_interval`` seconds while
a claimer is idle (5 ms by default, 1 ms within a second of a change; about 1-3 % of a
core while idle on this project's 2-core VMs; nothing while every claim finds work):
it changes whenever another connection commits, and the watcher then wakes the
claimers.

Tables (the spec's names): ``{ns}_jobs``, ``{ns}_scheduled`` (``run_at``),
``{ns}_retry`` (``retry_at``), ``{ns}_dead``, plus ``{ns}_workers`` and ``{ns}_meta``.
A Rust producer's ``INSERT INTO {ns}_jobs (job_json) VALUES (?)`` is picked up by
workers. The queries live in ``sqlite.sql``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import math
import os
import queue
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

from wg_core.backend import (
    Attempt,
    Counters,
    HeartbeatReply,
    JobState,
    Move,
    NewJob,
    StateCounts,
    StoredJob,
    WorkerInfo,
)
from wg_core.backends.common import (
    WORKER_FORGET_AFTER_LEASES,
    Waiters,
    error_matches,
    last_error_of,
)
from wg_core.backends.resources import load_blocks
from wg_core.envelope import DEFAULT_JOB_NAME
from wg_core.errors import (
    BackendError,
    BackendUnavailableError,
    ConfigError,
    DuplicateJobError,
    MissingDependencyError,
    SchemaError,
)
from wg_core.namespace import validate_namespace

try:
    import sqlite3
except ImportError as exc:  # pragma: no cover - Python built without SQLite
    raise MissingDependencyError(
        "this Python was built without the sqlite3 module, which the SQLite backend needs"
    ) from exc

__all__ = ["MIN_SQLITE_VERSION", "SqliteBackend"]

MIN_SQLITE_VERSION: Final = (3, 35, 0)
"""``UPDATE … RETURNING`` appeared in SQLite 3.35."""

_MEMORY: Final = ":memory:"
_MAX_GROUP: Final = 64  # write calls committed together at most
_ID_CHUNK: Final = 512  # job ids looked up by one statement at most (a power of two)
_TABLES: Final = ("jobs", "scheduled", "retry", "dead")  # the order of table_spans
_RECHECK_INTERVAL: Final = 0.1  # an idle claimer's safety net against a missed wake-up
_BUSY_WINDOW: Final = 1.0  # seconds after a commit during which the watcher polls faster
# Transaction control, used by the connection threads around every call.
_BEGIN_WRITE: Final = "BEGIN IMMEDIATE"
_BEGIN_READ: Final = "BEGIN"
_COMMIT: Final = "COMMIT"
_ROLLBACK: Final = "ROLLBACK"
_SAVEPOINT: Final = "SAVEPOINT wg_call"
_RELEASE: Final = "RELEASE wg_call"
_ROLLBACK_TO: Final = "ROLLBACK TO wg_call"
_T = TypeVar("_T")
_Fn = Callable[[sqlite3.Connection], Any]

# Columns wg needs in each table (a table the Rust wg created is upgraded to this shape).
_COLUMNS: Final = {
    "jobs": (
        "id",
        "job_json",
        "job_id",
        "job_name",
        "enqueued_at",
        "lease_token",
        "lease_until",
        "worker_id",
        "claimed_at",
    ),
    "scheduled": ("id", "job_json", "run_at", "run_at_ms", "job_id", "job_name", "enqueued_at"),
    "retry": (
        "id",
        "job_json",
        "retry_at",
        "retry_at_ms",
        "job_id",
        "job_name",
        "last_error",
        "enqueued_at",
    ),
    "dead": ("id", "job_json", "job_id", "job_name", "last_error", "died_at"),
    "workers": (
        "worker_id",
        "host",
        "pid",
        "concurrency",
        "running",
        "started_at",
        "last_seen",
        "state",
        "stop_requested",
        "job_names",
    ),
    "meta": ("id", "paused", "processed", "failed"),
}
# Columns the Rust wg's tables have: without them a table is not a wg table at all.
_RUST_COLUMNS: Final = {
    "jobs": ("id", "job_json"),
    "scheduled": ("id", "job_json", "run_at"),
    "retry": ("id", "job_json", "retry_at"),
    "dead": ("id", "job_json"),
}

_LIST_BLOCKS: Final = {state: f"list_{state.value}" for state in JobState}
_TAKE_BLOCKS: Final = {
    JobState.QUEUED: "take_queued",
    JobState.SCHEDULED: "take_scheduled",
    JobState.RETRY: "take_retry",
    JobState.DEAD: "take_dead",
}
_PURGE_BLOCKS: Final = {
    JobState.QUEUED: "purge_queued",
    JobState.SCHEDULED: "purge_scheduled",
    JobState.RETRY: "purge_retry",
    JobState.DEAD: "purge_dead",
}

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


def _statements(block: str, namespace: str) -> list[str]:
    """The statements of a block: comment lines dropped, ``{ns}`` substituted."""
    lines = [line for line in block.splitlines() if not line.lstrip().startswith("--")]
    text = "\n".join(lines).replace("{ns}", namespace)
    return [part.strip() for part in text.split(";\n") if part.strip()]


def _queries(namespace: str) -> dict[str, list[str]]:
    blocks = load_blocks("wg_core.backends", "sqlite.sql")
    return {name: _statements(block, namespace) for name, block in blocks.items()}


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000


# -- functions registered on every connection (for rows the Rust wg wrote) ---------------


def _document(raw: object) -> dict[str, Any] | None:
    if not isinstance(raw, str):
        return None
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


def _envelope_id(raw: object) -> str | None:
    document = _document(raw)
    value = document.get("id") if document else None
    return value if isinstance(value, str) else None


def _envelope_job_name(raw: object) -> str | None:
    document = _document(raw)
    if document is None:
        return None
    value = document.get("job_name", DEFAULT_JOB_NAME)
    return value if isinstance(value, str) else None


def _error_matches(raw: object, needle: object) -> bool:
    return isinstance(raw, str) and isinstance(needle, str) and error_matches(raw, needle)


def _register_functions(connection: sqlite3.Connection) -> None:
    connection.create_function("wg_envelope_id", 1, _envelope_id, deterministic=True)
    connection.create_function("wg_job_name", 1, _envelope_job_name, deterministic=True)
    connection.create_function("wg_error_matches", 2, _error_matches, deterministic=True)


# -- one connection, one thread ------------------------------------------------------------

_PENDING: Final = 0
_SKIPPED: Final = 1  # cancelled before it started: never ran
_OK: Final = 2
_FAILED: Final = 3


@dataclass(slots=True, eq=False)
class _Call:
    """One piece of work for a connection thread, and its outcome.

    ``future`` belongs to ``loop`` (the caller's): the connection thread only reads
    whether it was cancelled, and hands outcomes back with one ``call_soon_threadsafe``
    per batch (``_deliver``), so a call costs one thread hop each way. ``future`` is
    ``None`` for a write nobody waits for. ``cancellable``: a call whose caller was
    cancelled before it started is skipped (reads and claims; every other write runs
    regardless). ``on_abandon`` receives, on the caller's loop, the result of a call that
    ran although its caller had gone (a claim: the jobs are released). ``atomic``: ``fn``
    executes exactly one statement and consumes its rows, so when it is alone in its
    batch it runs in autocommit mode: the statement is its own transaction (its write
    lock waits up to ``busy_timeout`` like ``BEGIN IMMEDIATE``), two statements fewer.
    """

    fn: _Fn
    write: bool
    durable: bool
    loop: asyncio.AbstractEventLoop | None
    future: asyncio.Future[Any] | None
    cancellable: bool = False
    on_abandon: Callable[[Any], object] | None = None
    atomic: bool = False  # ``fn`` runs one statement: alone, it needs no BEGIN … COMMIT
    state: int = _PENDING
    delivered: bool = False
    value: Any = None

    def start(self) -> bool:
        """Whether to run the call now (False: its caller went away first)."""
        future = self.future
        if self.cancellable and future is not None and future.cancelled():
            self.state = _SKIPPED
            return False
        return True

    def succeed(self, value: Any) -> None:
        self.state = _OK
        self.value = value

    def fail(self, exc: BaseException) -> None:
        self.state = _FAILED
        self.value = exc


def _settle(calls: list[_Call]) -> None:
    """Hand outcomes to their callers (runs on the callers' loop)."""
    for call in calls:
        future = call.future
        if future is None or call.state == _SKIPPED:
            continue
        if future.cancelled():
            if call.state == _OK and call.on_abandon is not None:
                try:
                    call.on_abandon(call.value)
                except Exception as exc:  # keep settling the others
                    message = "SQLite backend: releasing an abandoned claim failed"
                    context = {"message": message, "exception": exc}
                    future.get_loop().call_exception_handler(context)
        elif call.state == _OK:
            future.set_result(call.value)
        else:
            future.set_exception(call.value)


def _deliver(calls: list[_Call]) -> None:
    """Wake each caller's loop once for the whole batch (called on the connection thread)."""
    if len(calls) == 1:  # the usual case when nothing else was queued
        call = calls[0]
        loop = call.loop
        if loop is not None and not call.delivered:
            call.delivered = True
            with contextlib.suppress(RuntimeError):  # the caller's loop is closed
                loop.call_soon_threadsafe(_settle, calls)
        return
    by_loop: dict[asyncio.AbstractEventLoop, list[_Call]] = {}
    for call in calls:
        if call.future is not None and call.loop is not None and not call.delivered:
            call.delivered = True
            by_loop.setdefault(call.loop, []).append(call)
    for loop, group in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the caller's loop is closed: nobody waits
            loop.call_soon_threadsafe(_settle, group)


class _ConnectionThread:
    """A sqlite3 connection used only from its own thread; calls run there in order.

    Write calls run inside ``BEGIN IMMEDIATE … COMMIT``; consecutive write calls that are
    already queued share one transaction, each under its own savepoint (group commit).
    A call never waits for others to arrive: a lone call commits at once.
    Read calls run in a deferred transaction (one consistent snapshot).

    ``lazy_sync``: the statements that switch ``synchronous`` to NORMAL and back to FULL.
    With them, a transaction made only of calls submitted with ``durable=False`` commits
    without waiting for the disk (it reaches the disk with the next durable commit).
    """

    def __init__(
        self,
        name: str,
        connect: Callable[[], sqlite3.Connection],
        *,
        lazy_sync: tuple[str, str] | None = None,
    ) -> None:
        self._connect = connect
        self._lazy_sync = lazy_sync
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    async def start(self) -> None:
        self._thread.start()
        await asyncio.wrap_future(self._ready)

    def submit(self, call: _Call) -> None:
        self._calls.put(call)

    def submit_unawaited(self, fn: _Fn) -> None:
        """Queue a durable write whose outcome nobody waits for."""
        self._calls.put(_Call(fn, True, True, None, None))

    async def stop(self) -> None:
        self._calls.put(None)
        await asyncio.to_thread(self._thread.join)

    def _run(self) -> None:
        try:
            connection = self._connect()
        except BaseException as exc:
            self._ready.set_exception(exc)
            return
        self._ready.set_result(None)
        try:
            self._serve(connection)
        finally:
            connection.close()

    def _run_batch(self, connection: sqlite3.Connection, batch: list[_Call], lazy: bool) -> bool:
        """Run ``batch`` in order; returns whether ``synchronous`` is NORMAL afterwards.

        Among consecutive writes, those that need not reach the disk (claims, lease
        renewals) commit first, in their own transaction, and their callers get their
        results before the others wait for the disk: a claim never waits for another
        caller's fsync. Callers that run concurrently have no order among themselves
        anyway, and a caller waits for each call before making the next.
        """
        index = 0
        size = len(batch)
        while index < size:
            if not batch[index].write:
                _run_read(connection, batch[index])
                index += 1
                continue
            end = index + 1
            while end < size and batch[end].write:
                end += 1
            group = batch if end - index == size else batch[index:end]
            index = end
            if self._lazy_sync is None:
                _run_writes(connection, group)
                continue
            quick = [call for call in group if not call.durable]
            if len(quick) == len(group):
                lazy = self._run_synced(connection, group, lazy, want_lazy=True)
                continue
            if quick:
                lazy = self._run_synced(connection, quick, lazy, want_lazy=True)
                _deliver(quick)
                group = [call for call in group if call.durable]
            lazy = self._run_synced(connection, group, lazy, want_lazy=False)
        return lazy

    def _run_synced(
        self, connection: sqlite3.Connection, group: list[_Call], lazy: bool, *, want_lazy: bool
    ) -> bool:
        """Run a group of writes with ``synchronous`` NORMAL (``want_lazy``) or FULL."""
        assert self._lazy_sync is not None
        if want_lazy != lazy:
            to_normal, to_full = self._lazy_sync
            try:
                connection.execute(to_normal if want_lazy else to_full)
            except sqlite3.Error as exc:
                if not want_lazy:  # durability cannot be promised: refuse
                    _fail(group, exc)
                    return lazy
            else:
                lazy = want_lazy
        _run_writes(connection, group)
        return lazy

    def _serve(self, connection: sqlite3.Connection) -> None:
        calls = self._calls
        stopping = False
        lazy = False  # whether synchronous is NORMAL right now
        while not stopping:
            first = calls.get()
            if first is None:
                break
            batch = [first]
            # Take what is already queued, without waiting for more (no batching window).
            while not calls.empty() and len(batch) < _MAX_GROUP:
                call = calls.get()
                if call is None:
                    stopping = True
                    break
                batch.append(call)
            try:
                lazy = self._run_batch(connection, batch, lazy)
            except BaseException as exc:  # never let the thread die with callers waiting
                for call in batch:
                    if call.state == _PENDING:
                        call.fail(exc)
            _deliver(batch)
        # Fail whatever is still queued after the stop request.
        closed = BackendError("the SQLite backend is closed")
        left: list[_Call] = []
        while not calls.empty():
            call = calls.get()
            if call is not None and call.start():
                call.fail(closed)
                left.append(call)
        _deliver(left)


def _fail(calls: list[_Call], exc: BaseException) -> None:
    for call in calls:
        if call.start():
            call.fail(exc)


def _run_read(connection: sqlite3.Connection, call: _Call) -> None:
    if not call.start():
        return
    try:
        connection.execute(_BEGIN_READ)
        try:
            result = call.fn(connection)
        finally:
            connection.execute(_COMMIT)
    except BaseException as exc:
        call.fail(exc)
    else:
        call.succeed(result)


def _enqueue_one(
    statement: str, row: tuple[str, str, str, int], connection: sqlite3.Connection
) -> None:
    if connection.execute(statement, row).rowcount != 1:
        raise DuplicateJobError(f"job id already stored: {row[1]}")


def _rollback(connection: sqlite3.Connection) -> None:
    if connection.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            connection.execute(_ROLLBACK)


def _run_writes(connection: sqlite3.Connection, calls: list[_Call]) -> None:
    # Calls cancelled before they started never run (e.g. an abandoned claim).
    live = [call for call in calls if call.start()]
    if not live:
        return
    if len(live) == 1 and live[0].atomic:
        call = live[0]
        try:
            value = call.fn(connection)  # autocommit: the statement is the transaction
        except BaseException as exc:
            _rollback(connection)  # in case fn left a transaction open after all
            call.fail(exc)
        else:
            call.succeed(value)
        return
    grouped = len(live) > 1
    outcomes: list[tuple[bool, Any]] = []
    try:
        connection.execute(_BEGIN_WRITE)
        for call in live:
            if grouped:
                connection.execute(_SAVEPOINT)
            try:
                outcomes.append((True, call.fn(connection)))
            except Exception as exc:
                if not connection.in_transaction:
                    raise  # SQLite rolled the whole transaction back: every call failed
                if not grouped:
                    raise
                connection.execute(_ROLLBACK_TO)
                outcomes.append((False, exc))
            if grouped:
                connection.execute(_RELEASE)
        connection.execute(_COMMIT)
    except BaseException as exc:
        _rollback(connection)
        for call in live:
            call.fail(exc)
        return
    for call, (ok, value) in zip(live, outcomes, strict=True):
        if ok:
            call.succeed(value)
        else:
            call.fail(value)


class _CommitWatcher:
    """Wakes idle claimers when another connection (another process) commits.

    A thread polls ``PRAGMA data_version`` on its own connection every ``interval``
    seconds (a few microseconds each: it reads shared memory, not the file) and counts
    the changes it sees in ``changes``. Within a second of a change it polls five times
    as often: work tends to come in runs, and a quiet queue costs the slower rate only.
    It polls only while a claimer is idle (between ``enter`` and ``leave``): a busy
    worker's claims find the work themselves, and its own commits would otherwise keep
    the watcher polling at the fast rate for nothing.
    """

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        query: str,
        waiters: Waiters,
        interval: float,
    ) -> None:
        self.changes = 0
        self.ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._connect = connect
        self._query = query
        self._waiters = waiters
        self._interval = interval
        self._stopping = threading.Event()
        self._wanted = threading.Event()  # set when a claimer goes idle
        self._idle = 0  # claimers between enter() and leave()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="wg-sqlite-watch", daemon=True)
        self._thread.start()

    def enter(self) -> None:
        """A claimer found no work and is about to wait: watch (at once) until it leaves."""
        with self._lock:
            self._idle += 1
        self._wanted.set()

    def leave(self) -> None:
        with self._lock:
            self._idle -= 1

    async def stop(self) -> None:
        self._stopping.set()
        self._wanted.set()
        await asyncio.to_thread(self._thread.join)

    def _run(self) -> None:
        try:
            connection = self._connect()
        except sqlite3.Error:
            self.ready.set_result(None)  # claimers fall back to their periodic re-check
            return
        except BaseException:
            self.ready.set_result(None)  # never leave a claimer waiting on a dead thread
            raise
        try:
            last = self._version(connection)
            self.ready.set_result(None)
            busy_until = 0.0
            interval = self._interval
            while not self._stopping.is_set():
                if not self._idle:
                    # Nobody waits: sleep until a claimer goes idle, then look at once
                    # (commits made meanwhile show as one change).
                    self._wanted.wait()
                    self._wanted.clear()
                    if self._stopping.is_set():
                        break
                elif self._stopping.wait(interval):
                    break
                current = self._version(connection)
                now = time.monotonic()
                if current != last:
                    last = current
                    self.changes += 1
                    self._waiters.wake_all()
                    busy_until = now + _BUSY_WINDOW
                interval = self._interval / 5 if now < busy_until else self._interval
        finally:
            connection.close()

    def _version(self, connection: sqlite3.Connection) -> int | None:
        try:
            value: int = connection.execute(self._query).fetchone()[0]
        except sqlite3.Error:
            return None  # locked for a moment (timeout=0): look again next time
        return value


# -- the backend ---------------------------------------------------------------------------


def _parse_url(url: str | os.PathLike[str]) -> str:
    """The file path named by ``url``, or ``":memory:"``."""
    if isinstance(url, os.PathLike):
        return os.path.abspath(os.fspath(url))
    if not isinstance(url, str):
        raise ConfigError(f"SQLite URL must be a string or a path, got {type(url).__name__}")
    path = url
    if url.lower().startswith("sqlite:"):
        path = url[len("sqlite:") :]
        if path.startswith("//"):
            # sqlite:///abs/path.db -> /abs/path.db; sqlite://rel.db -> rel.db (as sqlx)
            path = path[2:]
        path, _, query = path.partition("?")
        if query and query not in ("mode=rwc", "mode=rw"):
            raise ConfigError(f"unsupported SQLite URL parameters {query!r} in {url!r}")
    if path == _MEMORY:
        return _MEMORY
    if not path:
        raise ConfigError(f"SQLite URL {url!r} names no file: use sqlite:PATH or sqlite::memory:")
    return os.path.abspath(os.path.expanduser(path))


class SqliteBackend:
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
        self._path = _parse_url(url)
        if synchronous not in ("full", "normal"):
            raise ConfigError(f"synchronous must be 'full' or 'normal', not {synchronous!r}")
        if busy_timeout < 0 or poll_interval <= 0:
            raise ConfigError("busy_timeout must be >= 0 and poll_interval > 0")
        self._clock = clock
        self._busy_timeout = busy_timeout
        self._synchronous = synchronous
        self._poll_interval = poll_interval
        self._q = _queries(self._namespace)
        self._sized_queries: dict[tuple[str, str, int], str] = {}
        self._in_memory = self._path == _MEMORY
        # An in-memory database is private to this backend (one connection holds it).
        self._waiters = Waiters() if self._in_memory else _waiters_for(self._path, namespace)
        self._writer: _ConnectionThread | None = None
        self._reader: _ConnectionThread | None = None
        self._watcher: _CommitWatcher | None = None
        self._open_lock = asyncio.Lock()
        self._closed = False

    @classmethod
    def in_memory(cls, namespace: str = "wg", **options: Any) -> SqliteBackend:
        """A backend on a private in-memory database (tests; lost when closed)."""
        return cls(_MEMORY, namespace, **options)

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
            _register_functions(connection)
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

    async def open(self) -> None:
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
        writer = _ConnectionThread(
            "wg-sqlite-write", lambda: self._connect(write=True), lazy_sync=lazy_sync
        )
        self._writer = writer
        await writer.start()
        if self._in_memory:
            self._reader = writer  # one connection holds the whole database
            return
        reader = _ConnectionThread("wg-sqlite-read", lambda: self._connect(write=False))
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
        for statement in self._q["create_schema"]:
            connection.execute(statement)
        for table, columns in _COLUMNS.items():
            name = f"{self._namespace}_{table}"
            present = {row[0] for row in connection.execute(self._q["table_columns"][0], (name,))}
            missing = [column for column in columns if column not in present]
            rust = _RUST_COLUMNS.get(table)
            if missing and rust is not None and all(c in present for c in rust):
                # A table the Rust wg created: add wg's columns (all nullable).
                for statement in self._q[f"upgrade_{table}"]:
                    try:
                        connection.execute(statement)
                    except sqlite3.OperationalError as exc:
                        if "duplicate column" not in str(exc):
                            raise
                present = {
                    row[0] for row in connection.execute(self._q["table_columns"][0], (name,))
                }
                missing = [column for column in columns if column not in present]
            if missing:
                raise SchemaError(
                    f"table {name!r} in {self._path} exists but is not a wg table: it lacks "
                    f"the columns {', '.join(missing)}. Use another namespace, or drop it."
                )
        for statement in self._q["create_indexes"]:
            connection.execute(statement)

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
        thread: _ConnectionThread | None,
        fn: _Fn,
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
        thread.submit(_Call(fn, write, durable, loop, future, cancellable, on_abandon, atomic))
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

    async def _commit_watcher(self) -> _CommitWatcher | None:
        """The watcher of other processes' commits, started on the first idle claim."""
        if self._in_memory or self._writer is None:
            return None  # nobody else can write to this database
        if self._watcher is None:
            (query,) = self._q["data_version"]
            connect = partial(sqlite3.connect, self._path, timeout=0, isolation_level=None)
            self._watcher = _CommitWatcher(connect, query, self._waiters, self._poll_interval)
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
                c.executemany(insert_queued, queued)
            if scheduled:
                c.executemany(insert_scheduled, scheduled)

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
        watcher: _CommitWatcher | None = None,
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

    async def retry(self, attempt: Attempt, *, raw: str, delay: float) -> bool:
        now = self._now_ms()
        due = now + _ms(delay)
        error = last_error_of(raw)
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

    async def bury(self, attempt: Attempt, *, raw: str) -> bool:
        now = self._now_ms()
        error = last_error_of(raw)
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

    async def reclaim_expired(self, *, limit: int, lease: float, worker_id: str) -> list[Attempt]:
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

    # -- admin ---------------------------------------------------------------------------

    async def counts(self) -> StateCounts:
        (query,) = self._q["counts"]
        row = await self._read(lambda c: c.execute(query).fetchone())
        queued, scheduled, retry, running, dead, oldest = row
        return StateCounts(
            queued=queued,
            scheduled=scheduled,
            retry=retry,
            running=running,
            dead=dead,
            oldest_queued_at=_seconds(oldest),
        )

    async def counters(self) -> Counters:
        (query,) = self._q["counters"]
        row = await self._read(lambda c: c.execute(query).fetchone())
        return Counters(processed=row[0], failed=row[1]) if row else Counters()

    async def list_jobs(
        self,
        state: JobState,
        *,
        limit: int,
        offset: int = 0,
        newest_first: bool = False,
        job_name: str | None = None,
        error_contains: str | None = None,
    ) -> list[StoredJob]:
        name = _LIST_BLOCKS[JobState(state)] + ("_desc" if newest_first else "")
        (query,) = self._q[name]
        params = (job_name, error_contains, max(0, limit), max(0, offset))
        rows = await self._read(lambda c: c.execute(query, params).fetchall())
        return [_stored(JobState(state), *row) for row in rows]

    async def get_job(self, job_id: str) -> StoredJob | None:
        (query,) = self._q["get_job"]
        row = await self._read(lambda c: c.execute(query, (job_id,)).fetchone())
        return None if row is None else _stored(JobState(row[0]), *row[1:])

    async def move_to_queue(self, moves: Sequence[Move]) -> int:
        if not moves:
            return 0
        now = self._now_ms()
        (insert,) = self._q["insert_queued"]
        takes = {state: self._q[block][0] for state, block in _TAKE_BLOCKS.items()}

        def run(c: sqlite3.Connection) -> int:
            moved = 0
            for move in moves:
                take = takes.get(JobState(move.from_state))
                if take is None:
                    continue  # RUNNING jobs belong to their worker
                row = c.execute(take, (move.job_id,)).fetchone()
                if row is None:
                    continue
                c.execute(insert, (move.raw, move.job_id, row[0], now))
                moved += 1
            return moved

        moved: int = await self._write(run)
        if moved:
            self._waiters.wake_all()
        return moved

    async def delete_jobs(self, job_ids: Sequence[str]) -> int:
        if not job_ids:
            return 0
        takes = [self._q[block][0] for block in _TAKE_BLOCKS.values()]

        def run(c: sqlite3.Connection) -> int:
            deleted = 0
            for job_id in job_ids:
                for take in takes:
                    if c.execute(take, (job_id,)).fetchall():
                        deleted += 1
                        break
            return deleted

        deleted: int = await self._write(run)
        return deleted

    async def purge(self, state: JobState) -> int:
        if state is JobState.RUNNING:
            raise ValueError("running jobs cannot be purged; stop their workers first")
        (purge,) = self._q[_PURGE_BLOCKS[JobState(state)]]
        purged: int = await self._write(lambda c: c.execute(purge).rowcount)
        return purged

    async def set_paused(self, paused: bool) -> None:
        (query,) = self._q["set_paused"]
        await self._write(lambda c: c.execute(query, (int(paused),)).rowcount)
        if not paused:
            self._waiters.wake_all()

    async def is_paused(self) -> bool:
        (query,) = self._q["is_paused"]
        row = await self._read(lambda c: c.execute(query).fetchone())
        return bool(row and row[0])

    async def list_workers(self) -> list[WorkerInfo]:
        (query,) = self._q["list_workers"]
        rows = await self._read(lambda c: c.execute(query).fetchall())
        return [
            WorkerInfo(
                worker_id=worker_id,
                host=host,
                pid=pid,
                concurrency=concurrency,
                running=running,
                started_at=started_at / 1000,
                last_seen=last_seen / 1000,
                state=state,
                stop_requested=bool(stop_requested),
                job_names=tuple(json.loads(job_names)),
            )
            for (
                worker_id,
                host,
                pid,
                concurrency,
                running,
                started_at,
                last_seen,
                state,
                stop_requested,
                job_names,
            ) in rows
        ]

    async def request_worker_stop(self, worker_id: str) -> bool:
        (query,) = self._q["request_worker_stop"]
        changed: int = await self._write(lambda c: c.execute(query, (worker_id,)).rowcount)
        return changed > 0


def _stored(
    state: JobState,
    row_id: int,
    job_id: str | None,
    raw: str,
    due_ms: int | None,
    lease_until_ms: int | None,
    worker_id: str | None,
    updated_ms: int | None,
) -> StoredJob:
    return StoredJob(
        # Rows the Rust wg inserted carry their id only inside the envelope.
        job_id=job_id or _envelope_id(raw) or f"row-{row_id}",
        state=state,
        raw=raw,
        due_at=_seconds(due_ms),
        lease_until=_seconds(lease_until_ms),
        worker_id=worker_id,
        updated_at=_seconds(updated_ms),
    )
