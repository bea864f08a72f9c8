"""Running one job: decode its envelope, route it to its handler, run it under its
timeout, and hand the outcome on (a completion with its result to acknowledge, a
failure, or a cancellation).

Cancellation: when the lease keeper learns that a running job's cancel was requested
(``request_cancel``), the job's ``JobContext.cancelled`` turns True and, for an async
handler, its task is cancelled (the handler sees ``asyncio.CancelledError``). Once the
request has reached the handler the job ends cancelled, whatever the handler does
next: a sync handler that returns early, or an async one that swallows the
cancellation, does not complete it."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from wg_core.backend import Attempt, Backend, Completion, Progress
from wg_core.envelope import Envelope, EnvelopeError
from wg_core.failures import Failure, describe_exception, failure_from_exception
from wg_core.handlers import Handler
from wg_core.jobs import JobContext
from wg_core.middleware import MiddlewareChain, Outcome, RunningJob, hook_failed, metadata_of
from wg_core.payloads import PayloadDecodeError
from wg_core.run_books import RunBooks
from wg_core.worker.acks import Acknowledger
from wg_core.worker.deadlines import Deadlines, Overran
from wg_core.worker.outcomes import Outcomes, job_label
from wg_core.worker.progress import ProgressReporter
from wg_core.worker.results import ResultError, encode_result
from wg_core.worker.shared import Shared

__all__ = ["JobRunner"]

# Looked up per job: an Enum class attribute costs a third of a microsecond, a module
# global next to nothing.
_COMPLETED = Outcome.COMPLETED
_FAILED = Outcome.FAILED

logger = logging.getLogger("wg.pool")
job_log = logging.getLogger("wg.job")
"""One line per job: started and completed (with its duration) at DEBUG; retried and
dead at WARNING (``outcomes``). The level is checked before anything is formatted."""


def _describe(envelope: Envelope, number: int) -> str:
    return f"job {envelope.id} ({envelope.job_name}) attempt {number}"


class _Running:
    """A job whose handler is running now: what ``request_cancel`` acts on, and its
    ``JobContext``'s ``JobControl`` (the cancel flag, progress). One small object per
    job; the progress reporter is only made for a job that reports progress."""

    __slots__ = ("_attempt", "_backend", "_reporter", "cancelled", "is_async", "task",
                 "task_cancelled")  # fmt: skip

    def __init__(
        self, task: asyncio.Task[Any], attempt: Attempt, backend: Backend, *, is_async: bool
    ) -> None:
        self.task = task
        self.is_async = is_async
        self.cancelled = False
        """Whether the job's cancel reached the pool (``JobContext.cancelled``)."""
        self.task_cancelled = False
        """Whether ``request_cancel`` cancelled the task (async handlers)."""
        self._attempt = attempt
        self._backend = backend
        self._reporter: ProgressReporter | None = None

    def report(self, progress: Progress) -> None:
        """``JobControl.report``: on the pool's loop."""
        reporter = self._reporter
        if reporter is None:
            reporter = self._reporter = ProgressReporter(
                functools.partial(self._backend.set_progress, self._attempt),
                loop=self.task.get_loop(),
            )
        reporter.report(progress)

    def report_threadsafe(self, progress: Progress) -> None:
        """``JobControl.report_threadsafe``: from a sync handler's thread."""
        with contextlib.suppress(RuntimeError):  # the pool's loop is closed: nobody to tell
            self.task.get_loop().call_soon_threadsafe(self.report, progress)

    def close(self) -> None:
        """The handler returned: no more progress writes."""
        if self._reporter is not None:
            self._reporter.close()


