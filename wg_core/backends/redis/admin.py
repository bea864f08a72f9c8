"""The admin verbs of the Redis backend: counts, listings, look-ups, moves, purges, the
pause flag and the worker registry.

Reads that must agree with each other run in one MULTI; listings page through the
lists and sorted sets in chunks; the moves and deletions are scripts run over chunks of
jobs, so that a long list never blocks the server for long. Jobs that another program
stored without wg's id index (a Rust producer's LPUSH or ZADD) are found by a scan.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any, Final

from wg_core.backend import (
    Counters,
    JobQuery,
    JobState,
    Move,
    StateCounts,
    StoredJob,
    WorkerInfo,
)
from wg_core.backends.common import error_matches, text_matches
from wg_core.backends.redis.keys import LETTER_STATE, STATE_LETTER, Keys
from wg_core.backends.redis.transport import Transport
from wg_core.envelope import peek_envelope

__all__ = ["RedisAdmin", "attempt_meta", "job_id_of"]

_log = logging.getLogger(__name__)

_SCAN_CHUNK: Final = 500
_PURGE_CHUNK: Final = 1000
_ADMIN_CHUNK: Final = 100
_ID_PREFIX: Final = re.compile(r'^\{"id":"([^"\\]*)"')


class RedisAdmin:
    """The admin half of ``RedisBackend`` (a mixin: it needs the backend's transport)."""

    _keys: Keys
    _transport: Transport

    async def counts(self) -> StateCounts:
        k = self._keys
        queued, scheduled, retry, running, dead, next_raw = await self._transport.run_idempotent(
            "counts", (k.jobs, k.schedule, k.retry, k.running, k.dead, k.claimers), ()
        )
        return StateCounts(
            queued=queued,
            scheduled=scheduled,
            retry=retry,
            running=running,
            dead=dead,
            oldest_queued_at=None if next_raw is None else _queued_since(next_raw),
        )

    async def counters(self) -> Counters:
        processed, failed = await self._transport.command(
            "HMGET", self._keys.stats, "processed", "failed"
        )
        return Counters(processed=int(processed or 0), failed=int(failed or 0))

    async def list_jobs(self, query: JobQuery) -> list[StoredJob]:
        job_name, text, error = query.job_name, query.text_contains, query.error_contains

        def wanted(raw: str) -> bool:
            if job_name is not None and _job_name_of(raw) != job_name:
                return False
            if text is not None and not text_matches(raw, text):
                return False
            return error is None or error_matches(raw, error)

        limit, offset = query.limit, query.offset
        if query.state is JobState.RUNNING:
            jobs = await self._running_jobs()
            jobs.sort(key=lambda job: job.updated_at or 0.0, reverse=query.newest_first)
            jobs = [job for job in jobs if wanted(job.raw)]
            return jobs[offset : offset + limit]
        found: list[StoredJob] = []
        skip = offset
        async for job in self._scan(query.state, newest_first=query.newest_first):
            if not wanted(job.raw):
                continue
            if skip:
                skip -= 1
                continue
            found.append(job)
            if len(found) >= limit:
                break
        return await self._identified(found) if found else found

    async def _identified(self, jobs: list[StoredJob]) -> list[StoredJob]:
        """``jobs`` (of one non-running state) under the ids their texts are known by
        (``{ns}:aliases``), and for dead jobs with their time of death, where known."""
        k = self._keys
        aliases = await self._transport.command("HMGET", k.aliases, *(j.raw for j in jobs))
        jobs = [
            job if alias is None else dataclasses.replace(job, job_id=alias)
            for job, alias in zip(jobs, aliases, strict=True)
        ]
        if jobs[0].state is not JobState.DEAD:
            return jobs
        died = await self._transport.command("HMGET", k.died, *(j.job_id for j in jobs))
        return [
            job if when is None else dataclasses.replace(job, updated_at=float(when))
            for job, when in zip(jobs, died, strict=True)
        ]

    async def _scan(self, state: JobState, *, newest_first: bool) -> AsyncIterator[StoredJob]:
        """Jobs of a non-running state in the listing order, read in chunks."""
        start = 0
        while True:
            page = await self._transport.guard(
                functools.partial(self._page, state, start, start + _SCAN_CHUNK - 1, newest_first),
                idempotent=True,
            )
            for job in page:
                yield job
            if len(page) < _SCAN_CHUNK:
                return
            start += _SCAN_CHUNK

    async def _page(
        self, state: JobState, start: int, stop: int, newest_first: bool
    ) -> list[StoredJob]:
        client: Any = self._transport.ready()
        k = self._keys
        if state in (JobState.QUEUED, JobState.DEAD):
            key = k.jobs if state is JobState.QUEUED else k.dead
            # Both lists grow at the left: the next to run (the oldest burial) is rightmost.
            if newest_first:
                raws: list[str] = await client.execute_command("LRANGE", key, start, stop)
            else:
                raws = await client.execute_command("LRANGE", key, -stop - 1, -start - 1)
                raws.reverse()
            return [StoredJob(job_id=job_id_of(raw), state=state, raw=raw) for raw in raws]
        key = k.schedule if state is JobState.SCHEDULED else k.retry
        scored = await client.execute_command(
            "ZRANGE", key, start, stop, *(("REV",) if newest_first else ()), "WITHSCORES"
        )
        return [
            StoredJob(job_id=job_id_of(raw), state=state, raw=raw, due_at=score)
            for raw, score in _score_pairs(scored)
        ]

    async def _running_jobs(self) -> list[StoredJob]:
        k = self._keys
        running, attempts, leases = await self._transport.snapshot(
            ("HGETALL", k.running),
            ("HGETALL", k.attempts),
            ("ZRANGE", k.leases, 0, -1, "WITHSCORES"),
        )
        deadlines = dict(_score_pairs(leases))
        jobs: list[StoredJob] = []
        for token, raw in running.items():
            job_id, worker_id, claimed_at = attempt_meta(attempts.get(token, ""))
            deadline = deadlines.get(token)
            jobs.append(
                StoredJob(
                    job_id=job_id or job_id_of(raw),
                    state=JobState.RUNNING,
                    raw=raw,
                    lease_until=None if deadline is None else float(deadline),
                    worker_id=worker_id,
                    updated_at=claimed_at,
                )
            )
        return jobs

    async def get_job(self, job_id: str) -> StoredJob | None:
        k = self._keys
        waiting = (k.jobs, k.schedule, k.retry, k.dead)  # the spec's four
        running = (k.running, k.leases, k.attempts, k.claimers)
        reply = await self._transport.run_idempotent(
            "get_job", (k.ids, *waiting, *running, k.died), (job_id,)
        )
        if reply is not None:
            letter, raw, score, meta = reply
            state = LETTER_STATE[letter]
            if state is JobState.RUNNING:
                _, worker_id, claimed_at = attempt_meta(meta)
                return StoredJob(
                    job_id=job_id,
                    state=state,
                    raw=raw,
                    lease_until=float(score) if score else None,
                    worker_id=worker_id,
                    updated_at=claimed_at,
                )
            return StoredJob(
                job_id=job_id,
                state=state,
                raw=raw,
                due_at=float(score) if score else None,
                updated_at=float(meta) if state is JobState.DEAD and meta else None,
            )
        return await self._find_unindexed(job_id)

    async def _find_unindexed(self, job_id: str) -> StoredJob | None:
        """Look for a job another program stored without wg's index (a Rust producer's
        LPUSH or ZADD): a scan, so O(jobs), but only for ids the index does not know."""
        needle = json.dumps(job_id, ensure_ascii=False)
        for state in (JobState.QUEUED, JobState.SCHEDULED, JobState.RETRY, JobState.DEAD):
            async for job in self._scan(state, newest_first=False):
                if needle in job.raw and job.job_id == job_id:
                    return job
        return None

    async def move_to_queue(self, moves: Sequence[Move]) -> int:
        statuses = await self._admin(
            "move_to_queue",
            [(m.job_id, STATE_LETTER[m.from_state], "", m.raw) for m in moves],
        )
        moved = statuses.count(1)
        # Jobs the index does not know (another program stored them): look, then move.
        found: list[tuple[str, ...]] = []
        for move, status in zip(moves, statuses, strict=True):
            if status == -1:
                stored = await self._find_unindexed(move.job_id)
                if stored is not None and stored.state is move.from_state:
                    letter = STATE_LETTER[stored.state]
                    found.append((move.job_id, letter, stored.raw, move.raw))
        if found:
            moved += (await self._admin("move_to_queue", found)).count(1)
        return moved

    async def delete_jobs(self, job_ids: Sequence[str]) -> int:
        statuses = await self._admin("delete_jobs", [(job_id, "", "") for job_id in job_ids])
        deleted = statuses.count(1)
        found: list[tuple[str, ...]] = []
        for job_id, status in zip(job_ids, statuses, strict=True):
            if status == -1:
                stored = await self._find_unindexed(job_id)
                if stored is not None:
                    found.append((job_id, STATE_LETTER[stored.state], stored.raw))
        if found:
            deleted += (await self._admin("delete_jobs", found)).count(1)
        return deleted

    async def _admin(self, name: str, items: Sequence[tuple[str, ...]]) -> list[int]:
        """Run an admin script over ``items`` in chunks (each one script call, so that a
        long list never blocks the server for long); one status per item."""
        k = self._keys
        statuses: list[int] = []
        for start in range(0, len(items), _ADMIN_CHUNK):
            args = [value for item in items[start : start + _ADMIN_CHUNK] for value in item]
            statuses += await self._transport.run(
                name, (k.jobs, k.schedule, k.retry, k.dead, k.ids, k.died, k.aliases), args
            )
        return statuses

    async def purge(self, state: JobState) -> int:
        k = self._keys
        key, kind = {
            JobState.QUEUED: (k.jobs, "list"),
            JobState.SCHEDULED: (k.schedule, "zset"),
            JobState.RETRY: (k.retry, "zset"),
            JobState.DEAD: (k.dead, "list"),
        }[state]
        total = 0
        while True:
            # In chunks, so that a purge of millions never blocks the server for long.
            removed: int = await self._transport.run_idempotent(
                "purge",
                (key, k.ids, k.died, k.aliases),
                (kind, STATE_LETTER[state], _PURGE_CHUNK),
            )
            total += removed
            if removed < _PURGE_CHUNK:
                return total

    async def set_paused(self, paused: bool) -> None:
        k = self._keys
        await self._transport.run_idempotent(
            "set_paused", (k.paused, k.resumed), ("1" if paused else "0",)
        )

    async def is_paused(self) -> bool:
        return bool(await self._transport.command("EXISTS", self._keys.paused))

    async def list_workers(self) -> list[WorkerInfo]:
        k = self._keys
        documents, seen, stopping = await self._transport.snapshot(
            ("HGETALL", k.workers),
            ("ZRANGE", k.seen, 0, -1, "WITHSCORES"),
            ("SMEMBERS", k.stopping),
        )
        last_seen = dict(_score_pairs(seen))
        workers: list[WorkerInfo] = []
        for worker_id, text in documents.items():
            try:
                doc = json.loads(text)
                workers.append(
                    WorkerInfo(
                        worker_id=worker_id,
                        host=str(doc["host"]),
                        pid=int(doc["pid"]),
                        concurrency=int(doc["concurrency"]),
                        running=int(doc.get("running", 0)),
                        started_at=float(doc.get("started_at", 0.0)),
                        last_seen=float(last_seen.get(worker_id, 0.0)),
                        state=str(doc.get("state", "running")),
                        stop_requested=worker_id in stopping,
                        job_names=tuple(doc.get("job_names", ())),
                    )
                )
            except (ValueError, KeyError, TypeError):
                _log.warning("ignoring an unreadable worker entry %r in %s", worker_id, k.workers)
        workers.sort(key=lambda worker: worker.started_at, reverse=True)
        return workers

    async def request_worker_stop(self, worker_id: str) -> bool:
        k = self._keys
        done = await self._transport.run_idempotent(
            "request_worker_stop", (k.workers, k.stopping), (worker_id,)
        )
        return bool(done)


def job_id_of(raw: str) -> str:
    """The envelope's id, or '' for text that is not an envelope."""
    match = _ID_PREFIX.match(raw)
    if match:
        return match.group(1)
    return peek_envelope(raw).job_id or ""


def _job_name_of(raw: str) -> str | None:
    return peek_envelope(raw).job_name


def attempt_meta(meta: str) -> tuple[str, str | None, float | None]:
    """(job id, worker id, claimed at) of an ``:attempts`` entry."""
    try:
        job_id, worker_id, claimed_at = json.loads(meta)
        return str(job_id), str(worker_id), float(claimed_at)
    except (ValueError, TypeError):
        return "", None, None


def _score_pairs(reply: list[Any]) -> list[tuple[str, float]]:
    """(member, score) pairs of a ZRANGE … WITHSCORES reply, flat or already paired
    (redis-py pairs it depending on version and protocol)."""
    if reply and isinstance(reply[0], list | tuple):
        return [(member, float(score)) for member, score in reply]
    return [(member, float(score)) for member, score in zip(reply[::2], reply[1::2], strict=True)]


def _queued_since(raw: str) -> float | None:
    """When the next job to run entered the queue, as far as its envelope tells: its
    scheduled time if it had one, else its creation time."""
    peek = peek_envelope(raw)
    times = [when for when in (peek.created_at, peek.scheduled_at) if when is not None]
    return max(times) if times else None
