"""The admin side of the SQL engine: counts, listings, lookups, moves, deletes, the
pause flag and the worker registry (mixed into ``SqlBackend``)."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Sequence
from typing import Any, Final, TypeVar

from wg_core.backend import (
    Counters,
    JobQuery,
    JobState,
    Move,
    Progress,
    QueueInfo,
    StateCounts,
    StoredJob,
    WorkerInfo,
)
from wg_core.backends.common import error_matches
from wg_core.backends.sql.counting import CountVerbs
from wg_core.backends.sql.limiting import with_limit_keys
from wg_core.backends.sql.schema import STATE_TABLES
from wg_core.backends.sql.session import Row, SqlSession
from wg_core.envelope import peek_envelope
from wg_core.errors import BackendError
from wg_core.queues import DEFAULT_QUEUE

_log = logging.getLogger(__name__)

__all__ = ["AdminVerbs", "id_pattern", "like_pattern"]

T = TypeVar("T")

_ERROR_SCAN_PAGE: Final = 500
_ASCII_LOWER: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _seconds(value: Any) -> float | None:
    return None if value is None else float(value)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def like_pattern(needle: str) -> str:
    """A ``LIKE … ESCAPE '\\'`` pattern matching ``needle`` anywhere, ASCII-lowercased:
    each dialect's block compares it with the stored text folded the same way (as
    ``wg_core.backends.common.text_matches`` does)."""
    return f"%{_escape_like(needle.translate(_ASCII_LOWER))}%"


def _names(text: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """A JSON list of names as stored in the worker registry (``default`` if unreadable)."""
    try:
        names = tuple(str(name) for name in json.loads(text or "null"))
    except (ValueError, TypeError):
        return default
    return names


def _counter_totals(rows: Sequence[Row]) -> dict[str, dict[str, int]]:
    """Counter rows ``(name, total)`` by queue: a queue's rows are named
    ``processed:<queue>`` / ``failed:<queue>``, the queue ``default``'s also plainly
    ``processed`` / ``failed`` (its layout 1 rows)."""
    totals: dict[str, dict[str, int]] = {}
    for name, value in rows:
        counter, _, queue = str(name).partition(":")
        per_queue = totals.setdefault(queue or DEFAULT_QUEUE, {})
        per_queue[counter] = per_queue.get(counter, 0) + int(value or 0)
    return totals


def _impossible(row: Row) -> bool:
    """Whether a ``counts`` row cannot be right: a count below 0, or jobs counted queued
    while no queued row holds a time (the oldest of them)."""
    queued, running, scheduled, retry, dead, oldest = row[:6]
    if min(int(n) for n in (queued, running, scheduled, retry, dead, *row[6:])) < 0:
        return True
    return int(queued) > 0 and oldest is None


def id_pattern(job_id: str) -> str:
    """A LIKE pattern finding ``job_id`` in a compact envelope (confirmed by peeking)."""
    return f'%"id":"{_escape_like(job_id)}"%'


class AdminVerbs(CountVerbs):
    """Admin verbs written over ``_run``; ``SqlBackend`` provides it."""

    async def counts(self, *, queue: str | None = None) -> StateCounts:
        """Jobs per state, of one queue or of all. Kept counts that cannot be right (a
        negative one, or queued jobs without a queued row) are recounted first: a
        writer bypassed the triggers (MySQL's ``TRUNCATE``)."""

        async def body(session: SqlSession) -> list[Row]:
            return await session.fetch("counts", {"queue": queue})

        [row] = await self._run(body, read=True)
        if self.KEEPS_COUNTS and _impossible(row):
            _log.warning(
                "the kept state counts were wrong (%s): recounting the jobs; a writer "
                "bypassed the counting triggers (a TRUNCATE on MySQL?)",
                ", ".join(map(str, row[:5])),
            )
            try:
                await self.recount()
            except BackendError as exc:
                # Best effort: a role that may read but not lock or re-create the
                # triggers (PostgreSQL's needs the tables' owner) still gets its counts.
                _log.warning("recounting failed (%s): run `wg status --recount` as the owner", exc)
            else:
                [row] = await self._run(body, read=True)
        queued, running, scheduled, retry, dead, oldest, completed, cancelled = row
        return StateCounts(
            queued=int(queued),
            scheduled=int(scheduled),
            retry=int(retry),
            running=int(running),
            dead=int(dead),
            oldest_queued_at=_seconds(oldest),
            completed=int(completed),
            cancelled=int(cancelled),
        )

    async def counters(self, *, queue: str | None = None) -> Counters:
        """Processed/failed totals (of one queue), summed over the counter shards."""

        async def body(session: SqlSession) -> list[Row]:
            return await session.fetch("counters")

        by_queue = _counter_totals(await self._run(body, read=True))
        wanted = by_queue.values() if queue is None else [by_queue.get(queue, {})]
        return Counters(
            processed=sum(totals.get("processed", 0) for totals in wanted),
            failed=sum(totals.get("failed", 0) for totals in wanted),
        )

    async def queues(self) -> list[QueueInfo]:
        """Every queue with a job, a pause flag or a counter (``default`` always), by
        name, read in one unit."""

        async def body(session: SqlSession) -> tuple[list[Row], list[Row], list[Row]]:
            return (
                await session.fetch("counts_by_queue"),
                await session.fetch("counters"),
                await session.fetch("queue_flags"),
            )

        counted, counter_rows, flags = await self._run(body, read=True)
        states: dict[str, dict[str, int]] = {}
        oldest: dict[str, float | None] = {}
        for queue, state, n, first in counted:
            states.setdefault(str(queue), {})[str(state)] = int(n)
            if state == "queued":
                oldest[str(queue)] = _seconds(first)
        totals = _counter_totals(counter_rows)
        paused = {str(name): bool(flag) for name, flag in flags}
        counted_names = (name for name, per_queue in totals.items() if any(per_queue.values()))
        names = {
            DEFAULT_QUEUE,
            *states,
            *counted_names,
            *(name for name, on in paused.items() if on),
        }
        infos = []
        for name in sorted(names):
            per_state = states.get(name, {})
            infos.append(
                QueueInfo(
                    name=name,
                    counts=StateCounts(
                        queued=per_state.get("queued", 0),
                        scheduled=per_state.get("scheduled", 0),
                        retry=per_state.get("retry", 0),
                        running=per_state.get("running", 0),
                        dead=per_state.get("dead", 0),
                        oldest_queued_at=oldest.get(name),
                        completed=per_state.get("completed", 0),
                        cancelled=per_state.get("cancelled", 0),
                    ),
                    counters=Counters(
                        processed=totals.get(name, {}).get("processed", 0),
                        failed=totals.get(name, {}).get("failed", 0),
                    ),
                    paused=paused.get(name, False),
                )
            )
        return infos

    async def list_jobs(self, query: JobQuery) -> list[StoredJob]:
        """A page of one state, in the contract's order."""
        state, limit, error_contains = query.state, query.limit, query.error_contains
        block = f"list_{state.value}" + ("_newest" if query.newest_first else "")
        text = query.text_contains
        filters = {
            "queue": query.queue,
            "job_name": query.job_name,
            "text": None if text is None else like_pattern(text),
        }
        if error_contains is None:
            return await self._list_page(block, state, limit, query.offset, filters)
        # last_error lives inside the envelope for most states: filter here, scanning
        # pages in order, so that offset and limit count matching jobs only.
        matches: list[StoredJob] = []
        skip = query.offset
        scanned = 0
        while len(matches) < limit:
            page = await self._list_page(block, state, _ERROR_SCAN_PAGE, scanned, filters)
            scanned += len(page)
            for job in page:
                # A cancelled job's error is its own column (its envelope is as it ran).
                if not error_matches(job.raw, error_contains) and not (
                    job.last_error is not None
                    and error_contains.casefold() in job.last_error.casefold()
                ):
                    continue
                if skip:
                    skip -= 1
                    continue
                matches.append(job)
                if len(matches) == limit:
                    break
            if len(page) < _ERROR_SCAN_PAGE:
                break
        return matches

    async def _list_page(
        self, block: str, state: JobState, limit: int, offset: int, filters: dict[str, Any]
    ) -> list[StoredJob]:
        async def body(session: SqlSession) -> list[StoredJob]:
            rows = await session.fetch(block, {"limit": limit, "offset": offset, **filters})
            return await with_limit_keys(session, [self._stored(state, *row) for row in rows])

        return await self._run(body, read=True)

    @staticmethod
    def _stored(
        state: JobState,
        job_id: str | None,
        raw: str,
        due_at: Any,
        lease_until: Any,
        worker_id: str | None,
        updated_at: Any,
        queue: str | None,
        priority: int | None,
        *history: Any,
    ) -> StoredJob:
        """A listing row as a ``StoredJob``: the eight columns every listing has, then
        (running and finished jobs) result, started_at, finished_at, expires_at,
        progress, progress_message, progress_at, cancel_requested, last_error."""
        if history:
            result, started, finished, expires, fraction, message, at, cancel, error = history
            extra: dict[str, Any] = {
                "result": result,
                "started_at": _seconds(started),
                "finished_at": _seconds(finished),
                "expires_at": _seconds(expires),
                "progress": None
                if fraction is None
                else Progress(float(fraction), message, _seconds(at)),
                "cancel_requested": bool(cancel),
                "last_error": error,
            }
        else:
            extra = {}
        return StoredJob(
            # Rows a foreign producer (the Rust wg) stored carry their id only inside
            # the envelope.
            job_id=job_id if job_id is not None else peek_envelope(raw).job_id or "",
            state=state,
            raw=raw,
            due_at=_seconds(due_at),
            lease_until=_seconds(lease_until),
            worker_id=worker_id,
            updated_at=_seconds(updated_at),
            queue=queue or DEFAULT_QUEUE,
            priority=int(priority or 0),
            **extra,
        )

    async def get_job(self, job_id: str) -> StoredJob | None:
        """The job with that id in any state (rows stored without ``job_id`` by a
        foreign producer are found through their envelope's text)."""

        async def body(session: SqlSession) -> list[StoredJob]:
            rows = await session.fetch("get_job", {"job_id": job_id, "pattern": id_pattern(job_id)})
            found = [self._stored(JobState(state), *row) for state, *row in rows]
            return await with_limit_keys(session, [job for job in found if job.job_id == job_id])

        found = await self._run(body, read=True)
        return found[0] if found else None

    async def move_to_queue(self, moves: Sequence[Move]) -> int:
        """Requeue jobs still in their ``from_state`` at the back, with new envelopes
        (completed and cancelled ones run again, in their queue at their priority)."""
        moved = 0
        for move in moves:
            if await self._run(functools.partial(self._move, move=move)):
                moved += 1
        if moved:
            self._signal()
        return moved

    async def _move(self, session: SqlSession, *, move: Move) -> bool:
        table = STATE_TABLES[move.from_state]
        rows = await session.fetch(
            f"find_{move.from_state.value}",
            {"job_id": move.job_id, "pattern": id_pattern(move.job_id)},
        )
        for row_id, stored_id, job_name, raw, queue, priority in rows:
            if (stored_id if stored_id is not None else peek_envelope(raw).job_id) != move.job_id:
                continue
            await session.execute(f"remove_{table}", {"ids": [row_id]})
            await session.execute(
                "insert_job",
                {
                    "raw": move.raw,
                    "job_id": move.job_id,
                    "job_name": job_name,
                    "queue": queue,
                    "priority": priority,
                },
            )
            await self._announce(session)
            return True
        return False

    async def delete_jobs(self, job_ids: Sequence[str]) -> int:
        """Delete jobs by id in any state but RUNNING."""
        if not job_ids:
            return 0
        ids = {"ids": list(job_ids)}

        async def body(session: SqlSession) -> int:
            total = 0
            for state in ("queued", "scheduled", "retry", "dead", "finished"):
                total += await session.execute(f"delete_{state}", ids)
            return total

        return await self._run(body)

    async def purge(self, state: JobState, *, queue: str | None = None) -> int:
        """Delete every job in ``state`` (not RUNNING: the checked layer refuses it), of
        one queue or of all."""

        async def body(session: SqlSession) -> int:
            return await session.execute(f"purge_{state.value}", {"queue": queue})

        return await self._run(body, transaction=False)

    async def set_paused(self, paused: bool, *, queue: str | None = None) -> None:
        """Pause or resume claiming for the namespace, or for one queue."""

        async def body(session: SqlSession) -> None:
            if queue is None:
                await session.execute("set_paused", {"value": int(paused)})
            else:
                await session.execute("set_queue_paused", {"queue": queue, "value": int(paused)})
            if not paused:
                await self._announce(session)  # idle claimers in other processes look again

        await self._run(body, transaction=False)
        if not paused:
            self._signal()

    async def is_paused(self, *, queue: str | None = None) -> bool:
        """Whether the namespace (or that queue, on its own) is paused."""

        async def body(session: SqlSession) -> list[Row]:
            if queue is None:
                return await session.fetch("is_paused")
            return await session.fetch("is_queue_paused", {"queue": queue})

        rows = await self._run(body, read=True)
        return bool(rows and rows[0][0])

    async def list_workers(self) -> list[WorkerInfo]:
        """Registered workers, most recently started first."""

        async def body(session: SqlSession) -> list[Row]:
            return await session.fetch("list_workers")

        workers = []
        for row in await self._run(body, read=True):
            (worker_id, host, pid, concurrency, running, started, seen, state, stop) = row[:9]
            names, queues = row[9], row[10]
            workers.append(
                WorkerInfo(
                    worker_id=worker_id,
                    host=host,
                    pid=int(pid),
                    concurrency=int(concurrency),
                    running=int(running),
                    started_at=float(started),
                    last_seen=float(seen),
                    state=state,
                    stop_requested=bool(stop),
                    job_names=_names(names, ()),
                    queues=_names(queues, (DEFAULT_QUEUE,)) or (DEFAULT_QUEUE,),
                )
            )
        return workers

    async def request_worker_stop(self, worker_id: str) -> bool:
        """Flag a worker to drain and stop at its next heartbeat."""

        async def body(session: SqlSession) -> int:
            return await session.execute("request_stop", {"worker_id": worker_id})

        return bool(await self._run(body, transaction=False))
