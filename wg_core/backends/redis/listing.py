"""Reading jobs on Redis: listings, look-ups by id, and where each job is placed.

Listings page through the lists and sorted sets in chunks, so that a long queue never
blocks the server; with no queue given they read every queue's structure and merge
them (by due time for scheduled and retry jobs, by time of death for dead ones; queued
jobs queue after queue, ``default`` first, each in the order its claims take them).
Jobs that another program stored without wg's id index (a Rust producer's LPUSH or
ZADD, always in ``default``) are found by a scan.
"""

from __future__ import annotations

import dataclasses
import functools
import heapq
import json
import re
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Final

from wg_core.backend import FINISHED_STATES, JobQuery, JobState, StoredJob
from wg_core.backends.common import error_matches, text_matches
from wg_core.backends.redis.keys import LETTER_STATE, Keys, token_queue
from wg_core.backends.redis.records import (
    attempt_extras,
    attempt_meta,
    attempt_priority,
    entered_at,
    finished_job,
    queued_since,
)
from wg_core.backends.redis.transport import Transport
from wg_core.envelope import peek_envelope
from wg_core.queues import DEFAULT_QUEUE

__all__ = [
    "RedisListing",
    "job_id_of",
    "score_pairs",
    "score_priority",
]

_SCAN_CHUNK: Final = 500
_ID_PREFIX: Final = re.compile(r'^\{"id":"([^"\\]*)"')
_PRIO_UNIT: Final = 2**42


