"""Burst mode: a pool that stops by itself once nothing is ready for it (CI, cron).

"Ready" is what the pool could claim now: queued jobs of its queues (paused queues,
or a paused namespace, count as nothing ready), including scheduled jobs and retries
that have come due — they are promoted before each look, so a burst run does not stop
just before the scheduler would have moved them. Jobs due later (a retry backing off,
a job scheduled for tomorrow) are left for the next run. The pool stops once it holds
nothing (no job running, buffered or awaiting its acknowledgement) and two looks in a
row, ``interval`` apart, found nothing ready: a claim in flight between the two is
then held by the second.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final

from wg_core.backend import Backend, JobState
from wg_core.errors import BackendError
from wg_core.worker.shared import Shared

__all__ = ["BURST_INTERVAL", "watch_burst"]

logger = logging.getLogger("wg.pool")

BURST_INTERVAL: Final = 0.1
"""Seconds between two looks of an idle burst pool."""


async def watch_burst(
    shared: Shared, stop: Callable[[], None], *, interval: float = BURST_INTERVAL
) -> None:
    """Call ``stop()`` once the pool has nothing left to do (see the module docstring)."""
    quiet_looks = 0
    while quiet_looks < 2:
        await asyncio.sleep(interval)
        if shared.ledger.holding:
            quiet_looks = 0
            continue
        try:
            ready = await _anything_ready(shared)
        except BackendError as exc:
            logger.warning("burst: looking for ready jobs failed: %s", exc)
            quiet_looks = 0
            continue
        quiet_looks = 0 if ready else quiet_looks + 1
    logger.info("burst: no job is ready: stopping")
    stop()


async def _anything_ready(shared: Shared) -> bool:
    backend: Backend = shared.backend
    batch = shared.config.batch_size
    for state in (JobState.SCHEDULED, JobState.RETRY):
        while await backend.promote(state, limit=batch) >= batch:
            pass  # a full batch: more may be due
    if await backend.is_paused():
        return False
    for queue in shared.config.queues:
        if await backend.is_paused(queue=queue):
            continue
        if (await backend.counts(queue=queue)).queued:
            return True
    return False
