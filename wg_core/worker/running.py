"""Running one job: decode its envelope, route it to its handler, run it under its
timeout, and hand the outcome on (a completion to acknowledge, or a failure)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from wg_core.backend import Attempt
from wg_core.envelope import Envelope, EnvelopeError
from wg_core.failures import Failure, failure_from_exception
from wg_core.handlers import Handler
from wg_core.jobs import JobContext
from wg_core.options import WorkerConfig
from wg_core.payloads import PayloadDecodeError
from wg_core.worker.acks import Acknowledger
from wg_core.worker.deadlines import Deadlines
from wg_core.worker.ledger import Ledger
from wg_core.worker.outcomes import Outcomes

__all__ = ["JobRunner"]

logger = logging.getLogger("wg.pool")


class JobRunner:
    """Runs claimed attempts, one task each. Async handlers run on the event loop,
    sync ones in the runner's threads (``open()`` starts them, ``close()`` stops them).
    ``renewed_at()`` is the monotonic time the pool's leases were last renewed."""

    __slots__ = (
        "_acks",
        "_config",
        "_deadlines",
        "_executor",
        "_fallback",
        "_ledger",
        "_outcomes",
        "_renewed_at",
        "_routes",
        "_worker_id",
    )

    def __init__(
        self,
        *,
        config: WorkerConfig,
        worker_id: str,
        routes: dict[str, Handler],
        fallback: Handler | None,
        ledger: Ledger,
        outcomes: Outcomes,
        acks: Acknowledger,
        renewed_at: Callable[[], float],
    ) -> None:
        self._config = config
        self._worker_id = worker_id
        self._routes = routes
        self._fallback = fallback
        self._ledger = ledger
        self._outcomes = outcomes
        self._acks = acks
        self._renewed_at = renewed_at
        self._deadlines = Deadlines()
        self._executor: ThreadPoolExecutor | None = None

    @property
    def job_names(self) -> tuple[str, ...]:
        """The job names routed to their own handlers, sorted."""
        return tuple(sorted(self._routes))

    def open(self) -> None:
        """Start the threads sync handlers run in."""
        self._executor = ThreadPoolExecutor(
            max_workers=self._config.workers, thread_name_prefix="wg-handler"
        )

    def close(self) -> None:
        """Cancel the timeout timers and stop the threads (without waiting for a sync
        handler still running: it cannot be interrupted)."""
        self._deadlines.close()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def run(self, attempt: Attempt, claimed_at: float) -> None:
        """Run one attempt to its outcome."""
        config = self._config
        outcomes = self._outcomes
        # A process frozen (SIGSTOP, a VM pause) between claiming and starting must not
        # start a job whose lease ran out meanwhile: another worker may own it now.
        renewed_at = max(claimed_at, self._renewed_at())
        if time.monotonic() - renewed_at > config.lease:
            logger.warning("lease of job %s ran out before it started: skipped", attempt.key)
            self._ledger.drop(attempt.token)
            return
        oversized = self._oversized(attempt.raw)
        if oversized:
            await outcomes.bury_malformed(attempt, oversized)
            return
        try:
            envelope = Envelope.decode(attempt.raw)
        except EnvelopeError as exc:
            await outcomes.bury_malformed(attempt, f"undecodable envelope: {exc}")
            return
        handler = self._routes.get(envelope.job_name, self._fallback)
        if handler is None:
            reason = f"unknown job name {envelope.job_name!r}: no handler in this pool"
            await outcomes.bury(attempt, envelope, Failure(message=reason, fatal=True))
            return
        try:
            job = handler.decode(envelope.payload)
        except PayloadDecodeError as exc:
            await outcomes.bury(attempt, envelope, Failure(message=str(exc), fatal=True))
            return
        context = JobContext(
            job_id=envelope.id,
            job_name=envelope.job_name,
            attempt=envelope.retry_count + 1,
            max_retries=envelope.max_retries,
            created_at=envelope.created_at,
            worker_id=self._worker_id,
        )
        assert self._executor is not None
        try:
            await self._deadlines.run(handler.call(job, context, self._executor), envelope.timeout)
        except asyncio.CancelledError:
            # Shutdown after the drain timeout, or the lease was lost: the job is not
            # ours to finish. The pool releases it at shutdown if we still hold it.
            raise
        except Exception as exc:
            await outcomes.fail(attempt, envelope, failure_from_exception(exc))
            return
        self._acks.ack(attempt)

    def _oversized(self, raw: str) -> str | None:
        """Why ``raw`` is too big to decode, or ``None``. (Characters are at most four
        bytes, so the exact byte count is only computed near the cap.)"""
        cap = self._config.max_payload_bytes
        if len(raw) <= cap // 4:
            return None
        size = len(raw.encode(errors="surrogateescape"))
        if size <= cap:
            return None
        return f"envelope is {size} bytes, over the {cap}-byte cap: not decoded"