def score_priority(score: float) -> int:
    """The priority a priority-set score stands for (scripts.lua has the layout)."""
    return -int((score + _PRIO_UNIT // 2) // _PRIO_UNIT)


class RedisListing:
    """Listings and look-ups of ``RedisBackend`` (a mixin: it needs the transport)."""

    _keys: Keys
    _transport: Transport

    async def queue_names(self) -> list[str]:
        """``default``, then every other queue ever used, by name."""
        others = await self._transport.command("SMEMBERS", self._keys.queues)
        return [DEFAULT_QUEUE, *sorted(set(others) - {DEFAULT_QUEUE})]

    async def placements(self, job_ids: Sequence[str]) -> list[tuple[str, int]]:
        """The queue and priority of each job (default, 0 when it has no placement)."""
        if not job_ids:
            return []
        entries = await self._transport.command("HMGET", self._keys.placements, *job_ids)
        return [_placement(entry) for entry in entries]

    async def list_jobs(self, query: JobQuery) -> list[StoredJob]:
        job_name, text, error = query.job_name, query.text_contains, query.error_contains

        def wanted(job: StoredJob) -> bool:
            raw = job.raw
            if job_name is not None and peek_envelope(raw).job_name != job_name:
                return False
            if text is not None and not text_matches(raw, text):
                return False
            if error is None or error_matches(raw, error):
                return True
            # A cancelled job's error is recorded beside its envelope.
            recorded = job.last_error
            return recorded is not None and error.casefold() in recorded.casefold()

        limit, offset = query.limit, query.offset
        if query.state is JobState.RUNNING:
            jobs = await self._running_jobs()
            if query.queue is not None:
                jobs = [job for job in jobs if job.queue == query.queue]
            jobs.sort(key=lambda job: job.updated_at or 0.0, reverse=query.newest_first)
            jobs = [job for job in jobs if wanted(job)]
            return jobs[offset : offset + limit]
        names = [query.queue] if query.queue is not None else await self.queue_names()
        found: list[StoredJob] = []
        skip = offset
        async for job in self._merged(query.state, names, newest_first=query.newest_first):
            if not wanted(job):
                continue
            if skip:
                skip -= 1
                continue
            found.append(job)
            if len(found) >= limit:
                break
        if not found or query.state in FINISHED_STATES:
            return found  # finished jobs are read from their records, complete already
        return await self._identified(found)

    async def _identified(self, jobs: list[StoredJob]) -> list[StoredJob]:
        """``jobs`` (of one non-running state) under the ids their texts are known by
        (``{ns}:aliases``), with the priority of their placement where it is not read
        from a score."""
        k = self._keys
        aliases = await self._transport.command("HMGET", k.aliases, *(j.raw for j in jobs))
        jobs = [
            job if alias is None else dataclasses.replace(job, job_id=alias)
            for job, alias in zip(jobs, aliases, strict=True)
        ]
        if jobs[0].state is JobState.QUEUED:
            return [dataclasses.replace(job, due_at=None) for job in jobs]
        placed = await self.placements([job.job_id for job in jobs])
        jobs = [
            dataclasses.replace(job, priority=priority)
            for job, (_, priority) in zip(jobs, placed, strict=True)
        ]
        if jobs[0].state is not JobState.DEAD:
            return jobs
        died = await self._transport.command("HMGET", k.died, *(j.job_id for j in jobs))
        return [
            dataclasses.replace(job, updated_at=None if when is None else float(when))
            for job, when in zip(jobs, died, strict=True)
        ]

    async def _merged(
        self, state: JobState, names: Sequence[str], *, newest_first: bool
    ) -> AsyncIterator[StoredJob]:
        """The jobs of ``state`` in ``names``'s queues, in the listing order."""
        if state is JobState.QUEUED:
            streams = [await self._queued(name, newest_first=newest_first) for name in names]
            key = _enqueued
        elif state in FINISHED_STATES:
            streams = [self._finished(state, name, newest_first=newest_first) for name in names]
            key = _finished_at
        else:
            streams = [self._scan(state, name, newest_first=newest_first) for name in names]
            key = _died if state is JobState.DEAD else _due
        async for job in _merge(streams, key, newest_first=newest_first):
            yield job

    async def _queued(self, queue: str, *, newest_first: bool) -> AsyncIterator[StoredJob]:
        """The queued jobs of one queue in enqueue order: its priority set's priorities
        merged by arrival (each in arrival order already), and for ``default`` its list
        merged with them by envelope time, then id (the list's jobs carry no arrival)."""
        q = self._keys.queue(queue)
        bands: list[AsyncIterator[StoredJob]] = []
        low = "-inf"
        while True:
            first = await self._transport.command(
                "ZRANGEBYSCORE", q.prio, low, "+inf", "WITHSCORES", "LIMIT", 0, 1
            )
            if not first:
                break
            [(_, score)] = score_pairs(first)
            priority = score_priority(score)
            center = -priority * _PRIO_UNIT
            low, high = str(center - _PRIO_UNIT // 2), str(center + _PRIO_UNIT // 2)
            bands.append(
                self._segment(JobState.QUEUED, queue, q.prio, (low, f"({high}"), newest_first)
            )
            low = high
        merged = _merge(bands, _arrival, newest_first=newest_first)
        if queue != DEFAULT_QUEUE:
            return merged
        listed = self._segment(JobState.QUEUED, queue, q.jobs, ("", ""), newest_first)
        return _merge([listed, merged], _enqueued, newest_first=newest_first)

    async def _scan(
        self, state: JobState, queue: str, *, newest_first: bool
    ) -> AsyncIterator[StoredJob]:
        """Jobs of a non-running state of one queue in the listing order, read in
        chunks."""
        if state is JobState.QUEUED:
            async for job in await self._queued(queue, newest_first=newest_first):
                yield job
            return
        q = self._keys.queue(queue)
        if state is JobState.DEAD:
            segment = self._segment(state, queue, q.dead, ("", ""), newest_first)
        else:
            key = q.schedule if state is JobState.SCHEDULED else q.retry
            segment = self._segment(state, queue, key, ("-inf", "+inf"), newest_first)
        async for job in segment:
            yield job

    async def _finished(
        self, state: JobState, queue: str, *, newest_first: bool
    ) -> AsyncIterator[StoredJob]:
        """The completed or cancelled jobs of one queue in finish order, read in chunks:
        ids from the queue's ZSET, then their records."""
        q = self._keys.queue(queue)
        key = q.completed if state is JobState.COMPLETED else q.cancelled
        start = 0
        while True:
            read, page = await self._transport.guard(
                functools.partial(self._finished_page, key, start, newest_first),
                idempotent=True,
            )
            for job in page:
                yield job
            if read < _SCAN_CHUNK:
                return
            start += _SCAN_CHUNK

    async def _finished_page(
        self, key: str, start: int, newest_first: bool
    ) -> tuple[int, list[StoredJob]]:
        """How many ids a chunk of ``key`` held, and their jobs (a record pruned
        between the two reads is left out: it is gone)."""
        client: Any = self._transport.ready()
        command = "ZREVRANGE" if newest_first else "ZRANGE"
        ids: list[str] = await client.execute_command(command, key, start, start + _SCAN_CHUNK - 1)
        if not ids:
            return 0, []
        records = await client.execute_command("HMGET", self._keys.finished, *ids)
        jobs = [
            finished_job(job_id, record)
            for job_id, record in zip(ids, records, strict=True)
            if record is not None
        ]
        return len(ids), jobs

    async def _segment(
        self, state: JobState, queue: str, key: str, scores: tuple[str, str], newest_first: bool
    ) -> AsyncIterator[StoredJob]:
        """One list (``scores`` empty) or score range of a sorted set, in chunks."""
        start = 0
        while True:
            page = await self._transport.guard(
                functools.partial(self._page, state, queue, key, scores, start, newest_first),
                idempotent=True,
            )
            for job in page:
                yield job
            if len(page) < _SCAN_CHUNK:
                return
            start += _SCAN_CHUNK

    async def _page(
        self,
        state: JobState,
        queue: str,
        key: str,
        scores: tuple[str, str],
        start: int,
        newest_first: bool,
    ) -> list[StoredJob]:
        client: Any = self._transport.ready()
        stop = start + _SCAN_CHUNK - 1
        low, high = scores
        if not low:
            # The lists grow at the left: the next to run (the oldest burial) is rightmost.
            if newest_first:
                raws: list[str] = await client.execute_command("LRANGE", key, start, stop)
            else:
                raws = await client.execute_command("LRANGE", key, -stop - 1, -start - 1)
                raws.reverse()
            since = queued_since if state is JobState.QUEUED else _unknown_time
            jobs = [
                StoredJob(
                    job_id=job_id_of(raw), state=state, raw=raw, queue=queue, updated_at=since(raw)
                )
                for raw in raws
            ]
            if state is JobState.DEAD and jobs:
                died = await client.execute_command(
                    "HMGET", self._keys.died, *(job.job_id for job in jobs)
                )
                jobs = [
                    job if when is None else dataclasses.replace(job, updated_at=float(when))
                    for job, when in zip(jobs, died, strict=True)
                ]
            return jobs
        if newest_first:
            command = ("ZREVRANGEBYSCORE", key, high, low)
        else:
            command = ("ZRANGEBYSCORE", key, low, high)
        scored = await client.execute_command(*command, "WITHSCORES", "LIMIT", start, _SCAN_CHUNK)
        if state is JobState.QUEUED:
            # The arrival rides in due_at until _arrival has read it (listings of queued
            # jobs have no due time: _identified clears it).
            return [
                StoredJob(
                    job_id=job_id_of(raw),
                    state=state,
                    raw=raw,
                    queue=queue,
                    priority=score_priority(score),
                    due_at=score + score_priority(score) * _PRIO_UNIT,
                    updated_at=queued_since(raw),
                )
                for raw, score in score_pairs(scored)
            ]
        return [
            StoredJob(job_id=job_id_of(raw), state=state, raw=raw, due_at=score, queue=queue)
            for raw, score in score_pairs(scored)
        ]

    async def _running_jobs(self) -> list[StoredJob]:
        k = self._keys
        running, attempts, leases = await self._transport.snapshot(
            ("HGETALL", k.running),
            ("HGETALL", k.attempts),
            ("ZRANGE", k.leases, 0, -1, "WITHSCORES"),
        )
        deadlines = dict(score_pairs(leases))
        jobs: list[StoredJob] = []
        for token, raw in running.items():
            meta = attempts.get(token, "")
            job_id, worker_id, claimed_at = attempt_meta(meta)
            cancel_requested, progress = attempt_extras(meta)
            deadline = deadlines.get(token)
            jobs.append(
                StoredJob(
                    job_id=job_id or job_id_of(raw),
                    state=JobState.RUNNING,
                    raw=raw,
                    lease_until=None if deadline is None else float(deadline),
                    worker_id=worker_id,
                    updated_at=claimed_at,
                    queue=token_queue(token),
                    priority=attempt_priority(meta),
                    started_at=claimed_at,
                    progress=progress,
                    cancel_requested=cancel_requested,
                )
            )
        return jobs

    async def get_job(self, job_id: str) -> StoredJob | None:
        k = self._keys
        [(queue, priority)] = await self.placements([job_id])
        q = k.queue(queue)
        waiting = (q.jobs, q.schedule, q.retry, q.dead)
        running = (k.running, k.leases, k.attempts, k.claimers)
        reply = await self._transport.run_idempotent(
            "get_job", (k.ids, *waiting, *running, k.died, q.prio, k.finished), (job_id,)
        )
        if reply is None:
            return await self._find_unindexed(job_id)
        letter, raw, score, meta = reply
        state = LETTER_STATE[letter]
        if state in FINISHED_STATES:
            return finished_job(job_id, raw)  # ``raw`` is the job's record here
        if state is JobState.RUNNING:
            _, worker_id, claimed_at = attempt_meta(meta)
            cancel_requested, progress = attempt_extras(meta)
            return StoredJob(
                job_id=job_id,
                state=state,
                raw=raw,
                lease_until=float(score) if score else None,
                worker_id=worker_id,
                updated_at=claimed_at,
                queue=queue,
                priority=priority,
                started_at=claimed_at,
                progress=progress,
                cancel_requested=cancel_requested,
            )
        return StoredJob(
            job_id=job_id,
            state=state,
            raw=raw,
            due_at=float(score) if score else None,
            updated_at=entered_at(state, raw, meta),
            queue=queue,
            priority=priority,
        )

    async def _find_unindexed(self, job_id: str) -> StoredJob | None:
        """Look for a job another program stored without wg's index (a Rust producer's
        LPUSH or ZADD, in ``default``): a scan, so O(jobs), but only for ids the index
        does not know."""
        needle = json.dumps(job_id, ensure_ascii=False)
        for state in (JobState.QUEUED, JobState.SCHEDULED, JobState.RETRY, JobState.DEAD):
            async for job in self._scan(state, DEFAULT_QUEUE, newest_first=False):
                if needle in job.raw and job.job_id == job_id:
                    return job
        return None


async def _merge(
    streams: Sequence[AsyncIterator[StoredJob]],
    key: Callable[[StoredJob], tuple[float, str]],
    *,
    newest_first: bool,
) -> AsyncIterator[StoredJob]:
    """Streams each in ``key`` order (descending when ``newest_first``) merged into one;
    ties go to the earlier stream."""
    if len(streams) == 1:
        async for job in streams[0]:
            yield job
        return

    def rank(job: StoredJob, index: int) -> tuple[Any, int]:
        return (_Descending(key(job)) if newest_first else key(job), index)

    heads: list[tuple[tuple[Any, int], int, StoredJob]] = []
    for index, stream in enumerate(streams):
        first = await _next(stream)
        if first is not None:
            heads.append((rank(first, index), index, first))
    heapq.heapify(heads)
    while heads:
        _, index, job = heapq.heappop(heads)
        yield job
        following = await _next(streams[index])
        if following is not None:
            heapq.heappush(heads, (rank(following, index), index, following))


async def _next(stream: AsyncIterator[StoredJob]) -> StoredJob | None:
    try:
        return await anext(stream)
    except StopAsyncIteration:
        return None


class _Descending:
    """A sort key that orders the other way round."""

    __slots__ = ("key",)

    def __init__(self, key: tuple[float, str]) -> None:
        self.key = key

    def __lt__(self, other: _Descending) -> bool:
        return self.key > other.key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and self.key == other.key

    __hash__ = None  # type: ignore[assignment]


def _arrival(job: StoredJob) -> tuple[float, str]:
    return (job.due_at or 0.0, "")


def _enqueued(job: StoredJob) -> tuple[float, str]:
    return (queued_since(job.raw) or 0.0, job.job_id)


def _due(job: StoredJob) -> tuple[float, str]:
    return (job.due_at or 0.0, "")


def _died(job: StoredJob) -> tuple[float, str]:
    return (job.updated_at or 0.0, "")


def _finished_at(job: StoredJob) -> tuple[float, str]:
    return (job.finished_at or 0.0, "")


def _placement(entry: str | None) -> tuple[str, int]:
    if not entry:
        return DEFAULT_QUEUE, 0
    queue, _, priority = entry.partition(" ")
    try:
        return queue, int(priority)
    except ValueError:
        return queue, 0


def job_id_of(raw: str) -> str:
    """The envelope's id, or '' for text that is not an envelope."""
    match = _ID_PREFIX.match(raw)
    if match:
        return match.group(1)
    return peek_envelope(raw).job_id or ""


def score_pairs(reply: list[Any]) -> list[tuple[str, float]]:
    """(member, score) pairs of a ZRANGE … WITHSCORES reply, flat or already paired
    (redis-py pairs it depending on version and protocol)."""
    if reply and isinstance(reply[0], list | tuple):
        return [(member, float(score)) for member, score in reply]
    return [(member, float(score)) for member, score in zip(reply[::2], reply[1::2], strict=True)]


def _unknown_time(raw: str) -> None:
    return None
