"""Outcomes other than success: retry (with backoff), bury, or finish cancelled,
written back reliably."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable

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
from wg_core.middleware import Outcome
from wg_core.queues import DEFAULT_QUEUE
from wg_core.worker.backoff import Backoff
from wg_core.worker.shared import Shared

__all__ = ["CANCELLED_ERROR", "Outcomes", "job_label"]

logger = logging.getLogger("wg.pool")
job_log = logging.getLogger("wg.job")

CANCELLED_ERROR = "cancelled"
"""The last error a job cancelled while running is recorded with."""


def job_label(job_name: str, queue: str) -> str:
    """How a job's log lines name it: its job name, and its queue unless that is
    ``default``."""
    if queue == DEFAULT_QUEUE:
        return job_name
    return f"{job_name}, queue {queue}"


class Outcomes:
    """Decides what a failed attempt becomes (``failures`` has the rules) and writes
    it, retrying the write through backend outages while the pool holds the lease;
    finishes cancelled the attempts whose cancel was requested. Log lines name the
    job's queue (``Attempt.queue``)."""

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
    ) -> Outcome:
        """Retry the job after its backoff delay (or ``delay``), or bury it if the
        failure is fatal or its retries are used up; the outcome written (``FAILED``
        if none could be)."""
        if failure.fatal or is_exhausted(envelope):
            return await self.bury(attempt, envelope, failure)
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
            return Outcome.DEAD
        backend = self._shared.backend
        error = failed.last_error
        if await self._record(
            attempt, "retry", lambda: backend.retry(attempt, raw=raw, delay=delay, error=error)
        ):
            counts = self._shared.ledger.counts
            counts["failed"] += 1
            counts["retried"] += 1
            if job_log.isEnabledFor(logging.WARNING):
                job_log.warning(
                    "job %s (%s) attempt %d failed, retry in %.1fs: %s",
                    envelope.id,
                    job_label(envelope.job_name, attempt.queue),
                    envelope.retry_count + 1,
                    delay,
                    failure.message,
                )
            return Outcome.RETRIED
        return Outcome.FAILED

    async def bury(self, attempt: Attempt, envelope: Envelope, failure: Failure) -> Outcome:
        """Move the job to dead with ``failure`` as its last error; ``DEAD``, or
        ``FAILED`` if the lease was lost first."""
        failed = failed_envelope(envelope, failure, dead=True)
        raw = await self._encode(attempt, failed, failure)
        if raw is None:
            return Outcome.DEAD
        if not await self._bury(attempt, raw, failed.last_error):
            return Outcome.FAILED
        job_log.warning(
            "job %s (%s) attempt %d is dead: %s",
            envelope.id,
            job_label(envelope.job_name, attempt.queue),
            envelope.retry_count + 1,
            failure.message,
        )
        return Outcome.DEAD

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
        if await self._bury(attempt, dead.encode(), dead.last_error):
            where = "" if attempt.queue == DEFAULT_QUEUE else f" (queue {attempt.queue})"
            job_log.warning("job %s%s is dead: %s", dead.id, where, reason)

    async def _bury(self, attempt: Attempt, raw: str, error: str | None) -> bool:
        backend = self._shared.backend
        if not await self._record(
            attempt, "bury", lambda: backend.bury(attempt, raw=raw, error=error)
        ):
            return False
        counts = self._shared.ledger.counts
        counts["failed"] += 1
        counts["dead"] += 1
        return True

    async def cancel(self, attempt: Attempt, envelope: Envelope | None) -> Outcome:
        """Finish the attempt cancelled (its cancel was requested), kept for the job's
        ``keep_finished`` (else the pool's); not retried, not counted as failed.
        ``CANCELLED``, or ``FAILED`` if the lease was lost first."""
        keep = envelope.keep_finished if envelope is not None else None
        if keep is None:
            keep = self._shared.config.keep_finished
        backend = self._shared.backend
        if await self._record(
            attempt,
            "finish_cancelled",
            lambda: backend.finish_cancelled(attempt, keep=keep, error=CANCELLED_ERROR),
        ):
            self._shared.ledger.counts["cancelled"] += 1
            if job_log.isEnabledFor(logging.INFO):
                name = envelope.job_name if envelope is not None else "?"
                job_log.info(
                    "job %s (%s) cancelled",
                    envelope.id if envelope is not None else attempt.key,
                    job_label(name, attempt.queue),
                )
            return Outcome.CANCELLED
        return Outcome.FAILED

    async def _record(
        self, attempt: Attempt, verb: str, write: Callable[[], Awaitable[bool]]
    ) -> bool:
        """Write an outcome (``verb`` names it for the log), retrying through backend
        outages while we hold the attempt; whether it took effect."""
        backoff = Backoff()
        ledger = self._shared.ledger
        # While this write is in flight, a heartbeat racing it sees the job already
        # moved and reports the lease lost: this write, not that report, says who won.
        ledger.recording.add(attempt.token)
        recovery = self._shared.recovery
        try:
            failed = False
            while True:
                try:
                    ok = await write()
                    break
                except BackendError as exc:
                    if not ledger.holds(attempt.token):
                        return False
                    pause = backoff.next()
                    logger.warning("%s failed (%s); retrying in %.2fs", verb, exc, pause)
                    failed = True
                    await recovery.pause(pause)  # or until another call gets through
            if failed:
                recovery.answered()
        finally:
            ledger.recording.discard(attempt.token)
        ledger.drop(attempt.token)
        counts = ledger.counts
        if not ok:
            counts["stale_writes"] += 1
            logger.warning("lease lost before %s of %s: another worker owns it", verb, attempt.key)
            return False
        return True
