"""Queue limits on Redis (issue 20; a mixin of ``RedisBackend``): storing them, the
claim of a pool that serves a limited queue, waking its claimers when a slot frees,
and the limit keys.

Keys (layout 4; ``keys.py``): ``{ns}:limits`` (queue -> JSON), ``{ns}:limit_keys``
(job id -> limit key), and per limited queue ``holders`` and ``starts`` (scripts.lua,
"Queue limits"). A limited queue is claimed by the ``claim_limited`` script, one call
per queue (one Lua call: counting and leasing are one atomic step); the plain ``claim``
script skips a queue listed in ``{ns}:limits``, so a stale view of which queues are
limited (``_limited``, read again as in the SQL engine) delays jobs, never exceeds a
limit. A pool serving a limited queue claims its queues one script each, in order, and
when nothing is claimable waits on the queues' wake streams (``XREAD BLOCK``) for at
most the time until a rate frees a start; every transition of a limited queue's job
appends to its wake stream, so a freed slot wakes its claimers at once. Listings and
look-ups read each job's limit key after the job (``HMGET``; a job's key never
changes).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import time
from collections.abc import Iterable, Sequence
from typing import Any, Final

from wg_core.backend import Attempt, JobQuery, NewJob, StoredJob
from wg_core.backends.redis.claiming import MIN_BLOCK, ClaimPlan, claim_reply
from wg_core.backends.redis.listing import RedisListing
from wg_core.errors import BackendError
from wg_core.limits import QueueLimit
from wg_core.queues import DEFAULT_QUEUE

__all__ = ["RedisLimits"]

LIMITS_FRESH: Final = 0.25
LIMITS_STALE: Final = 5.0
"""As in the SQL engine (``sql/limiting.py``)."""
DEFAULT_POLL: Final = 0.25
"""A limited ``default`` queue's claimers look again this often: a Rust producer's
LPUSH onto ``{ns}:jobs`` rings no wake stream."""
KEYS_PRUNED: Final = 500
_WAIT_SLICE: Final = 10.0


def _limit_document(limit: QueueLimit) -> str:
    return json.dumps(
        {"c": limit.concurrency, "r": limit.rate, "p": limit.per, "k": int(limit.per_key)},
        separators=(",", ":"),
    )


def _limit_of(queue: str, document: str) -> QueueLimit:
    doc = json.loads(document)
    return QueueLimit(
        queue=queue,
        concurrency=doc.get("c"),
        rate=doc.get("r"),
        per=doc.get("p"),
        per_key=bool(doc.get("k")),
    )


class RedisLimits(RedisListing):
    """Limits of ``RedisBackend`` (a mixin: it needs the transport and the keys)."""

    _claim_plans: dict[tuple[str, ...], ClaimPlan]
    _limited: frozenset[str] = frozenset()
    _limited_read_at: float = -math.inf
    _keys_cursor: str = "0"

    # -- which queues are limited --------------------------------------------------------

    async def _limits_view(self, queues: Sequence[str], *, short: bool) -> bool:
        """Whether one of ``queues`` is limited (see the SQL engine's)."""
        age = time.monotonic() - self._limited_read_at
        if age > LIMITS_STALE or (short and age > LIMITS_FRESH):
            names = await self._transport.command("HKEYS", self._keys.limits)
            self._limited = frozenset(str(name) for name in names)
            self._limited_read_at = time.monotonic()
        return not self._limited.isdisjoint(queues)

    async def _slots_freed(self, queues: Iterable[str]) -> None:
        """Ring the wake streams of the limited ones of ``queues`` (jobs left RUNNING)."""
        if not self._limited:
            return
        for queue in dict.fromkeys(q for q in queues if q in self._limited):
            wake = self._keys.queue(queue).wake
            await self._transport.command("XADD", wake, "MAXLEN", "1", "*", "j", "1")

    # -- the verbs -----------------------------------------------------------------------

    async def set_limit(self, limit: QueueLimit) -> None:
        """Store ``limit`` and count the queue's running jobs as its holders (script
        ``limit_set``); the queue's claimers are woken to obey it."""
        k = self._keys
        keys = (k.limits, k.leases, k.attempts, k.limit_keys, k.queue(limit.queue).holders)
        args = (limit.queue, _limit_document(limit), int(limit.per_key))
        await self._transport.run_idempotent("limit_set", keys, args)
        self._limited = self._limited | {limit.queue}
        await self._slots_freed((limit.queue,))

    async def clear_limit(self, queue: str) -> bool:
        """Remove ``queue``'s limit and its bookkeeping."""
        q = self._keys.queue(queue)
        removed = await self._transport.command("HDEL", self._keys.limits, queue)
        await self._transport.command("DEL", q.holders, q.starts)
        await self._transport.command("XADD", q.wake, "MAXLEN", "1", "*", "j", "1")
        self._limited = self._limited - {queue}
        return bool(removed)

    async def limits(self) -> list[QueueLimit]:
        """Every limit with its use now."""
        k = self._keys
        stored = await self._transport.command("HGETALL", k.limits)
        pairs = (
            stored.items()
            if isinstance(stored, dict)
            else zip(stored[::2], stored[1::2], strict=True)
        )
        found = sorted((str(queue), _limit_of(str(queue), doc)) for queue, doc in pairs)
        if not found:
            return []
        keys: list[str] = [k.leases, k.limits]
        for queue, _ in found:
            q = k.queue(queue)
            keys += [q.holders, q.starts]
        use = await self._transport.run_idempotent("limit_use", keys, [queue for queue, _ in found])
        listed: list[QueueLimit] = []
        for (_, limit), (running, started, buckets) in zip(found, use, strict=True):
            listed.append(
                limit.with_use(running=int(running), started=int(started), keys=int(buckets))
            )
        return listed

    # -- limit keys ----------------------------------------------------------------------

    async def _store_limit_keys(self, jobs: Sequence[NewJob], *, after: bool) -> None:
        """The limit keys of ``jobs``: before their enqueue (of ids not stored yet), and
        after it (of ids stored now)."""
        args: list[Any] = ["1" if after else "0"]
        for job in jobs:
            if job.limit_key is not None:
                args += [job.job_id, job.limit_key]
        if len(args) > 1:
            k = self._keys
            await self._transport.run_idempotent("limit_keys_set", (k.limit_keys, k.ids), args)

    async def list_jobs(self, query: JobQuery) -> list[StoredJob]:
        return await self._with_limit_keys(await super().list_jobs(query))

    async def get_job(self, job_id: str) -> StoredJob | None:
        job = await super().get_job(job_id)
        return None if job is None else (await self._with_limit_keys([job]))[0]

    async def _with_limit_keys(self, jobs: list[StoredJob]) -> list[StoredJob]:
        """``jobs`` with their limit keys (read after them: a job's key never changes)."""
        if not jobs:
            return jobs
        ids = [job.job_id for job in jobs]
        keys = await self._transport.command("HMGET", self._keys.limit_keys, *ids)
        return [
            job if key is None else dataclasses.replace(job, limit_key=key)
            for job, key in zip(jobs, keys, strict=True)
        ]

    async def _prune_limit_keys(self) -> None:
        """One step of a walk over the limit keys, deleting those of jobs gone."""
        k = self._keys
        cursor, _ = await self._transport.run_idempotent(
            "limit_keys_prune", (k.limit_keys, k.ids), (self._keys_cursor, KEYS_PRUNED)
        )
        self._keys_cursor = str(cursor)

    # -- the claim of a pool serving a limited queue -------------------------------------

    async def _claim_limited(
        self, queues: tuple[str, ...], limit: int, lease: float, worker_id: str, wait: float
    ) -> list[Attempt]:
        """Claim ``queues`` in order, limited ones by ``claim_limited``; when nothing is
        claimable, wait on their wake streams (see the module docstring)."""
        deadline = time.monotonic() + wait
        while True:
            if self._transport.closing:
                return []
            attempts, waits, wakes = await self._claim_each(queues, limit, lease, worker_id)
            remaining = deadline - time.monotonic()
            if attempts or remaining < MIN_BLOCK:
                return attempts
            timeout = min([remaining, _WAIT_SLICE, *waits])
            if DEFAULT_QUEUE in queues and DEFAULT_QUEUE in self._limited:
                timeout = min(timeout, DEFAULT_POLL)
            if wakes:
                await self._wait_for_wakes(wakes, max(timeout, MIN_BLOCK))
            else:  # paused: look again later
                await asyncio.sleep(max(timeout, MIN_BLOCK))
            await self._limits_view(queues, short=False)

    async def _claim_each(
        self, queues: tuple[str, ...], limit: int, lease: float, worker_id: str
    ) -> tuple[list[Attempt], list[float], dict[str, str]]:
        """One pass over ``queues``: the attempts, the waits until a rate frees a start,
        and each wake stream with its last id (empty if the namespace is paused)."""
        k = self._keys
        attempts: list[Attempt] = []
        waits: list[float] = []
        wakes: dict[str, str] = {}
        for queue in queues:
            wanted = limit - len(attempts)
            if wanted <= 0:
                break
            q = k.queue(queue)
            if queue in self._limited:
                keys: tuple[str, ...] = (k.running, k.leases, k.attempts, k.ids, k.seq)
                keys += (k.paused, k.aliases)
                keys += (k.running_counts, k.limits, k.limit_keys)
                keys += (q.jobs, q.prio, q.paused, q.wake, q.holders, q.starts)
                reply = await self._claim_call(
                    "claim_limited", keys, (wanted, repr(float(lease)), worker_id, queue)
                )
                paused, taken, idle = claim_reply(reply)
                if idle and idle[0]:
                    waits.append(max(float(idle[0]), 0.0))
                wake_id = str(idle[1]) if len(idle) > 1 else "0-0"
            else:
                plan = self._claim_plans.get((queue,))
                if plan is None:
                    plan = self._claim_plans[(queue,)] = ClaimPlan.for_queues(k, (queue,))
                reply = await self._claim_call(
                    "claim", plan.keys, plan.args(wanted, lease, worker_id, False)
                )
                paused, taken, idle = claim_reply(reply)
                wake_id = str(idle[0]) if idle else "0-0"
            if paused:
                return attempts, waits, {}
            attempts += taken
            wakes[q.wake] = wake_id
        return attempts, waits, wakes

    async def _claim_call(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run a claim script; if the caller is cancelled meanwhile, give back what it
        leased (as the plain claim does)."""
        call = asyncio.ensure_future(self._transport.run(name, keys, args))
        try:
            return await asyncio.shield(call)
        except asyncio.CancelledError:
            try:
                leased = claim_reply(await call)[1]
                if leased:
                    await self.release(leased)
            except Exception:  # the server went away: leases bring the jobs back
                pass
            raise

    async def _wait_for_wakes(self, wakes: dict[str, str], timeout: float) -> None:
        """``XREAD BLOCK`` on the wake streams from their last ids, up to ``timeout``."""
        transport = self._transport
        blocking: Any = (await transport.slot_clients())[1]
        if blocking is None:
            raise BackendError("the Redis backend is not open: call open() first")
        streams, ids = list(wakes), list(wakes.values())
        try:
            await transport.guard(
                lambda: blocking.execute_command(
                    "XREAD", "BLOCK", max(1, int(timeout * 1000)), "STREAMS", *streams, *ids
                ),
                idempotent=True,
                timeout=timeout + 10.0,
            )
        except BackendError:
            if transport.closing:
                return
            raise

    async def release(self, attempts: Sequence[Attempt]) -> int:
        """RUNNING -> QUEUED (``RedisBackend``'s verb; named here for the claim's
        give-back)."""
        raise NotImplementedError
