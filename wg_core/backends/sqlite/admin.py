"""Admin operations of ``SqliteBackend``: counts, listings, moves, deletes, pause, workers."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final, TypeVar

from wg_core.backend import (
    Counters,
    JobState,
    Move,
    StateCounts,
    StoredJob,
    WorkerInfo,
)
from wg_core.backends.common import Waiters
from wg_core.backends.sqlite.schema import envelope_id

__all__ = ["SqliteAdmin"]

_T = TypeVar("_T")

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


class SqliteAdmin:
    """The admin half of ``SqliteBackend`` (a mixin: it needs the backend's plumbing)."""

    _q: dict[str, list[str]]
    _waiters: Waiters

    if TYPE_CHECKING:

        async def _read(self, fn: Callable[[sqlite3.Connection], _T]) -> _T: ...

        async def _write(
            self,
            fn: Callable[[sqlite3.Connection], _T],
            *,
            durable: bool = True,
            atomic: bool = False,
        ) -> _T: ...

        def _now_ms(self) -> int: ...

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
        text_contains: str | None = None,
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


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000


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
        job_id=job_id or envelope_id(raw) or f"row-{row_id}",
        state=state,
        raw=raw,
        due_at=_seconds(due_ms),
        lease_until=_seconds(lease_until_ms),
        worker_id=worker_id,
        updated_at=_seconds(updated_ms),
    )
