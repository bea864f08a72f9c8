"""The pools' upkeep verbs of ``RedisBackend`` (backend.py): the heartbeat (leases
extended, the worker registered, stop and cancel requests reported), the worker's
unregistration, the promotion of due scheduled and retry jobs (one script per queue)
and the reclaim of expired leases and of silent workers' jobs (one script). Each is one
Lua script call (scripts.lua), atomic on the server."""

from __future__ import annotations

import json
from collections.abc import Sequence

from wg_core.backend import Attempt, HeartbeatReply, JobState, WorkerInfo
from wg_core.backends.common import WORKER_FORGET_AFTER_LEASES, registry_fields
from wg_core.backends.redis.keys import STATE_LETTER, token_queue
from wg_core.backends.redis.listing import RedisListing

__all__ = ["RedisUpkeep"]


class RedisUpkeep(RedisListing):
    """Heartbeat, unregistration, promotion and reclaim (a mixin of ``RedisBackend``)."""

    async def heartbeat(
        self, worker: WorkerInfo, *, attempts: Sequence[Attempt], lease: float
    ) -> HeartbeatReply:
        k = self._keys
        fields = registry_fields(worker) | {"queues": list(worker.queues)}
        document = json.dumps(fields, separators=(",", ":"))
        reply = await self._transport.run_idempotent(
            "heartbeat",
            (k.running, k.leases, k.workers, k.seen, k.stopping, k.attempts),
            (
                repr(float(lease)),
                worker.worker_id,
                document,
                "1" if worker.stop_requested else "0",
                *(attempt.token for attempt in attempts),
            ),
        )
        return HeartbeatReply(
            lost=frozenset(reply[1]), stop_requested=bool(reply[0]), cancelled=frozenset(reply[2])
        )

    async def unregister_worker(self, worker_id: str) -> None:
        k = self._keys
        await self._transport.run_idempotent(
            "unregister_worker", (k.workers, k.seen, k.stopping), (worker_id,)
        )

    async def promote(self, state: JobState, *, limit: int) -> int:
        k = self._keys
        moved = 0
        for name in await self.queue_names():
            q = k.queue(name)
            source = q.schedule if state is JobState.SCHEDULED else q.retry
            moved += await self._transport.run_idempotent(
                "promote",
                (source, q.jobs, q.prio, q.wake, k.ids, k.aliases, k.placements, k.order),
                (limit - moved, STATE_LETTER[state], name),
            )
            if moved >= limit:
                break
        return moved

    async def reclaim_expired(
        self, *, limit: int, lease: float, worker_id: str, silent_after: float | None = None
    ) -> list[Attempt]:
        k = self._keys
        held = (k.running, k.leases, k.attempts, k.ids, k.seq)
        registry = (k.workers, k.seen, k.stopping, k.claimers)
        reply = await self._transport.run(
            "reclaim_expired",
            (*held, *registry, k.jobs, k.aliases),
            (
                limit,
                repr(float(lease)),
                worker_id,
                repr(WORKER_FORGET_AFTER_LEASES * float(lease)),
                "" if silent_after is None else repr(float(silent_after)),
            ),
        )
        return [
            Attempt(
                key=reply[i],
                token=reply[i + 1],
                raw=reply[i + 2],
                queue=token_queue(reply[i + 1]),
                cancel_requested=bool(reply[i + 3]),
            )
            for i in range(0, len(reply), 4)
        ]
