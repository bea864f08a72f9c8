"""``WorkerPool``: claim jobs, run handlers, record outcomes; drain on shutdown.

One pool is one asyncio task group over one backend, composed of parts with one job
each (this package's modules):

* the **claimer** (``claiming``) leases up to the number of free slots at a time,
  waiting on the backend's wake-up signal when the queue is empty. While the queue is
  deep (the last claim came back full) it also **claims ahead** (``prefetch``): up to
  ``prefetch`` more jobs wait, leased, in a local buffer, so a slot that frees starts
  its next job at once instead of after a claim round trip (see ``WorkerPool``);
* one **task per job** (``running``) decodes the envelope, routes it to its handler by
  job name, runs it under the job's timeout (``deadlines``: timers shared by slices)
  and hands on the outcome;
* the **acknowledger** (``acks``) completes finished attempts in batches, each with
  its result (``results``) kept ``keep_finished`` seconds;
* **outcomes** (``outcomes``) turns a failure into a retry or a burial and writes it,
  and finishes cancelled jobs;
* the **lease keeper** (``leases``) renews the leases of every held attempt and
  refreshes the worker registry; an attempt whose lease was lost is cancelled there
  (someone else owns it), and one whose job's cancel was requested is interrupted;
* the **scheduler**, **retrier** and **reaper** (``maintenance``) move due scheduled
  jobs, due retries and expired leases (a crashed worker's jobs) back to the queue;
  the **pruner** deletes completed and cancelled jobs whose retention ran out.

Delivery is at-least-once: a job runs again if its worker dies before recording the
outcome, so handlers should be idempotent (``JobContext.job_id`` is a stable key).
Shutdown (``shutdown()``, SIGINT or SIGTERM): stop claiming, let running jobs finish up
to ``shutdown_timeout`` while leases keep being renewed, then cancel the rest and
release them to the front of the queue without using an attempt. A second signal
stops at once; the leases bring those jobs back. A sync handler cannot be interrupted:
its thread runs on after a timeout or a forced stop, and the job may run again.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from wg_core.backend import Attempt, Backend, JobState, WorkerInfo
from wg_core.dispatch import checked
from wg_core.envelope import Envelope, EnvelopeError
from wg_core.errors import BackendError, BackendUnavailableError, ConfigError
from wg_core.handlers import HandlerFunc, build_routes
from wg_core.middleware import JobMiddleware, MiddlewareChain
from wg_core.options import WorkerConfig
from wg_core.periodic import Periodic
from wg_core.run_books import RunBooks
from wg_core.urls import backend_from_url, redact_url
from wg_core.worker.acks import Acknowledger
from wg_core.worker.backoff import Backoff
from wg_core.worker.burst import watch_burst
from wg_core.worker.claiming import Claimer
from wg_core.worker.leases import LeaseKeeper
from wg_core.worker.ledger import Ledger, PoolStats
from wg_core.worker.maintenance import Maintenance
from wg_core.worker.outcomes import Outcomes
from wg_core.worker.periodic import PeriodicScheduler
from wg_core.worker.running import JobRunner
from wg_core.worker.shared import Shared

__all__ = ["LAST_WRITES_TIMEOUT", "PoolStats", "WorkerPool"]

logger = logging.getLogger("wg.pool")

LAST_WRITES_TIMEOUT = 10.0
"""Seconds each of the last writes of a stopping pool may take before it gives up."""


class WorkerPool:
    """Process jobs from one namespace with ``workers`` concurrent slots.

    ``WorkerPool(handler=f, url="sqlite:jobs.db", namespace="myapp", workers=4)``
    or ``WorkerPool(handlers={"send_email": f, ...}, backend=backend)``. Settings are
    ``WorkerConfig``'s: pass ``config=`` or its fields as keyword arguments, e.g.
    ``queues=["critical", "default"]``: the queues it claims from, in strict order
    (``["default"]`` unless given).

    While the queue is deep (its last claim came back full) the pool claims ahead: it
    holds up to ``workers`` jobs beyond its free slots leased, waiting for a slot, and
    more, up to ``WorkerConfig.prefetch`` (default: the largest of ``workers``,
    ``batch_size`` and 500; 0 turns claiming ahead off), when it finishes jobs fast enough to
    start them within ``PREFETCH_HORIZON``. Those jobs are this worker's: the heartbeat
    renews their leases; one not started within ``prefetch_hold`` seconds, and every
    one once the pool learns the namespace, or one of its queues, is paused (at its next
    heartbeat, or a claim that came back short) or starts to stop, is released to the
    front of the queue at once, without using an attempt. If the worker dies instead,
    they come back like its running jobs, when their leases expire, as a failed attempt.

    ``periodic``: ``Periodic`` entries this pool enqueues on their schedules (names
    must differ); on start the pool makes the namespace's registry hold exactly these
    entries. Each tick is enqueued once however many pools run them (docs/periodic.md).
    ``middleware``: ``JobMiddleware`` objects run around every job (``before``,
    ``on_error``, ``after`` with the outcome) and told when the pool starts and stops
    (``wg_core.middleware``; metrics, tracing and JSON log context are middleware).
    """

    def __init__(
        self,
        handler: HandlerFunc | None = None,
        *,
        handlers: Mapping[str, HandlerFunc] | None = None,
        url: str | None = None,
        backend: Backend | None = None,
        config: WorkerConfig | None = None,
        periodic: Sequence[Periodic] = (),
        middleware: Sequence[JobMiddleware] | None = None,
        **config_fields: Any,
    ) -> None:
        if config is not None and config_fields:
            raise ConfigError("give config= or WorkerConfig fields as keywords, not both")
        if (url is None) == (backend is None):
            raise ConfigError("give exactly one of url= or backend=")
        if config is None:
            if backend is not None and "namespace" not in config_fields:
                config_fields["namespace"] = backend.namespace
            config = WorkerConfig(**config_fields)
        if backend is not None and backend.namespace != config.namespace:
            raise ConfigError(
                f"the backend's namespace {backend.namespace!r} differs from the pool's "
                f"{config.namespace!r}"
            )
        routes, fallback = build_routes(handler, handlers)
        self.config = config
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._owns_backend = backend is None
        self._shared = shared = Shared(
            backend=checked(
                backend if backend is not None else backend_from_url(url or "", config.namespace)
            ),
            config=config,
            worker_id=self.worker_id,
            ledger=Ledger(),
        )
        self._ledger = shared.ledger  # the pool's own books, read per job
        self._started_at = 0.0
        self._stop = asyncio.Event()
        self._draining = False
        self._force = False
        self._crashed: BaseException | None = None
        self._main: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._context = contextvars.Context()
        outcomes = Outcomes(shared)
        self._middleware = MiddlewareChain.of(middleware)
        self._claimer = Claimer(
            shared, stop=self._stop, start_job=self._start_job, give_up=self._give_up
        )
        self._acks = Acknowledger(shared, going_idle=self._going_idle)
        # The runner and the lease keeper read each other: the runner the time of the
        # last renewal, the keeper which job holds a stalled loop.
        self._runner = runner = JobRunner(
            shared,
            routes=routes,
            fallback=fallback,
            outcomes=outcomes,
            acks=self._acks,
            renewed_at=lambda: self._leases.renewed_at,
            finished=self._job_done,
            middleware=self._middleware,
        )
        self._leases = LeaseKeeper(
            shared,
            worker_info=self._worker_info,
            request_stop=self._stop_requested,
            cancel_requested=self._cancel_requested,
            jobs=runner,
        )
        self._ledger.on_first_hold = self._leases.holding_started
        self._outcomes = outcomes
        self._maintenance = Maintenance(shared, outcomes)
        self._periodic = (
            PeriodicScheduler(
                shared.backend,
                periodic,
                max_payload_bytes=config.max_payload_bytes,
                interval=config.scheduler_interval,
            )
            if periodic
            else None
        )
        self._cancelling: set[asyncio.Task[None]] = set()

    # -- public surface ------------------------------------------------------------------

    @property
    def backend(self) -> Backend:
        """The backend this pool works on (behind the checked-dispatch layer)."""
        return self._shared.backend

    @property
    def stats(self) -> PoolStats:
        """Counts of what this pool has done so far."""
        return self._ledger.stats(buffered=len(self._claimer.buffer))

    def run_books(self) -> RunBooks:
        """New run books in which this pool records every run from now on (how it
        ended, how long it took and waited; ``wg_core.run_books``). For a reader that
        needs only those figures, such as the Prometheus metrics: cheaper per run than
        a middleware's ``after`` hook. A pool keeps no books until asked."""
        books = RunBooks()
        self._runner.books.append(books)
        return books

    @property
    def running(self) -> bool:
        """Whether the pool has started and not yet stopped."""
        return self._main is not None and not self._main.done()

    async def start(self) -> None:
        """Open the backend, register the periodic entries (listed from then on), and
        start working in the background."""
        if self._main is not None:
            raise RuntimeError("this WorkerPool has already been started")
        self._loop = asyncio.get_running_loop()
        await self._open_backend()
        if self._periodic is not None:
            await self._periodic.start()
        self._started_at = time.time()
        self._runner.open()
        if self._middleware is not None:
            await self._middleware.started(self)
        self._context = contextvars.copy_context()  # each job's starts as a copy of it
        self._main = asyncio.create_task(self._supervise(), name=f"wg-pool-{self.worker_id}")
        logger.info(
            "worker %s started: %s namespace %r, queues %s, %d workers",
            self.worker_id,
            redact_url(self._shared.backend.display_url),
            self.config.namespace,
            ", ".join(self.config.queues),
            self.config.workers,
        )

    async def _open_backend(self) -> None:
        """Open the backend, waiting out an outage up to ``wait_for_backend``: a worker
        started while its server restarts comes up when the server does."""
        backoff = Backoff()
        started = time.monotonic()
        while True:
            try:
                await self._shared.backend.open()
                return
            except BackendUnavailableError as exc:
                if time.monotonic() - started >= self.config.wait_for_backend:
                    raise
                delay = max(backoff.next(), 0.5)
                logger.warning("backend unreachable (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)

    async def run(self, *, burst: bool = False) -> None:
        """Start, process jobs until SIGINT/SIGTERM or ``shutdown()``, drain, return.

        ``burst=True``: also stop once no job is ready for this pool (``worker.burst``)."""
        await self.start()
        if burst:
            watcher = asyncio.create_task(watch_burst(self._shared, self.shutdown), name="wg-burst")
            self._main.add_done_callback(lambda _: watcher.cancel())  # type: ignore[union-attr]
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # not the main thread, or no signal support: shutdown() still works
        try:
            await self.wait_closed()
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    def shutdown(self, *, now: bool = False) -> None:
        """Stop claiming and drain (see the module docstring). Idempotent; thread-safe.

        ``now=True`` stops at once, like a second signal: running jobs are abandoned
        without being released, and their leases bring them back after they expire.
        """
        loop = self._loop
        if loop is None or loop.is_closed():
            self._stop.set()
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._request_stop(now)
        else:
            loop.call_soon_threadsafe(self._request_stop, now)

    def _request_stop(self, now: bool) -> None:
        if now:
            self._force = True
            if self._main is not None:
                self._main.cancel()
        self._stop.set()

    async def wait_closed(self) -> None:
        """Wait until the pool has drained and stopped."""
        if self._main is None:
            return
        await asyncio.shield(self._main)

    async def __aenter__(self) -> WorkerPool:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.shutdown()
        await self.wait_closed()

    def _on_signal(self, sig: signal.Signals) -> None:
        if self._stop.is_set():
            logger.warning("second %s: stopping now; leases will return running jobs", sig.name)
            self._request_stop(now=True)
            return
        logger.info("%s received: draining (up to %.0fs)", sig.name, self.config.shutdown_timeout)
        self._stop.set()

    def _stop_requested(self) -> None:
        """An operator asked this worker to stop (its heartbeat said so)."""
        if not self._stop.is_set():
            logger.info("stop requested by an operator: draining")
            self._stop.set()

    def _cancel_requested(self, token: str) -> None:
        """A held job's cancel was requested (the heartbeat said so): interrupt its
        handler; a claimed-ahead job that never started is finished cancelled now. A
        job between the two (starting, or finished with its outcome on its way) is
        left alone: the next heartbeat says it again if it is still held."""
        if self._runner.request_cancel(token):
            return
        attempt = self._claimer.take(token)
        if attempt is None:
            return
        task = asyncio.create_task(self._cancel_unstarted(attempt), name="wg-cancel")
        self._cancelling.add(task)
        task.add_done_callback(self._cancelling.discard)

    async def _cancel_unstarted(self, attempt: Attempt) -> None:
        try:
            envelope: Envelope | None = Envelope.decode(attempt.raw)
        except EnvelopeError:
            envelope = None
        try:
            await self._outcomes.cancel(attempt, envelope)
        except BackendError as exc:  # its lease expires; the reaper finishes it
            logger.warning("finishing a cancelled job failed: %s", exc)

    def _give_up(self, exc: BaseException) -> None:
        self._crashed = exc
        self._stop.set()

    # -- the parts' glue -----------------------------------------------------------------

    def _start_job(self, attempt: Attempt, claimed_at: float) -> None:
        # Not the caller's context: mostly the task of the job before it in its slot.
        context = self._context.copy()
        self._ledger.active[attempt.token] = self._runner.task(attempt, claimed_at, context)

    def _job_done(self, attempt: Attempt) -> None:
        """A job's task is ending: its slot is free (see ``Claimer.slot_freed``)."""
        self._ledger.active.pop(attempt.token, None)
        self._claimer.slot_freed()

    def _going_idle(self) -> bool:
        return self._claimer.going_idle(len(self._ledger.active))

    def _worker_info(self) -> WorkerInfo:
        return WorkerInfo(
            worker_id=self.worker_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            concurrency=self.config.workers,
            running=len(self._ledger.active),
            started_at=self._started_at,
            last_seen=time.time(),
            state="draining" if self._draining else "running",
            job_names=self._runner.job_names,
            queues=self.config.queues,
        )

    # -- supervision ---------------------------------------------------------------------

    async def _supervise(self) -> None:
        config = self.config
        maintenance = self._maintenance
        self._leases.start()
        background = [
            asyncio.create_task(self._acks.run(), name="wg-ack"),
            asyncio.create_task(self._claimer.watch_pause(), name="wg-pause-watch"),
            asyncio.create_task(
                maintenance.promote(JobState.SCHEDULED, config.scheduler_interval),
                name="wg-scheduler",
            ),
            asyncio.create_task(
                maintenance.promote(JobState.RETRY, config.retrier_interval), name="wg-retrier"
            ),
            asyncio.create_task(maintenance.reap(), name="wg-reaper"),
            asyncio.create_task(maintenance.prune(), name="wg-pruner"),
        ]
        if self._periodic is not None:
            background.append(asyncio.create_task(self._periodic.run(), name="wg-periodic"))
        claimer = asyncio.create_task(self._claimer.run(), name="wg-claimer")
        for task in (*background, claimer):
            task.add_done_callback(self._check_crash)
        try:
            await self._stop.wait()
            self._draining = True
            claimer.cancel()
            await asyncio.gather(claimer, return_exceptions=True)
            # Claimed-ahead jobs go back first, so other workers run them while we drain.
            await self._quietly(self._claimer.release_buffer())
            await self._drain()
        except asyncio.CancelledError:
            if not self._force:
                raise
        finally:
            claimer.cancel()
            for task in background:
                task.cancel()
            await asyncio.gather(claimer, *background, return_exceptions=True)
            if self._force:
                for task in self._ledger.active.values():
                    task.cancel()
                # Unstarted jobs need no lease to come back: give them back now.
                await self._quietly(self._claimer.release_buffer())
                await self._leases.stop()
            else:
                await self._finish_quietly()
            await self._leases.stop()  # (done already, unless the last writes raised)
            await self._acks.abandon()
            self._claimer.close()
            self._runner.close()
            if self._middleware is not None:
                await self._middleware.stopped(self)
            if self._owns_backend:
                await self._quietly(self._shared.backend.close())
            logger.info("worker %s stopped: %s", self.worker_id, self.stats)
        if isinstance(self._crashed, BackendUnavailableError):
            raise self._crashed
        if self._crashed is not None:
            raise RuntimeError("a wg worker pool task crashed") from self._crashed

    def _check_crash(self, task: asyncio.Task[None]) -> None:
        # A background loop only ends by cancellation; anything else is a bug in wg or
        # the backend: say so loudly and stop rather than run on half-alive.
        if task.cancelled() or task.exception() is None:
            return
        logger.error("%s crashed; stopping the pool", task.get_name(), exc_info=task.exception())
        self._crashed = task.exception()
        self._stop.set()

    async def _drain(self) -> None:
        """Wait for running jobs up to shutdown_timeout, then cancel and release the rest."""
        active = self._ledger.active
        if active:
            logger.info("draining %d running jobs", len(active))
            _, pending = await asyncio.wait(
                list(active.values()), timeout=self.config.shutdown_timeout
            )
            if pending:
                logger.warning(
                    "%d jobs still running after the shutdown timeout: released", len(pending)
                )
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
        await self._quietly(self._acks.flush())  # bounded: the backend may be down

    async def _finish_quietly(self) -> None:
        """Last writes on the way out: acknowledge, release leftovers, unregister."""
        await self._quietly(self._acks.flush())
        # Finished jobs whose completion could not be written stay leased (their lease
        # expires and they run again): releasing them would run them again sooner.
        unwritten = self._acks.unwritten()
        active = self._ledger.active
        leftovers = [
            a for a in self._ledger.held() if a.token not in active and a.token not in unwritten
        ]
        if leftovers:
            released = await self._quietly(self._shared.backend.release(leftovers))
            if isinstance(released, int):
                self._ledger.counts["released"] += released
        await self._leases.stop()  # before unregistering: a last beat would re-register
        await self._quietly(self._shared.backend.unregister_worker(self.worker_id))

    async def _quietly(self, awaitable: Any) -> Any:
        try:
            return await asyncio.wait_for(awaitable, timeout=LAST_WRITES_TIMEOUT)
        except (BackendError, TimeoutError, OSError) as exc:
            logger.warning("while stopping: %s", exc)
            return None
