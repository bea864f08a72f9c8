"""The admin verbs of the Redis backend: counts, counters, queues, moves, deletions,
purges, the pause flags and the worker registry (listings and look-ups: listing.py).

Counts come from the sizes of each queue's structures in one script (consistent), never
from a scan; the queue ``default``'s running jobs and counters are the namespace's
totals minus the other queues' (so what wg 1 and the Rust wg counted stays default's).
Moves and deletions are scripts run over chunks of jobs of one queue, so that a long
list never blocks the server for long.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Final

from wg_core.backend import (
    FINISHED_STATES,
    Counters,
    JobState,
    Move,
    QueueInfo,
    StateCounts,
    WorkerInfo,
)
from wg_core.backends.redis.keys import STATE_LETTER
from wg_core.backends.redis.listing import RedisListing, score_pairs
from wg_core.backends.redis.records import queued_since
from wg_core.queues import DEFAULT_QUEUE

__all__ = ["RedisAdmin"]

_log = logging.getLogger(__name__)

_PURGE_CHUNK: Final = 1000
_ADMIN_CHUNK: Final = 100


class RedisAdmin(RedisListing):
    """The admin half of ``RedisBackend`` (a mixin: it needs the backend's transport)."""

    async def counts(self, *, queue: str | None = None) -> StateCounts:
        names = [queue] if queue is not None else await self.queue_names()
        per_queue = await self._queue_counts(names)
        return _sum_counts(list(per_queue.values()))

    async def recount(self) -> bool:
        return False  # counts() reads the lengths of the structures that hold the jobs

    async def _queue_counts(self, names: Sequence[str]) -> dict[str, StateCounts]:
        k = self._keys
        keys: tuple[str, ...] = (k.running, k.running_counts, k.claimers)
        for name in names:
            q = k.queue(name)
            keys += (q.jobs, q.prio, q.schedule, q.retry, q.dead, q.completed, q.cancelled)
        replies = await self._transport.run_idempotent("counts", keys, list(names))
        counts: dict[str, StateCounts] = {}
        for name, reply in zip(names, replies, strict=True):
            queued, scheduled, retry, running, dead, next_raw, first_prio = reply[:7]
            completed, cancelled = reply[7:9]
            since = [queued_since(raw) for raw in (next_raw, first_prio) if raw is not None]
            known = [when for when in since if when is not None]
            counts[name] = StateCounts(
                queued=queued,
                scheduled=scheduled,
                retry=retry,
                running=max(0, running),
                dead=dead,
                oldest_queued_at=min(known) if known else None,
                completed=completed,
                cancelled=cancelled,
            )
        return counts

    async def counters(self, *, queue: str | None = None) -> Counters:
        return (await self._queue_counters())(queue)

    async def _queue_counters(self) -> _Totals:
        stats = await self._transport.command("HGETALL", self._keys.stats)
        return _Totals({field: int(value) for field, value in stats.items()})

    async def queues(self) -> list[QueueInfo]:
        names = await self.queue_names()
        counts = await self._queue_counts(names)
        totals = await self._queue_counters()
        flags = await self._transport.command(
            "MGET", *(self._keys.queue(name).paused for name in names)
        )
        infos: list[QueueInfo] = []
        for name, flag in zip(names, flags, strict=True):
            info = QueueInfo(
                name=name, counts=counts[name], counters=totals(name), paused=flag is not None
            )
            used = (
                info.counts.total
                or info.counts.finished
                or info.paused
                or info.counters != Counters()
            )
            if name == DEFAULT_QUEUE or used:
                infos.append(info)
        return sorted(infos, key=lambda info: info.name)

    async def move_to_queue(self, moves: Sequence[Move]) -> int:
        placed = await self.placements([move.job_id for move in moves])
        items = [
            (queue, (m.job_id, STATE_LETTER[m.from_state], "", m.raw))
            for m, (queue, _) in zip(moves, placed, strict=True)
        ]
        statuses = await self._admin("move_to_queue", items)
        moved = statuses.count(1)
        # Jobs the index does not know (another program stored them): look, then move.
        found: list[tuple[str, tuple[str, ...]]] = []
        for move, status in zip(moves, statuses, strict=True):
            if status == -1:
                stored = await self._find_unindexed(move.job_id)
                if stored is not None and stored.state is move.from_state:
                    letter = STATE_LETTER[stored.state]
                    found.append((stored.queue, (move.job_id, letter, stored.raw, move.raw)))
        if found:
            moved += (await self._admin("move_to_queue", found)).count(1)
        return moved

    async def delete_jobs(self, job_ids: Sequence[str]) -> int:
        placed = await self.placements(job_ids)
        items = [
            (queue, (job_id, "", "")) for job_id, (queue, _) in zip(job_ids, placed, strict=True)
        ]
        statuses = await self._admin("delete_jobs", items)
        deleted = statuses.count(1)
        found: list[tuple[str, tuple[str, ...]]] = []
        for job_id, status in zip(job_ids, statuses, strict=True):
            if status == -1:
                stored = await self._find_unindexed(job_id)
                if stored is not None:
                    found.append((stored.queue, (job_id, STATE_LETTER[stored.state], stored.raw)))
        if found:
            deleted += (await self._admin("delete_jobs", found)).count(1)
        return deleted

    async def _admin(self, name: str, items: Sequence[tuple[str, tuple[str, ...]]]) -> list[int]:
        """Run an admin script over ``items`` (queue, arguments) in chunks of one queue
        each (each one script call, so that a long list never blocks the server for
        long); one status per item, in order."""
        k = self._keys
        statuses: list[int] = [0] * len(items)
        by_queue: dict[str, list[int]] = {}
        for index, (queue, _) in enumerate(items):
            by_queue.setdefault(queue, []).append(index)
        for queue, indexes in by_queue.items():
            q = k.queue(queue)
            keys: tuple[str, ...] = (q.jobs, q.schedule, q.retry, q.dead, k.ids, k.died)
            keys += (k.aliases, q.prio)
            if name == "move_to_queue":
                keys += (q.wake, k.placements, k.order)
                head: list[str] = [queue]
            else:
                keys += (k.placements,)
                head = []
            keys += (k.finished, k.expiry, q.completed, q.cancelled)
            for start in range(0, len(indexes), _ADMIN_CHUNK):
                chunk = indexes[start : start + _ADMIN_CHUNK]
                args = head + [value for index in chunk for value in items[index][1]]
                replies = await self._transport.run(name, keys, args)
                for index, status in zip(chunk, replies, strict=True):
                    statuses[index] = status
        return statuses

    async def purge(self, state: JobState, *, queue: str | None = None) -> int:
        k = self._keys
        names = [queue] if queue is not None else await self.queue_names()
        total = 0
        for name in names:
            q = k.queue(name)
            if state in FINISHED_STATES:
                total += await self._purge_finished(state, q.finished(STATE_LETTER[state]))
                continue
            structures = {
                JobState.QUEUED: ((q.jobs, "list"), (q.prio, "zset")),
                JobState.SCHEDULED: ((q.schedule, "zset"),),
                JobState.RETRY: ((q.retry, "zset"),),
                JobState.DEAD: ((q.dead, "list"),),
            }[state]
            for key, kind in structures:
                while True:
                    # In chunks, so that a purge of millions never blocks the server for long.
                    removed: int = await self._transport.run_idempotent(
                        "purge",
                        (key, k.ids, k.died, k.aliases, k.placements),
                        (kind, STATE_LETTER[state], _PURGE_CHUNK),
                    )
                    total += removed
                    if removed < _PURGE_CHUNK:
                        break
        return total

    async def _purge_finished(self, state: JobState, key: str) -> int:
        """Delete every job of one queue's completed or cancelled ZSET, in chunks."""
        k = self._keys
        total = 0
        while True:
            removed: int = await self._transport.run_idempotent(
                "purge_finished",
                (key, k.finished, k.expiry, k.ids, k.placements),
                (_PURGE_CHUNK, STATE_LETTER[state]),
            )
            total += removed
            if removed < _PURGE_CHUNK:
                return total

    async def set_paused(self, paused: bool, *, queue: str | None = None) -> None:
        k = self._keys
        flag = "1" if paused else "0"
        if queue is None:
            await self._transport.run_idempotent("set_paused", (k.paused, k.resumed), (flag,))
            return
        q = k.queue(queue)
        await self._transport.run_idempotent(
            "set_queue_paused", (q.paused, q.wake, k.queues), (flag, queue)
        )

    async def is_paused(self, *, queue: str | None = None) -> bool:
        key = self._keys.paused if queue is None else self._keys.queue(queue).paused
        return bool(await self._transport.command("EXISTS", key))

    async def list_workers(self) -> list[WorkerInfo]:
        k = self._keys
        documents, seen, stopping = await self._transport.snapshot(
            ("HGETALL", k.workers),
            ("ZRANGE", k.seen, 0, -1, "WITHSCORES"),
            ("SMEMBERS", k.stopping),
        )
        last_seen = dict(score_pairs(seen))
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
                        queues=tuple(doc.get("queues", (DEFAULT_QUEUE,))),
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


class _Totals:
    """The fields of ``{ns}:stats``: namespace totals, and ``processed:<queue>`` /
    ``failed:<queue>`` for each queue but default, whose are the rest."""

    def __init__(self, fields: dict[str, int]) -> None:
        self._fields = fields

    def __call__(self, queue: str | None) -> Counters:
        fields = self._fields
        processed, failed = fields.get("processed", 0), fields.get("failed", 0)
        if queue is None:
            return Counters(processed=processed, failed=failed)
        if queue != DEFAULT_QUEUE:
            return Counters(
                processed=fields.get(f"processed:{queue}", 0),
                failed=fields.get(f"failed:{queue}", 0),
            )
        for field, value in fields.items():
            if field.startswith("processed:"):
                processed -= value
            elif field.startswith("failed:"):
                failed -= value
        return Counters(processed=max(0, processed), failed=max(0, failed))


def _sum_counts(counts: list[StateCounts]) -> StateCounts:
    oldest = [c.oldest_queued_at for c in counts if c.oldest_queued_at is not None]
    return StateCounts(
        queued=sum(c.queued for c in counts),
        scheduled=sum(c.scheduled for c in counts),
        retry=sum(c.retry for c in counts),
        running=sum(c.running for c in counts),
        dead=sum(c.dead for c in counts),
        oldest_queued_at=min(oldest) if oldest else None,
        completed=sum(c.completed for c in counts),
        cancelled=sum(c.cancelled for c in counts),
    )