class JobRunner:
    """Runs claimed attempts, one task each. Async handlers run on the event loop,
    sync ones in the runner's threads (``open()`` starts them, ``close()`` stops them).
    ``renewed_at()`` is the monotonic time the pool's leases were last renewed."""

    __slots__ = (
        "_acks",
        "_async_jobs",
        "_deadlines",
        "_decode_freely",
        "_executor",
        "_fallback",
        "_finished",
        "_keep_finished",
        "_loop",
        "_loop_time",
        "_max_payload_bytes",
        "_middleware",
        "_namespace",
        "_outcomes",
        "_renewed_at",
        "_routes",
        "_running",
        "_shared",
        "_unsafe_after",
        "_worker_id",
        "books",
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
        finished: Callable[[Attempt], None],
        middleware: MiddlewareChain | None = None,
    ) -> None:
        config = shared.config
        # Only a chain with run hooks costs a RunningJob per job.
        self._middleware = middleware if middleware is not None and middleware.hooks_runs else None
        self.books: list[RunBooks] = []
        """The pool's run books (``WorkerPool.run_books``): every run is recorded in each."""
        self._shared = shared
        self._namespace = config.namespace
        self._worker_id = shared.worker_id
        self._routes = routes
        self._fallback = fallback
        self._outcomes = outcomes
        self._acks = acks
        self._renewed_at = renewed_at
        self._finished = finished
        self._deadlines = Deadlines()
        self._loop: asyncio.AbstractEventLoop | None = None  # the pool's, once open
        self._loop_time: Callable[[], float] = time.monotonic  # the loop's, once open
        self._executor: ThreadPoolExecutor | None = None
        # Read per job, so kept here rather than looked up through the config.
        self._max_payload_bytes = config.max_payload_bytes
        # Text this long or shorter is under the cap whatever its characters (at most
        # four bytes each): only longer text is measured.
        self._decode_freely = config.max_payload_bytes // 4
        self._keep_finished = config.keep_finished
        # A held lease not renewed for this long may have been taken over.
        self._unsafe_after = min(config.lease, config.silent_after)
        # task -> the job it runs, for jobs whose handler runs on the event loop (the
        # lease keeper names the one holding the loop when it stalls)
        self._async_jobs: dict[asyncio.Task[Any], tuple[Envelope, int]] = {}
        # token -> the job whose handler runs now (for cancel requests)
        self._running: dict[str, _Running] = {}

    @property
    def job_names(self) -> tuple[str, ...]:
        """The job names routed to their own handlers, sorted."""
        return tuple(sorted(self._routes))

    def open(self) -> None:
        """Start the threads sync handlers run in (on the pool's loop)."""
        self._loop = loop = asyncio.get_running_loop()
        # asyncio's own loops read time.monotonic(): called straight, twice per job,
        # that saves a Python method call each time.
        base_time = asyncio.BaseEventLoop.time
        self._loop_time = time.monotonic if type(loop).time is base_time else loop.time
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

    def request_cancel(self, token: str) -> bool:
        """The cancel of the job held under ``token`` was requested: tell its handler
        (``JobContext.cancelled``; an async handler's task is cancelled). False if no
        handler of that attempt is running now (not started yet, or finished and its
        outcome on its way). Idempotent."""
        running = self._running.get(token)
        if running is None:
            return False
        if not running.cancelled:
            running.cancelled = True
            if running.is_async:
                running.task_cancelled = True
                running.task.cancel()
        return True

    def task(
        self, attempt: Attempt, claimed_at: float, context: contextvars.Context
    ) -> asyncio.Task[None]:
        """The task that runs ``attempt`` (``job``), started in ``context``: each job
        has its task and its own context. Made by the Task class itself unless the
        loop has a task factory (the loop's create_task is one more call per job)."""
        coro = self.job(attempt, claimed_at)
        name = f"wg-job-{attempt.key}"
        loop = self._loop
        assert loop is not None
        if loop.get_task_factory() is None:
            return asyncio.Task(coro, loop=loop, name=name, context=context)
        return loop.create_task(coro, name=name, context=context)

    async def job(self, attempt: Attempt, claimed_at: float) -> None:
        """A job's task: run one attempt to a recorded outcome — completed, retried,
        dead, or (when the pool cancels it) left held for the pool to release —
        whatever raises on the way, then tell the pool its slot is free. Cancels from
        the pool (shutdown, a lost lease) propagate.

        Every step of a job is a plain call or awaited straight from here, with no
        coroutine of its own: each coroutine layer of a job's path cost about half
        a microsecond of every job's CPU (docs/benchmarks.md, "hotpath2")."""
        try:
            prepared = self._prepare(attempt, claimed_at)
            if isinstance(prepared, str):
                await self._outcomes.bury_malformed(attempt, prepared)
            elif prepared is None:
                pass
            elif self._middleware is None and not self.books:
                await self._run_envelope(attempt, prepared, None)
            else:
                await self._observed(attempt, prepared)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # a bug on wg's side of the job: still end it
            await self._rescue(attempt, exc)
        finally:
            self._finished(attempt)

    def _prepare(self, attempt: Attempt, claimed_at: float) -> Envelope | str | None:
        """The attempt's envelope; or why its text is to be buried as it is; or
        ``None``: not to be run at all (its lease may be someone else's by now)."""
        # A process frozen (SIGSTOP, a VM pause) between claiming and starting must not
        # start a job whose lease may be someone else's by now: others take it over
        # once its lease expires, or once this worker has been silent for silent_after.
        renewed_at = max(claimed_at, self._renewed_at())
        if time.monotonic() - renewed_at > self._unsafe_after:
            logger.warning("lease of job %s ran out before it started: skipped", attempt.key)
            self._shared.ledger.drop(attempt.token)
            return None
        raw = attempt.raw
        if len(raw) > self._decode_freely:
            oversized = self._oversized(raw)
            if oversized:
                return oversized
        try:
            return Envelope.decode(raw)
        except EnvelopeError as exc:
            return f"undecodable envelope: {exc}"

    async def _observed(self, attempt: Attempt, envelope: Envelope) -> None:
        """``_run_envelope`` with the middleware's run hooks and the run books."""
        chain = self._middleware
        books = self.books
        # The clocks are read once at the start (and the monotonic one at the end) for
        # the hooks and the books alike.
        started = time.monotonic()
        started_at = time.time()
        observed: RunningJob | None = None
        if chain is not None:
            observed = RunningJob(
                attempt, envelope, self._namespace, self._worker_id, started, started_at
            )
            # The hooks' loops are written out here, not awaited through the chain:
            # that saves a coroutine per job and hook list.
            for hook in chain.before_hooks:
                try:
                    await hook(observed)
                except Exception:
                    hook_failed(hook, "before")
        outcome = _FAILED  # unless the run records one (a pool's cancel does not)
        try:
            outcome = await self._run_envelope(attempt, envelope, observed)
        finally:
            if observed is not None:
                for after in chain.after_hooks:  # type: ignore[union-attr]
                    try:
                        await after(observed, outcome)
                    except Exception:
                        hook_failed(after, "after")
            if books:
                duration = time.monotonic() - started
                number = envelope.retry_count + 1
                if number == 1:
                    due = envelope.scheduled_at
                    wait = started_at - (envelope.created_at if due is None else due)
                else:
                    wait = 0.0
                queue, name = attempt.queue, envelope.job_name
                for book in books:
                    book.record(queue, name, outcome, duration, number, wait)

    async def _run_envelope(
        self, attempt: Attempt, envelope: Envelope, observed: RunningJob | None
    ) -> Outcome:
        """Route a decoded job to its handler, run it and record its outcome."""
        outcomes = self._outcomes
        handler = self._routes.get(envelope.job_name, self._fallback)
        if handler is None:
            reason = f"unknown job name {envelope.job_name!r}: no handler in this pool"
            return await outcomes.bury(attempt, envelope, Failure(message=reason, fatal=True))
        try:
            job = handler.decode_payload(envelope.payload)
        except PayloadDecodeError as exc:
            return await outcomes.bury(attempt, envelope, Failure(message=str(exc), fatal=True))
        number = envelope.retry_count + 1
        task = asyncio.current_task()
        assert task is not None
        is_async = handler.is_async
        running = _Running(task, attempt, self._shared.backend, is_async=is_async)
        # A frozen dataclass of nine fields costs a microsecond: only for the handlers
        # that take it (cancellation and progress go through ``running`` either way).
        context = (
            JobContext(
                job_id=envelope.id,
                job_name=envelope.job_name,
                attempt=number,
                max_retries=envelope.max_retries,
                created_at=envelope.created_at,
                worker_id=self._worker_id,
                queue=attempt.queue,
                metadata=metadata_of(envelope),
                control=running,
            )
            if handler.takes_context
            else None
        )
        logging_jobs = job_log.isEnabledFor(logging.DEBUG)
        if logging_jobs:
            label = job_label(envelope.job_name, attempt.queue)
            job_log.debug("job %s (%s) attempt %d started", envelope.id, label, number)
            started = time.monotonic()
        if is_async:
            self._async_jobs[task] = (envelope, number)
        token = attempt.token
        self._running[token] = running
        cancelling = task.cancelling()
        error: BaseException | None = None
        value: Any = None
        # The timeout is armed and checked here, inline (``Deadlines``): no coroutine
        # of its own around the handler's.
        timeout = envelope.timeout
        if timeout is not None:
            began = self._loop_time()
            deadline = self._deadlines.arm(task, timeout, began)
        try:
            if not is_async:
                assert self._executor is not None  # opened by the pool's start
                value = await handler.call(job, context, self._executor)
            elif context is None:
                value = await handler.func(job)
            else:
                value = await handler.func(job, context)
        except BaseException as exc:
            error = exc
        finally:
            # Before any outcome is written: a cancel request must not cancel that write.
            del self._running[token]
            running.close()
            if is_async:
                del self._async_jobs[task]
        if timeout is not None:
            fired = self._deadlines.disarm(task, deadline)
            if error is None:
                # Work that returns after its deadline all the same overran: a timeout
                # is never a success.
                if fired:
                    task.uncancel()  # the handler caught our cancellation and returned
                    error = Overran(self._loop_time() - began, timeout)
                elif self._loop_time() > deadline:
                    error = Overran(self._loop_time() - began, timeout)
            elif (
                fired
                and isinstance(error, asyncio.CancelledError)
                and task.uncancel() <= cancelling
            ):
                # Ours (and nobody else's, e.g. a shutdown's): the job timed out.
                error = TimeoutError()
        if running.task_cancelled:
            task.uncancel()  # the cancel we were asked for, not the pool's
        if error is not None and task.cancelling() > cancelling:
            # The pool cancelled it (shutdown after the drain timeout, or the lease
            # was lost), whatever the handler raised on its way out: not ours to
            # finish. The pool releases it at shutdown if it still holds it.
            raise asyncio.CancelledError from None
        if running.cancelled:
            return await outcomes.cancel(attempt, envelope)
        if error is not None:
            # Anything else a handler raises — SystemExit, KeyboardInterrupt, its own
            # CancelledError, any BaseException — is this job's failure, never the
            # worker's: only a signal or shutdown() stops a pool.
            if observed is not None and self._middleware is not None:
                await self._middleware.on_error(observed, error)
            return await outcomes.fail(attempt, envelope, self._failure(error, envelope, number))
        keep = envelope.keep_finished
        if keep is None:
            keep = self._keep_finished
        if keep > 0:
            try:
                result = encode_result(value)
            except ResultError as exc:
                return await outcomes.bury(attempt, envelope, Failure(message=str(exc), fatal=True))
            self._acks.ack(Completion(attempt, result, keep))
        else:
            self._acks.ack(attempt)  # keeps nothing: deleted, as before results existed
        if logging_jobs:
            job_log.debug(
                "job %s (%s) attempt %d completed in %.3fs",
                envelope.id,
                label,
                number,
                time.monotonic() - started,
            )
        return _COMPLETED

    @staticmethod
    def _failure(exc: BaseException, envelope: Envelope, number: int) -> Failure:
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
            return Failure(message=str(exc), error_type="TimeoutError")
        return failure_from_exception(exc)

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
        bytes, so the exact byte count is only computed near the cap: ``_prepare``
        calls this only for text longer than ``_decode_freely``.)"""
        cap = self._max_payload_bytes
        size = len(raw.encode(errors="surrogateescape"))
        if size <= cap:
            return None
        return f"envelope is {size} bytes, over the {cap}-byte cap: not decoded"
