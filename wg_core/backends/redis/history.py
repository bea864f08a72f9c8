"""Finished jobs on Redis: cancellation, progress, pruning, and waiting (issue 18).

A completed or cancelled job that is kept lives in wg's own keys, never in the spec's
(scripts.lua's header has the layout): its record in ``{ns}:finished``, its id in its
queue's completed or cancelled ZSET (by finish time, for listings and counts) and in
``{ns}:expiry`` (by expiry time, for ``prune``), and the entry ``c`` or ``x`` in the id
index. Every transition here is one script, and the waits ride on pub/sub
(signals.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Final

from wg_core.backend import Attempt, CancelOutcome, JobState, Progress, StoredJob
from wg_core.backends.redis.keys import STATE_LETTER, token_queue
from wg_core.backends.redis.listing import RedisListing
from wg_core.backends.redis.signals import Signals

__all__ = ["RedisHistory"]

_ENDED: Final = frozenset({JobState.COMPLETED, JobState.CANCELLED, JobState.DEAD})
_WAITING: Final = frozenset({JobState.QUEUED, JobState.SCHEDULED, JobState.RETRY, JobState.DEAD})
# A waiter looks again this often even when nothing was announced (a job completed
# with keep 0 is deleted without a message), or this often while unsubscribed.
_RECHECK: Final = 5.0
_POLL: Final = 0.25
_PRUNE_BATCH: Final = 1000  # ids per prune script call (Lua's unpack() is bounded)
_OUTCOMES: Final = {"cancelled": CancelOutcome.CANCELLED, "requested": CancelOutcome.REQUESTED}


def _text(value: str | None) -> str:
    """Optional text as a script argument: '' for none, else 'v' and the text."""
    return "" if value is None else f"v{value}"


class RedisHistory(RedisListing):
    """Cancellation, progress, pruning and waits of ``RedisBackend`` (a mixin)."""

    _signals: Signals
    _cancel_signals: Signals

    async def cancel(self, job_id: str, *, keep: float) -> CancelOutcome:
        k = self._keys
        [(queue, _)] = await self.placements([job_id])
        stored: tuple[str, ...] = ()
        for _ in range(4):
            q = k.queue(queue)
            keys: tuple[str, ...] = (k.ids, k.placements, k.aliases, k.died, k.running)
            keys += (k.attempts, k.finished, k.expiry, k.claimers)
            keys += (q.jobs, q.schedule, q.retry, q.dead, q.prio, q.cancelled)
            channels = (k.finished_channel, k.cancel_channel)
            reply = await self._transport.run(
                "cancel", keys, (job_id, repr(float(keep)), queue, *channels, *stored)
            )
            outcome = reply[0]
            if outcome == "elsewhere":
                queue = reply[1]  # deleted and enqueued again meanwhile, in another queue
            elif outcome == "unknown" and not stored:
                # Not in the index: stored by a program that does not keep it (a Rust
                # producer's LPUSH or ZADD). Look, then cancel it where it was found.
                found = await self._find_unindexed(job_id)
                if found is None or found.state not in _WAITING:
                    return CancelOutcome.NOT_CANCELLABLE
                queue, stored = found.queue, (STATE_LETTER[found.state], found.raw)
            else:
                return _OUTCOMES.get(outcome, CancelOutcome.NOT_CANCELLABLE)
        return CancelOutcome.NOT_CANCELLABLE

    async def finish_cancelled(self, attempt: Attempt, *, keep: float, error: str | None) -> bool:
        k = self._keys
        q = k.queue(token_queue(attempt.token))
        keys: tuple[str, ...] = (k.running, k.leases, k.attempts, k.ids, k.running_counts)
        keys += (k.finished, k.expiry, k.placements, k.aliases, q.cancelled)
        done = await self._transport.run(
            "finish_cancelled",
            keys,
            (attempt.token, repr(float(keep)), _text(error), k.finished_channel),
        )
        return bool(done)

    async def set_progress(self, attempt: Attempt, progress: Progress) -> bool:
        k = self._keys
        done = await self._transport.run_idempotent(
            "set_progress",
            (k.running, k.attempts),
            (attempt.token, repr(float(progress.fraction)), _text(progress.message)),
        )
        return bool(done)

    async def prune(self, *, limit: int) -> int:
        k = self._keys
        # Unique keys' holds nobody holds any more go with the pruning (layout 4).
        await self._transport.run_idempotent("forget_unique", (k.unique, k.ids), (limit,))
        names = await self.queue_names()
        keys: tuple[str, ...] = (k.expiry, k.finished, k.ids, k.placements)
        for name in names:
            q = k.queue(name)
            keys += (q.completed, q.cancelled)
        pruned = 0
        while pruned < limit:
            batch = min(limit - pruned, _PRUNE_BATCH)
            # Safe to repeat: a job is deleted by the one call that takes it from the
            # expiry set (only the count of a lost reply is missed).
            removed: int = await self._transport.run_idempotent("prune", keys, (batch, *names))
            pruned += removed
            if removed < batch:
                break
        return pruned

    async def wait_finished(self, job_id: str, *, timeout: float) -> StoredJob | None:
        deadline = time.monotonic() + timeout
        signals = self._signals
        if timeout > 0:
            await signals.listen(wait=timeout)  # subscribed before the first look
        event = signals.watch(job_id)
        try:
            while True:
                event.clear()  # before the look: an announcement after it wakes the wait
                job = await self.get_job(job_id)
                if job is None or job.state in _ENDED:
                    return job
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return job
                pause = min(remaining, _RECHECK if signals.ready else _POLL)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(pause):
                        await event.wait()
        finally:
            signals.unwatch(job_id, event)

    async def wait_cancel_request(self, *, timeout: float) -> bool:
        return await self._cancel_signals.wait_cancel(timeout)
