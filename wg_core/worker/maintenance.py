"""The pool's housekeeping: promote due scheduled jobs and retries, reap expired
leases, prune finished jobs whose retention ran out."""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from wg_core.backend import JobState
from wg_core.envelope import Envelope, EnvelopeError
from wg_core.errors import BackendError
from wg_core.failures import Failure
from wg_core.worker.outcomes import Outcomes
from wg_core.worker.shared import Shared

__all__ = ["REAPED_ERROR", "Maintenance"]

logger = logging.getLogger("wg.pool")

REAPED_ERROR: Final = "lease expired: the worker running this job crashed or stalled"


class Maintenance:
    """The scheduler, the retrier, the reaper and the pruner: background loops every
    pool runs (each move is atomic at the backend, so many pools may run them at
    once)."""

    __slots__ = ("_outcomes", "_shared")

    def __init__(self, shared: Shared, outcomes: Outcomes) -> None:
        self._shared = shared
        self._outcomes = outcomes

    async def promote(self, state: JobState, interval: float) -> None:
        """Move due jobs of ``state`` to the queue every ``interval`` seconds."""
        backend = self._shared.backend
        batch = self._shared.config.batch_size
        while True:
            try:
                while await backend.promote(state, limit=batch) >= batch:
                    pass  # a full batch: more may be due right now
            except BackendError as exc:
                logger.warning("promoting %s jobs failed: %s", state, exc)
            await asyncio.sleep(interval)

    async def prune(self) -> None:
        """Delete completed and cancelled jobs whose retention (``keep_finished``) ran
        out, ``batch_size`` at a time, every ``prune_interval`` seconds (each is
        deleted once, however many pools prune)."""
        backend = self._shared.backend
        config = self._shared.config
        while True:
            await asyncio.sleep(config.prune_interval)
            try:
                while await backend.prune(limit=config.batch_size) >= config.batch_size:
                    pass  # a full batch: more may have expired
            except BackendError as exc:
                logger.warning("pruning finished jobs failed: %s", exc)

    async def reap(self) -> None:
        """Take over jobs whose lease expired, or whose registered worker has been
        silent for ``silent_after`` (it died), and count each as a failed attempt: so
        a job that kills its worker ends dead after ``max_retries``, not in a loop.
        The retry is due at once: waiting for the dead worker to be noticed was its
        backoff, and a crash says nothing about the job's dependencies being down.
        A job whose cancel was requested is finished cancelled instead."""
        shared = self._shared
        config = shared.config
        while True:
            try:
                expired = await shared.backend.reclaim_expired(
                    limit=config.batch_size,
                    lease=config.lease,
                    worker_id=shared.worker_id,
                    silent_after=config.silent_after,
                )
            except BackendError as exc:
                logger.warning("reaping expired leases failed: %s", exc)
                expired = []
            for attempt in expired:
                shared.ledger.hold(attempt)
                try:
                    envelope = Envelope.decode(attempt.raw)
                except EnvelopeError as exc:
                    if attempt.cancel_requested:
                        await self._outcomes.cancel(attempt, None)
                    else:
                        await self._outcomes.bury_malformed(attempt, f"undecodable envelope: {exc}")
                    continue
                if attempt.cancel_requested:
                    await self._outcomes.cancel(attempt, envelope)
                    continue
                logger.warning("job %s: %s", envelope.id, REAPED_ERROR)
                await self._outcomes.fail(
                    attempt, envelope, Failure(message=REAPED_ERROR), delay=0.0
                )
            if len(expired) < config.batch_size:
                await asyncio.sleep(config.reaper_interval)
