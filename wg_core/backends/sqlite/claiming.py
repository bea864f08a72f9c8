"""How the SQLite backend claims and waits for work (mixed into ``SqliteBackend``): the
claim in one ``UPDATE … RETURNING`` statement per queue, the release of what a
cancelled claim leased, and idle claimers woken by this process's enqueues
(``wakeups.py``) and by other processes' commits (``watcher.py``)."""

from __future__ import annotations

import abc
import asyncio
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Final, TypeVar

from wg_core.backend import Attempt
from wg_core.backends.sql.base import SqlBackend
from wg_core.backends.sql.session import Body, Row, SqlSession, drive, micros
from wg_core.backends.sqlite.connection import ConnectionThread
from wg_core.backends.sqlite.session import SqliteSession
from wg_core.backends.sqlite.watcher import CommitWatcher
from wg_core.errors import BackendError

__all__ = ["SqliteClaims"]

_RECHECK_INTERVAL: Final = 0.1  # an idle claimer's safety net against a missed wake-up
T = TypeVar("T")


def _priority_then_age(row: Row) -> tuple[int, int]:
    """A claimed row's place in its queue: higher priority first, then lower id."""
    return -row[2], row[0]


class SqliteClaims(SqlBackend):
    """Claiming and waiting for work; ``SqliteBackend`` provides the connections."""

    _in_memory: bool
    _path: str
    _poll_interval: float
    _writer: ConnectionThread | None
    _watcher: CommitWatcher | None

    @abc.abstractmethod
    def _now_ms(self) -> int:
        """The backend's clock, in Unix milliseconds."""

    @abc.abstractmethod
    def _session(self, connection: sqlite3.Connection) -> SqliteSession:
        """This backend's session on ``connection`` (see ``SqliteBackend``)."""

    @abc.abstractmethod
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
        """Run ``body`` on ``thread``'s connection (see ``SqliteBackend``)."""

    async def _claim_now(
        self, limit: int, lease: float, worker_id: str, queues: tuple[str, ...]
    ) -> list[Attempt]:
        # The claim in one UPDATE … RETURNING statement (autocommit when alone: the
        # statement takes the write lock before it reads). Cancelled before it ran, it
        # never runs; cancelled while it ran, its jobs are released.
        if not self._opened:
            raise BackendError(f"{self!r} is not open: call open() first")
        batch = uuid.uuid4().hex
        params: dict[str, Any] = {
            "batch": batch,
            "lease_us": micros(lease),
            "worker_id": worker_id,
            "limit": limit,
        }

        async def body(session: SqlSession) -> list[Attempt]:
            # Each queue's claim statement in turn, in the pool's order, until the batch
            # is full; several queues run in one transaction (the write lock held
            # throughout), so a later queue is read only while the earlier ones had too
            # few ready jobs. Mostly the first queue fills the batch: one statement, as
            # for a single queue (one statement over every queue, a UNION ALL of one
            # part per queue, cost SQLite 40 % more per claim).
            attempts: list[Attempt] = []
            for queue in queues:
                wanted = {**params, "queue": queue, "limit": limit - len(attempts)}
                rows = await session.fetch("claim", wanted)
                rows.sort(key=_priority_then_age)  # RETURNING has no defined order
                attempts.extend(
                    Attempt(key=str(row[0]), token=f"{batch}-{row[0]}", raw=row[1], queue=queue)
                    for row in rows
                )
                if len(attempts) >= limit:
                    break
            return attempts

        try:
            return await self._call(
                self._writer,
                body,
                write=True,
                durable=False,
                atomic=len(queues) == 1,  # one statement: its own transaction
                on_abandon=self._release_abandoned,
            )
        except Exception as exc:
            translated = self._wg_error(exc)
            if translated is None:
                raise
            raise translated from exc

    async def _claim_unit(self, body: Body[list[Attempt]]) -> list[Attempt]:
        # A limited claim (sql/limiting.py): one write transaction, and what it leased
        # for a caller cancelled meanwhile is given back, as by the claim above.
        if not self._opened:
            raise BackendError(f"{self!r} is not open: call open() first")

        async def now_locked(session: SqlSession) -> list[Attempt]:
            # Its "now" is read under the write lock, not when the unit was queued: a
            # rate's starts are then logged in the order they commit. With the time it
            # was queued (maybe long before it got the lock), a start could be logged
            # earlier than starts another process had pruned with a later time in the
            # meantime, and windows by the log held more starts than the rate.
            assert isinstance(session, SqliteSession)
            session.now_ms = self._now_ms()
            return await body(session)

        try:
            return await self._call(
                self._writer,
                now_locked,
                write=True,
                durable=False,
                on_abandon=self._release_abandoned,
            )
        except Exception as exc:
            translated = self._wg_error(exc)
            if translated is None:
                raise
            raise translated from exc

    def _release_abandoned(self, attempts: list[Attempt]) -> None:
        """Put back what a cancelled claim leased (called on the claimer's loop)."""
        writer = self._writer
        if not attempts or writer is None:
            return
        now, handles = self._now_ms(), self._handles(attempts)

        def release(connection: sqlite3.Connection) -> int:
            session = self._session(connection)
            session.now_ms = now
            return drive(session.execute("release", handles))

        writer.submit_unawaited(release)
        self._waiters.wake_all()

    async def _wait_for_work(
        self,
        timeout: float,
        generation: int,
        limit: int,
        lease: float,
        worker_id: str,
        queues: Sequence[str],
    ) -> list[Attempt]:
        # Woken by this process's enqueues (the shared Waiters) and by the commit
        # watcher, which sees other processes' commits and moves the wake generation on.
        if self._wake_generation != generation:
            return []
        watcher, started = await self._commit_watcher()
        if started:
            return []  # commits before the watcher's first look went unseen: look again
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if watcher is not None:
            watcher.enter()
        try:
            while self._opened and self._wake_generation == generation:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                # The watcher may see a commit just before this claimer starts waiting
                # and wake nobody: waking up now and then to compare generations closes
                # that gap.
                if await self._waiters.wait(min(remaining, _RECHECK_INTERVAL)):
                    break
        finally:
            if watcher is not None:
                watcher.leave()
        return []

    async def _commit_watcher(self) -> tuple[CommitWatcher | None, bool]:
        """The watcher of other processes' commits (started by the first idle claim),
        and whether it was started just now."""
        if self._in_memory or self._writer is None:
            return None, False  # nobody else can write to this database
        started = self._watcher is None
        if self._watcher is None:
            query = self._sql["data_version"]
            connect_ = partial(sqlite3.connect, self._path, timeout=0, isolation_level=None)
            self._watcher = CommitWatcher(
                connect_, query, self._external_change, self._poll_interval
            )
        if not self._watcher.ready.done():
            await asyncio.wrap_future(self._watcher.ready)
        return self._watcher, started

    def _external_change(self) -> None:
        """Another connection committed (called on the watcher's thread)."""
        self._wake_generation += 1
        self._waiters.wake_all()
