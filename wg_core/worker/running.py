"""Running one job: decode its envelope, route it to its handler, run it under its
timeout, and hand the outcome on (a completion to acknowledge, or a failure)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from wg_core.backend import Attempt
from wg_core.envelope import Envelope, EnvelopeError
from wg_core.failures import Failure, describe_exception, failure_from_exception
from wg_core.handlers import Handler
from wg_core.jobs import JobContext
from wg_core.payloads import PayloadDecodeError
from wg_core.worker.acks import Acknowledger
from wg_core.worker.deadlines import Deadlines, Overran
from wg_core.worker.outcomes import Outcomes, job_label
from wg_core.worker.shared import Shared

__all__ = ["JobRunner"]

logger = logging.getLogger("wg.pool")
job_log = logging.getLogger("wg.job")
"""One line per job: started and completed (with its duration) at DEBUG; retried and
dead at WARNING (``outcomes``). The level is checked before anything is formatted."""


def _describe(envelope: Envelope, number: int) -> str:
    return f"job {envelope.id} ({envelope.job_name}) attempt {number}"


class JobRunner:
    """Runs claimed attempts, one task each. Async handlers run on the event loop,
    sync ones in the runner's threads (``open()`` starts them, ``close()`` stops them).
    ``renewed_at()`` is the monotonic time the pool's leases were last renewed."""

    __slots__ = (
        "_acks",
        "_async_jobs",
        "_deadlines",
        "_executor",
        "_fallback",
        "_max_payload_bytes",
        "_outcomes",
        "_queue",
        "_renewed_at",
        "_routes",
        "_shared",
        "_unsafe_after",
    )

    def __init__(
        self,
        shared: Shared,
        *,
        routes: dict[str, Handler],
        fallback: Handler | None,
        outcomes: Outcomes,
        acks: Acknowledger,
        renewed_at: Callable[[], float],
    ) -> None:
        config = shared.config
        self._shared = shared
        self._routes = routes
        self._fallback = fallback
        self._outcomes = outcomes
        self._acks = acks
        self._renewed_at = renewed_at
        self._deadlines = Deadlines()
        self._executor: ThreadPoolExecutor | None = None
        # Read per job, so kept here rather than looked up through the config.
        self._max_payload_bytes = config.max_payload_bytes
        # The queue of every job this pool claims, for the log lines, if it serves one
        # (an attempt does not say which queue it came from).
        self._queue = config.queues[0] if len(config.queues) == 1 else None
        # A held lease not renewed for this long may have been taken over.
        self._unsafe_after = min(config.lease, config.silent_after)
        # task -> the job it runs, for jobs whose handler runs on the event loop (the
        # lease keeper names the one holding the loop when it stalls)
        self._async_jobs: dict[asyncio.Task[Any], tuple[Envelope, int]] = {}

    @property
    def job_names(self) -> tuple[str, ...]:
        """The job names routed to their own handlers, sorted."""
        return tuple(sorted(self._routes))

    def open(self) -> None:
        """Start the threads sync handlers run in."""
        self._executor = ThreadPoolExecutor(
            max_workers=self._shared.config.workers, thread_name_prefix="wg-handler"
        )

    def close(self) -> None:
        """Cancel the timeout timers and stop the threads (without waiting for a sync
        handler still running: it cannot be interrupted)."""
        self._deadlines.close()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def on_loop(self, task: asyncio.Task[Any] | None) -> str | None:
        """Which job ``task`` runs (``"job <id> (<name>) attempt <n>"``), if it runs an
        async handler. Safe from another thread (one dictionary read)."""
        job = self._async_jobs.get(task) if task is not None else None
        return None if job is None else _describe(*job)

    def async_jobs(self) -> list[str]:
        """Every job running an async handler now, described as by ``on_loop``."""
        return [_describe(*job) for job in self._async_jobs.copy().values()]

    async def run(self, attempt: Attempt, claimed_at: float) -> None:
        """Run one attempt to a recorded outcome — completed, retried, dead, or (when
        the pool cancels it) left held for the pool to release — whatever raises on
        the way. Cancels from the pool (shutdown, a lost lease) propagate."""
        try:
            await self._run(attempt, claimed_at)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # a bug on wg's side of the job: still end it
            await self._rescue(attempt, exc)

    async def _run(self, attempt: Attempt, claimed_at: float) -> None:
        outcomes = self._outcomes
        # A process frozen (SIGSTOP, a VM pause) between claiming and starting must not
        # start a job whose lease may be someone else's by now: others take it over
        # once its lease expires, or once this worker has been silent for silent_after.
        renewed_at = max(claimed_at, self._renewed_at())
        if time.monotonic() - renewed_at > self._unsafe_after:
            logger.warning("lease of job %s ran out before it started: skipped", attempt.key)
            self._shared.ledger.drop(attempt.token)
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
            await outcomes.bury(
                attempt, envelope, Failure(message=reason, fatal=True), queue=self._queue
            )
            return
        try:
            job = handler.decode(envelope.payload)
        except PayloadDecodeError as exc:
            await outcomes.bury(
                attempt, envelope, Failure(message=str(exc), fatal=True), queue=self._queue
            )
            return
        number = envelope.retry_count + 1
        context = JobContext(
            job_id=envelope.id,
            job_name=envelope.job_name,
            attempt=number,
            max_retries=envelope.max_retries,
            created_at=envelope.created_at,
            worker_id=self._shared.worker_id,
        )
        task = asyncio.current_task()
        assert task is not None
        assert self._executor is not None
        logging_jobs = job_log.isEnabledFor(logging.DEBUG)
        if logging_jobs:
            label = job_label(envelope.job_name, self._queue)
            job_log.debug("job %s (%s) attempt %d started", envelope.id, label, number)
            started = time.monotonic()
        if handler.is_async:
            self._async_jobs[task] = (envelope, number)
        cancelling = task.cancelling()
        try:
            await self._deadlines.run(handler.call(job, context, self._executor), envelope.timeout)
        except BaseException as exc:
            if task.cancelling() > cancelling:
                # The pool cancelled it (shutdown after the drain timeout, or the lease
                # was lost), whatever the handler raised on its way out: not ours to
                # finish. The pool releases it at shutdown if it still holds it.
                raise asyncio.CancelledError from None
            # Anything else a handler raises — SystemExit, KeyboardInterrupt, its own
            # CancelledError, any BaseException — is this job's failure, never the
            # worker's: only a signal or shutdown() stops a pool.
            if isinstance(exc, Overran):
                logger.warning(
                    "job %s (%s) attempt %d ran %.2fs, past its %gs timeout, without "
                    "yielding the event loop: recorded as timed out",
                    envelope.id,
                    envelope.job_name,
                    number,
                    exc.elapsed,
                    envelope.timeout,
                )
                failure = Failure(message=str(exc), error_type="TimeoutError")
            else:
                failure = failure_from_exception(exc)
            await outcomes.fail(attempt, envelope, failure, queue=self._queue)
            return
        finally:
            if handler.is_async:
                del self._async_jobs[task]
        self._acks.ack(attempt)
        if logging_jobs:
            job_log.debug(
                "job %s (%s) attempt %d completed in %.3fs",
                envelope.id,
                label,
                number,
                time.monotonic() - started,
            )

    async def _rescue(self, attempt: Attempt, exc: BaseException) -> None:
        """Wg itself failed between claiming a job and recording its outcome (a bug, or
        text it could not handle): bury the job with the reason and its stored text;
        if even that fails, stop renewing its lease, so that it expires and the reaper
        counts a failed attempt (bounded by max_retries: it cannot repeat forever)."""
        logger.error("recording the outcome of job %s failed", attempt.key, exc_info=exc)
        reason = f"wg could not record this job's outcome: {describe_exception(exc)}"
        try:
            await self._outcomes.bury_malformed(attempt, reason)
        except asyncio.CancelledError:
            raise
        except BaseException:
            logger.exception("burying job %s failed: its lease is left to expire", attempt.key)
            self._shared.ledger.drop(attempt.token)

    def _oversized(self, raw: str) -> str | None:
        """Why ``raw`` is too big to decode, or ``None``. (Characters are at most four
        bytes, so the exact byte count is only computed near the cap.)"""
        cap = self._max_payload_bytes
        if len(raw) <= cap // 4:
            return None
        size = len(raw.encode(errors="surrogateescape"))
        if size <= cap:
            return None
        return f"envelope is {size} bytes, over the {cap}-byte cap: not decoded"
