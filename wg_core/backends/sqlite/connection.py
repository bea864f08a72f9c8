"""One SQLite connection on its own thread: calls, group commit, hand-back to asyncio."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from wg_core.errors import BackendError

__all__ = ["Call", "ConnectionThread", "Fn"]

_MAX_GROUP: Final = 64  # write calls committed together at most
# Transaction control, used by the connection threads around every call.
_BEGIN_WRITE: Final = "BEGIN IMMEDIATE"
_BEGIN_READ: Final = "BEGIN"
_COMMIT: Final = "COMMIT"
_ROLLBACK: Final = "ROLLBACK"
_SAVEPOINT: Final = "SAVEPOINT wg_call"
_RELEASE: Final = "RELEASE wg_call"
_ROLLBACK_TO: Final = "ROLLBACK TO wg_call"
Fn = Callable[[sqlite3.Connection], Any]


_PENDING: Final = 0
_SKIPPED: Final = 1  # cancelled before it started: never ran
_OK: Final = 2
_FAILED: Final = 3


@dataclass(slots=True, eq=False)
class Call:
    """One piece of work for a connection thread, and its outcome.

    ``future`` belongs to ``loop`` (the caller's): the connection thread only reads
    whether it was cancelled, and hands outcomes back with one ``call_soon_threadsafe``
    per batch (``_deliver``), so a call costs one thread hop each way. ``future`` is
    ``None`` for a write nobody waits for. ``cancellable``: a call whose caller was
    cancelled before it started is skipped (reads and claims; every other write runs
    regardless). ``on_abandon`` receives, on the caller's loop, the result of a call that
    ran although its caller had gone (a claim: the jobs are released). ``atomic``: ``fn``
    needs no transaction (an engine unit with ``transaction=False``: usually one
    statement, whose rows it consumes), so when it is alone in its batch it runs in
    autocommit mode: each statement is its own transaction (a write statement's lock
    waits up to ``busy_timeout`` like ``BEGIN IMMEDIATE``), two statements fewer.
    """

    fn: Fn
    write: bool
    durable: bool
    loop: asyncio.AbstractEventLoop | None
    future: asyncio.Future[Any] | None
    cancellable: bool = False
    on_abandon: Callable[[Any], object] | None = None
    atomic: bool = False  # ``fn`` needs no transaction: alone, it runs without BEGIN … COMMIT
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


def _settle(calls: list[Call]) -> None:
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


def _deliver(calls: list[Call]) -> None:
    """Wake each caller's loop once for the whole batch (called on the connection thread)."""
    if len(calls) == 1:  # the usual case when nothing else was queued
        call = calls[0]
        loop = call.loop
        if loop is not None and not call.delivered:
            call.delivered = True
            with contextlib.suppress(RuntimeError):  # the caller's loop is closed
                loop.call_soon_threadsafe(_settle, calls)
        return
    by_loop: dict[asyncio.AbstractEventLoop, list[Call]] = {}
    for call in calls:
        if call.future is not None and call.loop is not None and not call.delivered:
            call.delivered = True
            by_loop.setdefault(call.loop, []).append(call)
    for loop, group in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the caller's loop is closed: nobody waits
            loop.call_soon_threadsafe(_settle, group)


class ConnectionThread:
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
        self._calls: queue.SimpleQueue[Call | None] = queue.SimpleQueue()
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    async def start(self) -> None:
        self._thread.start()
        await asyncio.wrap_future(self._ready)

    def submit(self, call: Call) -> None:
        self._calls.put(call)

    def submit_unawaited(self, fn: Fn) -> None:
        """Queue a durable write whose outcome nobody waits for."""
        self._calls.put(Call(fn, True, True, None, None))

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

    def _run_batch(self, connection: sqlite3.Connection, batch: list[Call], lazy: bool) -> bool:
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
        self, connection: sqlite3.Connection, group: list[Call], lazy: bool, *, want_lazy: bool
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
        left: list[Call] = []
        while not calls.empty():
            call = calls.get()
            if call is not None and call.start():
                call.fail(closed)
                left.append(call)
        _deliver(left)


def _fail(calls: list[Call], exc: BaseException) -> None:
    for call in calls:
        if call.start():
            call.fail(exc)


def _run_read(connection: sqlite3.Connection, call: Call) -> None:
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


def _rollback(connection: sqlite3.Connection) -> None:
    if connection.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            connection.execute(_ROLLBACK)


def _run_writes(connection: sqlite3.Connection, calls: list[Call]) -> None:
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
