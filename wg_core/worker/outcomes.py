"""Outcomes of failed attempts: retry (with backoff) or bury, written back reliably."""

from __future__ import annotations

import asyncio
import logging
import random
import time

from wg_core.backend import Attempt
from wg_core.envelope import Envelope
from wg_core.errors import BackendError
from wg_core.failures import (
    Failure,
    backoff_delay,
    describe_exception,
    failed_envelope,
    is_exhausted,
    malformed_dead_envelope,
)
from wg_core.queues import DEFAULT_QUEUE
from wg_core.worker.backoff import Backoff
from wg_core.worker.shared import Shared

__all__ = ["Outcomes", "job_label"]

logger = logging.getLogger("wg.pool")
job_log = logging.getLogger("wg.job")


def job_label(job_name: str, queue: str | None) -> str:
    """How a job's log lines name it: its job name, and its queue unless that is
    ``default`` or unknown (``None``)."""
    if queue is None or queue == DEFAULT_QUEUE:
        return job_name
    return f"{job_name}, queue {queue}"


class Outcomes:
    """Decides what a failed attempt becomes (``failures`` has the rules) and writes
    it, retrying the write through backend outages while the pool holds the lease.

    ``queue``: the job's queue when the caller knows it, for the log lines only (a
    backend moves a job within its own queue whatever is passed)."""

    __slots__ = ("_rng", "_shared")

    def __init__(self, shared: Shared) -> None:
        self._shared = shared
        self._rng = random.Random()

    async def fail(
        self,
        attempt: Attempt,
        envelope: Envelope,
        failure: Failure,
        *,
        delay: float | None = None,
        queue: str | None = None,
    ) -> None:
        """Retry the job after its backoff delay (or ``delay``), or bury it if the
        failure is fatal or its retries are used up."""
        if failure.fatal or is_exhausted(envelope):
            await self.bury(attempt, envelope, failure, queue=queue)
            return
        config = self._shared.config
        if delay is None:
            delay = backoff_delay(
                envelope,
                default_delay=config.default_options.retry_delay or 10.0,
                max_delay=config.max_retry_delay,
                jitter=config.retry_jitter,
                rng=self._rng,
            )
        failed = failed_envelope(envelope, failure, dead=False)
        raw = await self._encode(attempt, failed, failure)
        if raw is None:
            return
        if await self._record(attempt, "retry", raw=raw, delay=delay, error=failed.last_error):
            self._shared.ledger.counts["retried"] += 1
            if job_log.isEnabledFor(logging.WARNING):
                job_log.warning(
                    "job %s (%s) attempt %d failed, retry in %.1fs: %s",
                    envelope.id,
                    job_label(envelope.job_name, queue),
                    envelope.retry_count + 1,
                    delay,
                    failure.message,
                )

    async def bury(
        self, attempt: Attempt, envelope: Envelope, failure: Failure, *, queue: str | None = None
    ) -> None:
        """Move the job to dead with ``failure`` as its last error."""
        failed = failed_envelope(envelope, failure, dead=True)
        raw = await self._encode(attempt, failed, failure)
        if raw is None:
            return
        if await self._record(attempt, "bury", raw=raw, error=failed.last_error):
            job_log.warning(
                "job %s (%s) attempt %d is dead: %s",
                envelope.id,
                job_label(envelope.job_name, queue),
                envelope.retry_count + 1,
                failure.message,
            )

    async def _encode(self, attempt: Attempt, failed: Envelope, failure: Failure) -> str | None:
        """The failed envelope's text; ``None`` if it cannot be written (a payload
        number Python read as infinity, say): then the job is buried as stored, with
        the reason, instead (it could never record a retry either)."""
        try:
            return failed.encode()
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            reason = (
                f"the envelope cannot be written back ({describe_exception(exc)}); "
                f"the attempt failed with: {failure.message}"
            )
            await self.bury_malformed(attempt, reason)
            return None

    async def bury_malformed(self, attempt: Attempt, reason: str) -> None:
        """Bury stored text that is no usable envelope, keeping it and the reason."""
        dead = malformed_dead_envelope(attempt.raw, reason, now=time.time())
        if await self._record(attempt, "bury", raw=dead.encode(), error=dead.last_error):
            job_log.warning("job %s is dead: %s", dead.id, reason)

    async def _record(
        self,
        attempt: Attempt,
        verb: str,
        *,
        raw: str,
        error: str | None,
        delay: float = 0.0,
    ) -> bool:
        """Retry or bury, retrying the write through backend outages while we hold it."""
        backoff = Backoff()
        backend = self._shared.backend
        ledger = self._shared.ledger
        # While this write is in flight, a heartbeat racing it sees the job already
        # moved and reports the lease lost: this write, not that report, says who won.
        ledger.recording.add(attempt.token)
        try:
            while True:
                try:
                    if verb == "retry":
                        ok = await backend.retry(attempt, raw=raw, delay=delay, error=error)
                    else:
                        ok = await backend.bury(attempt, raw=raw, error=error)
                    break
                except BackendError as exc:
                    if not ledger.holds(attempt.token):
                        return False
                    pause = backoff.next()
                    logger.warning("%s failed (%s); retrying in %.2fs", verb, exc, pause)
                    await asyncio.sleep(pause)
        finally:
            ledger.recording.discard(attempt.token)
        ledger.drop(attempt.token)
        counts = ledger.counts
        if not ok:
            counts["stale_writes"] += 1
            logger.warning("lease lost before %s of %s: another worker owns it", verb, attempt.key)
            return False
        counts["failed"] += 1
        if verb == "bury":
            counts["dead"] += 1
        return True
