"""Finished jobs in the SQL engine (mixed into ``SqlBackend``): completing with a
result, cancelling, progress, pruning, and waiting for a job to finish or for a cancel
request.

A job kept after it finished moves from its state's table to ``{ns}_finished`` in one
transaction (the row of ``{ns}_jobs`` is locked first, so nobody moves it meanwhile);
``complete`` with nothing to keep is the dialect's plain delete, unchanged. Waiting
uses the dialect's signal (PostgreSQL's LISTEN/NOTIFY) where it has one and is
listening, this process's own wake-ups (``signals.Signal``) always, and otherwise
short polling (at most every ``WAIT_POLL_MAX`` seconds).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from typing import Any, ClassVar, Final

from wg_core.backend import (
    Attempt,
    CancelOutcome,
    Completion,
    JobState,
    Progress,
    StoredJob,
)
from wg_core.backends.sql.admin import AdminVerbs, id_pattern
from wg_core.backends.sql.schema import STATE_TABLES
from wg_core.backends.sql.session import Row, SqlSession, micros
from wg_core.backends.sql.signals import Signal
from wg_core.backends.sql.verbs import WorkVerbs
from wg_core.envelope import peek_envelope

__all__ = ["ENDED_STATES", "FinishVerbs"]

ENDED_STATES: Final = frozenset({JobState.COMPLETED, JobState.CANCELLED, JobState.DEAD})
"""The states ``wait_finished`` stops waiting at."""

LIVE_RECHECK: Final = 1.0
"""While the dialect's own signal is up, a waiter still looks every this many seconds:
a job completed with nothing to keep (deleted, no notification) or buried elsewhere."""

CANCEL_PASSES: Final = 3
"""How many times ``cancel`` looks for a job found in no table: a job moving between
two tables while it looks (promoted, requeued) may be missed by one pass."""


class FinishVerbs(WorkVerbs, AdminVerbs):
    """Results, cancellation, progress, retention and waiting, written over ``_run``
    and the other verbs."""

    WAIT_POLL_MIN: ClassVar[float] = 0.05
    """The first pause of a polling waiter (it doubles up to ``WAIT_POLL_MAX``)."""
    WAIT_POLL_MAX: ClassVar[float] = 0.5
    """The longest pause of a polling waiter."""
    LOCKS_ROWS: ClassVar[bool] = True
    """Whether a transaction must lock the rows it reads before moving them (SQLite's
    write transaction holds the only write lock already)."""

    _opened: bool
    _finished: Signal
    _cancels: Signal
    _cancels_seen: int
    _cancel_count_seen: int | None

    # -- hooks of the dialects ------------------------------------------------------------

    async def _announce_finished(self, session: SqlSession) -> None:
        """Tell other processes' waiters that jobs finished, inside the transaction
        (nothing by default: they poll)."""
        return None

    async def _announce_cancel(self, session: SqlSession) -> None:
        """Tell other processes' workers that a cancel was requested (by default the
        counter ``count_cancel`` bumps is what they poll)."""
        return None

    async def _start_signals(self) -> None:
        """Make sure the dialect's own signal is being received (PostgreSQL: LISTEN)."""
        return None

    def _signals_live(self) -> bool:
        """Whether other processes' finishes and cancels reach this process by a
        signal right now (else waiters poll)."""
        return False

    async def _delete_held(self, session: SqlSession, handles: dict[str, Any]) -> int:
        """The plain completion's delete and count, inside a unit (a dialect may have a
        faster one)."""
        return await self._complete_counted(session, handles)

    # -- completing with results ------------------------------------------------------------

    async def _complete_kept(self, attempts: Sequence[Attempt], kept: Sequence[Completion]) -> int:
        """``complete`` of a batch with results to keep: lock the held rows, store the
        kept ones as COMPLETED, then the plain delete and count, in one transaction."""
        handles = self._handles(attempts)
        rows = [
            {
                "id": int(item.attempt.key),
                "token": item.attempt.token,
                "result": item.result,
                "keep_us": micros(item.keep),
            }
            for item in kept
        ]

        async def body(session: SqlSession) -> int:
            if self.LOCKS_ROWS:
                await session.fetch("lock_held", handles)
            for row in rows:
                await session.execute("keep_completed", row)
            done = await self._delete_held(session, handles)
            await self._announce_finished(session)
            return done

        done = await self._run(body)
        self._finished.wake()
        await self._slots_freed(attempt.queue for attempt in attempts)
        return done

    async def finish_cancelled(self, attempt: Attempt, *, keep: float, error: str | None) -> bool:
        """RUNNING → CANCELLED (kept ``keep`` seconds, ``error`` as its last error) for
        a held attempt; False if it lost its lease."""
        handle = {"id": int(attempt.key), "token": attempt.token}

        async def body(session: SqlSession) -> bool:
            if not await session.fetch("lock_held", self._handles([attempt])):
                return False
            if keep > 0:
                await session.execute(
                    "keep_cancelled", {**handle, "keep_us": micros(keep), "last_error": error}
                )
            await session.execute("drop_held", handle)
            await self._announce_finished(session)
            return True

        finished = await self._run(body)
        await self._slots_freed((attempt.queue,))
        if finished:
            self._finished.wake()
        return finished

    async def set_progress(self, attempt: Attempt, progress: Progress) -> bool:
        """Record a held attempt's progress (``progress_at``: the backend's clock)."""
        params = {
            "id": int(attempt.key),
            "token": attempt.token,
            "fraction": float(progress.fraction),
            "message": progress.message,
        }

        async def body(session: SqlSession) -> int:
            return await session.execute("set_progress", params)

        return bool(await self._run(body, transaction=False))

    # -- cancelling ---------------------------------------------------------------------

    async def cancel(self, job_id: str, *, keep: float) -> CancelOutcome:
        """A waiting job → CANCELLED now; a running one → its cancel requested (and its
        worker signalled). Each is a locked read and a move (or a flag) in one
        transaction: a completion racing it waits for that lock, or wins before it."""
        outcome = CancelOutcome.NOT_CANCELLABLE
        for _ in range(CANCEL_PASSES):
            outcome, found = await self._run(
                functools.partial(self._cancel, job_id=job_id, keep=keep)
            )
            if found:
                break
        if outcome is CancelOutcome.CANCELLED:
            self._finished.wake()
        elif outcome is CancelOutcome.REQUESTED:
            self._cancels.wake()
        return outcome

    async def _cancel(
        self, session: SqlSession, *, job_id: str, keep: float
    ) -> tuple[CancelOutcome, bool]:
        """One pass of ``cancel``: the outcome, and whether the job was found at all
        (a finished job was; another pass may find a job that was moving)."""
        lookup = {"job_id": job_id, "pattern": id_pattern(job_id)}
        keep_us = micros(keep)
        for row_id, stored_id, raw, token in await session.fetch("find_job", lookup):
            if not _is(job_id, stored_id, raw):
                continue
            if token is not None:
                await session.execute("request_cancel", {"id": row_id, "keep_us": keep_us})
                await session.execute("count_cancel")
                await self._announce_cancel(session)
                return CancelOutcome.REQUESTED, True
            await self._cancel_row(session, JobState.QUEUED, row_id, job_id, keep_us)
            return CancelOutcome.CANCELLED, True
        for state in (JobState.SCHEDULED, JobState.RETRY, JobState.DEAD):
            for row_id, stored_id, _, raw, _, _ in await session.fetch(f"find_{state}", lookup):
                if _is(job_id, stored_id, raw):
                    await self._cancel_row(session, state, row_id, job_id, keep_us)
                    return CancelOutcome.CANCELLED, True
        for state in (JobState.COMPLETED, JobState.CANCELLED):
            for _, stored_id, _, raw, _, _ in await session.fetch(f"find_{state}", lookup):
                if _is(job_id, stored_id, raw):
                    return CancelOutcome.NOT_CANCELLABLE, True
        return CancelOutcome.NOT_CANCELLABLE, False

    async def _cancel_row(
        self, session: SqlSession, state: JobState, row_id: int, job_id: str, keep_us: int
    ) -> None:
        if keep_us > 0:
            await session.execute(
                f"cancel_{state}", {"id": row_id, "job_id": job_id, "keep_us": keep_us}
            )
        await session.execute(f"remove_{STATE_TABLES[state]}", {"ids": [row_id]})
        await self._announce_finished(session)

    # -- retention ------------------------------------------------------------------------

    async def prune(self, *, limit: int) -> int:
        """Delete up to ``limit`` expired finished jobs, oldest expiry first: the rows
        are locked (SKIP LOCKED, or SQLite's write lock) and deleted in one transaction,
        so each is deleted by one pruner. Unique keys' holds that nobody holds any more
        go too, up to ``limit`` of them (``sql/unique.py``), and the state counters of
        sessions gone are folded together (``sql/counting.py``)."""

        async def body(session: SqlSession) -> int:
            await session.execute("unique_forget", {"limit": limit})
            rows = await session.fetch("prune_select", {"limit": limit})
            if not rows:
                return 0
            await session.execute("remove_finished", {"ids": [row[0] for row in rows]})
            return len(rows)

        pruned = await self._run(body)
        await self._prune_limit_keys()
        await self._fold_counts()
        return pruned

    # -- waiting --------------------------------------------------------------------------

    async def wait_finished(self, job_id: str, *, timeout: float) -> StoredJob | None:
        """The job once COMPLETED, CANCELLED or DEAD (or as it is at the timeout);
        ``None`` if there is no such job. Woken by this process's finishes, the
        dialect's signal, or else short polling."""
        await self._start_signals()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        pause = self.WAIT_POLL_MIN
        while True:
            generation = self._finished.generation
            job = await self.get_job(job_id)
            remaining = deadline - loop.time()
            if job is None or job.state in ENDED_STATES or remaining <= 0 or not self._opened:
                return job
            if self._signals_live():
                wait = min(remaining, LIVE_RECHECK)
            else:
                wait = min(remaining, pause)
                pause = min(pause * 2, self.WAIT_POLL_MAX)
            await self._finished.wait(generation, wait)

    async def wait_cancel_request(self, *, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a cancel request of a running job: True
        if one came since the last call returned. Woken by this process's cancels, the
        dialect's signal, or else by polling the cancel counter every
        ``WAIT_POLL_MAX`` seconds."""
        await self._start_signals()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            generation = self._cancels.generation
            if generation != self._cancels_seen:
                self._cancels_seen = generation
                return True
            live = self._signals_live()
            if not live and await self._cancel_counted():
                return True
            remaining = deadline - loop.time()
            if remaining <= 0 or not self._opened:
                return False
            await self._cancels.wait(
                generation, remaining if live else min(remaining, self.WAIT_POLL_MAX)
            )

    async def _cancel_counted(self) -> bool:
        """Whether the stored count of cancel requests moved since last read (the first
        read only notes it)."""

        async def body(session: SqlSession) -> list[Row]:
            return await session.fetch("cancel_requests")

        rows = await self._run(body, read=True)
        count = int(rows[0][0]) if rows and rows[0][0] is not None else 0
        seen, self._cancel_count_seen = self._cancel_count_seen, count
        return seen is not None and count != seen


def _is(job_id: str, stored_id: str | None, raw: str) -> bool:
    """Whether a row found by ``id_pattern`` is that job (a Rust row has no job_id)."""
    return (stored_id if stored_id is not None else peek_envelope(raw).job_id) == job_id
