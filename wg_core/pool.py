"""``WorkerPool``: claim jobs, run handlers, record outcomes; drain on shutdown.

One pool is one asyncio task group over one backend:

* the **claimer** leases up to the number of free slots at a time, waiting on the
  backend's wake-up signal when the queue is empty. While the queue is deep (the last
  claim came back full) it also **claims ahead**: up to ``prefetch`` more jobs wait,
  leased, in a local buffer, so a slot that frees starts its next job at once instead
  of after a claim round trip (see ``WorkerPool``);
* one **task per job** decodes the envelope, routes it to its handler by job name,
  runs it (with the job's timeout) and records the outcome;
* the **acknowledger** completes finished attempts in batches;
* the **heartbeat** renews the leases of every held attempt and refreshes the worker
  registry; an attempt whose lease was lost is cancelled here (someone else owns it);
* the **scheduler**, **retrier** and **reaper** move due scheduled jobs, due retries
  and expired leases (a crashed worker's jobs) back to the queue.

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
import contextlib
import logging
import math
import os
import random
import signal
import socket
import time
import uuid
from collections import deque
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

from wg_core.backend import Attempt, Backend, HeartbeatReply, JobState, WorkerInfo
from wg_core.dispatch import checked
from wg_core.envelope import Envelope, EnvelopeError
from wg_core.errors import BackendError, BackendUnavailableError, ConfigError
from wg_core.failures import (
    Failure,
    backoff_delay,
    failed_envelope,
    failure_from_exception,
    is_exhausted,
    malformed_dead_envelope,
)
from wg_core.handlers import Handler, HandlerFunc, build_routes
from wg_core.jobs import JobContext
from wg_core.options import WorkerConfig
from wg_core.payloads import PayloadDecodeError
from wg_core.urls import backend_from_url, redact_url

__all__ = ["PoolStats", "WorkerPool"]

logger = logging.getLogger("wg.pool")

_BACKOFF_START: Final = 0.05
_BACKOFF_MAX: Final = 5.0
LAST_WRITES_TIMEOUT = 10.0
"""Seconds each of the last writes of a stopping pool may take before it gives up."""
PREFETCH_HORIZON = 0.05
"""Seconds of work (at the pool's recent pace) it may claim ahead, beyond ``workers``."""
_PREFETCH_COOLDOWN_MAX: Final = 60.0
ACK_DELAY = 0.005
"""Seconds a finished job's completion may wait to share one write with others'."""
_TIMEOUT_GRAIN: Final = 0.05
"""Job timeouts fire up to this late (or 0.1 % of the timeout, if more): jobs whose
deadlines fall in the same slice share one timer instead of arming one each."""
_REAPED_ERROR: Final = "lease expired: the worker running this job crashed or stalled"


@dataclass(frozen=True, slots=True)
class PoolStats:
    """What this pool has done since it started.

    ``failed`` counts failed attempts (``retried`` + those that went ``dead``);
    ``stale_writes`` counts outcomes the backend refused because the lease had been
    lost; ``released`` counts jobs put back unrun (at shutdown, and claimed-ahead jobs
    given back because they waited too long or the namespace was paused);
    ``buffered`` is how many claimed-ahead jobs are waiting for a free slot.
    """

    processed: int = 0
    failed: int = 0
    retried: int = 0
    dead: int = 0
    stale_writes: int = 0
    released: int = 0
    running: int = 0
    buffered: int = 0


class _Backoff:
    """Exponential backoff with full jitter for reconnect loops."""

    def __init__(self) -> None:
        self._delay = _BACKOFF_START

    def next(self) -> float:
        delay = random.uniform(0, self._delay)
        self._delay = min(self._delay * 2, _BACKOFF_MAX)
        return delay

    def reset(self) -> None:
        self._delay = _BACKOFF_START


class WorkerPool:
    """Process jobs from one namespace with ``workers`` concurrent slots.

    ``WorkerPool(handler=f, url="sqlite:jobs.db", namespace="myapp", workers=4)``
    or ``WorkerPool(handlers={"send_email": f, ...}, backend=backend)``. Settings are
    ``WorkerConfig``'s: pass ``config=`` or its fields as keyword arguments.

    While the queue is deep (its last claim came back full) the pool claims ahead: it
    holds up to ``workers`` jobs beyond its free slots leased, waiting for a slot, and
    more, up to ``WorkerConfig.prefetch`` (default: the larger of ``workers`` and
    ``batch_size``; 0 turns claiming ahead off), when it finishes jobs fast enough to
    start them within ``PREFETCH_HORIZON``. Those jobs are this worker's: the heartbeat renews their
    leases; one not started within ``prefetch_hold`` seconds, and every one once the
    pool learns the namespace is paused (at its next heartbeat, or a claim that came
    back short) or starts to stop, is released to the front of the queue at once,
    without using an attempt. If the worker dies instead, they come back like its
    running jobs, when their leases expire, as a failed attempt.
    """

    def __init__(
        self,
        handler: HandlerFunc | None = None,
        *,
        handlers: Mapping[str, HandlerFunc] | None = None,
        url: str | None = None,
        backend: Backend | None = None,
        config: WorkerConfig | None = None,
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
        prefetch = config.prefetch
        if prefetch is None:
            prefetch = max(config.workers, config.batch_size)
        self.config = config
        self._prefetch = prefetch
        self._prefetch_floor = min(prefetch, config.workers)
        # A buffered job waits at most this long: well inside its lease, which is only
        # renewed every heartbeat_interval.
        self._prefetch_hold = min(config.prefetch_hold, config.lease / 2)
        self._routes, self._fallback = build_routes(handler, handlers)
        self._owns_backend = backend is None
        self._backend = checked(
            backend if backend is not None else backend_from_url(url or "", config.namespace)
        )
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._started_at = 0.0
        self._rng = random.Random()
        # token -> task running the handler (frees a slot when done)
        self._active: dict[str, asyncio.Task[None]] = {}
        # every attempt this pool holds a lease on: buffered, running, or waiting for
        # its ack (the heartbeat renews them all)
        self._held: dict[str, Attempt] = {}
        # claimed ahead, oldest first: (attempt, monotonic time of its claim)
        self._buffer: deque[tuple[Attempt, float]] = deque()
        self._ahead = 0  # how many to claim beyond the free slots next time
        self._finished = 0  # jobs whose slot has freed, ever
        self._rate = 0.0  # jobs finished per second, smoothed over recent claims
        self._rate_mark = (0.0, 0)  # (monotonic time, _finished) at the last claim
        self._paused = False  # the namespace is paused, as last learned
        self._prefetch_after = 0.0  # no claiming ahead before this (monotonic)
        self._prefetch_cooldown = self._prefetch_hold
        self._hold_timer: asyncio.TimerHandle | None = None
        self._hold_expired = False
        self._ack_timer: asyncio.TimerHandle | None = None
        self._acks: list[Attempt] = []
        # deadline (loop time) -> (tasks whose job times out then, the timer)
        self._deadlines: dict[float, tuple[set[asyncio.Task[Any]], asyncio.TimerHandle]] = {}
        self._timed_out: set[asyncio.Task[Any]] = set()
        self._acking: list[Attempt] = []  # the batch being written right now
        self._ack_task: asyncio.Task[None] | None = None
        self._heartbeat_call: asyncio.Task[HeartbeatReply] | None = None
        self._renewed_at = 0.0  # monotonic time of the last heartbeat that renewed leases
        self._ack_wake = asyncio.Event()
        self._slot_free = asyncio.Event()
        self._stop = asyncio.Event()
        self._draining = False
        self._force = False
        self._crashed: BaseException | None = None
        self._main: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._counts = dict.fromkeys(
            ("processed", "failed", "retried", "dead", "stale_writes", "released"), 0
        )

    # -- public surface ------------------------------------------------------------------

    @property
    def backend(self) -> Backend:
        """The backend this pool works on (behind the checked-dispatch layer)."""
        return self._backend

    @property
    def stats(self) -> PoolStats:
        """Counts of what this pool has done so far."""
        return PoolStats(running=len(self._active), buffered=len(self._buffer), **self._counts)

    @property
    def running(self) -> bool:
        """Whether the pool has started and not yet stopped."""
        return self._main is not None and not self._main.done()

    async def start(self) -> None:
        """Open the backend and start working in the background."""
        if self._main is not None:
            raise RuntimeError("this WorkerPool has already been started")
        self._loop = asyncio.get_running_loop()
        await self._open_backend()
        self._started_at = time.time()
        self._executor = ThreadPoolExecutor(
            max_workers=self.config.workers, thread_name_prefix="wg-handler"
        )
        self._main = asyncio.create_task(self._supervise(), name=f"wg-pool-{self.worker_id}")
        logger.info(
            "worker %s started: %s namespace %r, %d workers",
            self.worker_id,
            redact_url(self._backend.display_url),
            self.config.namespace,
            self.config.workers,
        )

    async def _open_backend(self) -> None:
        """Open the backend, waiting out an outage up to ``wait_for_backend``: a worker
        started while its server restarts comes up when the server does."""
        backoff = _Backoff()
        started = time.monotonic()
        while True:
            try:
                await self._backend.open()
                return
            except BackendUnavailableError as exc:
                if time.monotonic() - started >= self.config.wait_for_backend:
                    raise
                delay = max(backoff.next(), 0.5)
                logger.warning("backend unreachable (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)

    async def run(self) -> None:
        """Start, process jobs until SIGINT/SIGTERM or ``shutdown()``, drain, return."""
        await self.start()
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

    # -- supervision ---------------------------------------------------------------------

    async def _supervise(self) -> None:
        background = [
            asyncio.create_task(self._heartbeat_loop(), name="wg-heartbeat"),
            asyncio.create_task(self._ack_loop(), name="wg-ack"),
            asyncio.create_task(
                self._promote_loop(JobState.SCHEDULED, self.config.scheduler_interval),
                name="wg-scheduler",
            ),
            asyncio.create_task(
                self._promote_loop(JobState.RETRY, self.config.retrier_interval),
                name="wg-retrier",
            ),
            asyncio.create_task(self._reap_loop(), name="wg-reaper"),
        ]
        claimer = asyncio.create_task(self._claim_loop(), name="wg-claimer")
        for task in (*background, claimer):
            task.add_done_callback(self._check_crash)
        try:
            await self._stop.wait()
            self._draining = True
            claimer.cancel()
            await asyncio.gather(claimer, return_exceptions=True)
            # Claimed-ahead jobs go back first, so other workers run them while we drain.
            await self._quietly(self._release_buffer())
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
                for task in self._active.values():
                    task.cancel()
                # Unstarted jobs need no lease to come back: give them back now.
                await self._quietly(self._release_buffer())
            else:
                await self._finish_quietly()
            if self._ack_task is not None and not self._ack_task.done():
                # Gave up on a backend that stayed down: those jobs stay leased and
                # come back when their leases expire.
                self._ack_task.cancel()
                await asyncio.gather(self._ack_task, return_exceptions=True)
            for _, timer in self._deadlines.values():
                timer.cancel()
            for handle in (self._hold_timer, self._ack_timer):
                if handle is not None:
                    handle.cancel()
            self._deadlines.clear()
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
            if self._owns_backend:
                await self._quietly(self._backend.close())
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
        if self._active:
            logger.info("draining %d running jobs", len(self._active))
            _, pending = await asyncio.wait(
                list(self._active.values()), timeout=self.config.shutdown_timeout
            )
            if pending:
                logger.warning(
                    "%d jobs still running after the shutdown timeout: released", len(pending)
                )
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
        await self._quietly(self._flush_acks())  # bounded: the backend may be down

    async def _finish_quietly(self) -> None:
        """Last writes on the way out: acknowledge, release leftovers, unregister."""
        await self._quietly(self._flush_acks())
        # Finished jobs whose completion could not be written stay leased (their lease
        # expires and they run again): releasing them would run them again sooner.
        acking = {a.token for a in (*self._acks, *self._acking)}
        leftovers = [
            a
            for token, a in self._held.items()
            if token not in self._active and token not in acking
        ]
        if leftovers:
            released = await self._quietly(self._backend.release(leftovers))
            if isinstance(released, int):
                self._counts["released"] += released
        if self._heartbeat_call is not None:
            with contextlib.suppress(BackendError):
                await self._quietly(self._heartbeat_call)
        await self._quietly(self._backend.unregister_worker(self.worker_id))

    async def _quietly(self, awaitable: Any) -> Any:
        try:
            return await asyncio.wait_for(awaitable, timeout=LAST_WRITES_TIMEOUT)
        except (BackendError, TimeoutError, OSError) as exc:
            logger.warning("while stopping: %s", exc)
            return None

    async def _pause(self, seconds: float) -> None:
        """Sleep, waking early when the pool is asked to stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)

    # -- claiming ------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        backoff = _Backoff()
        failing_since: float | None = None
        while not self._stop.is_set():
            if self._hold_expired:
                await self._give_back_stale()
                continue
            want = self._wanted()
            if want <= 0:
                self._slot_free.clear()
                await self._slot_free.wait()
                continue
            try:
                attempts = await self._backend.claim(
                    limit=want,
                    lease=self.config.lease,
                    worker_id=self.worker_id,
                    # Holding jobs already: don't block (a short answer may mean paused).
                    wait=0.0 if self._buffer else self.config.fetch_timeout,
                )
            except BackendError as exc:
                now = time.monotonic()
                failing_since = failing_since or now
                outage = self.config.max_backend_outage
                if outage is not None and now - failing_since > outage:
                    logger.error("backend unreachable for %.0fs: giving up (%s)", outage, exc)
                    self._crashed = BackendUnavailableError(
                        f"backend unreachable for over {outage:.0f}s: {exc}"
                    )
                    self._stop.set()
                    return
                delay = backoff.next()
                logger.warning("claim failed (%s); retrying in %.2fs", exc, delay)
                await self._pause(delay)
                continue
            failing_since = None
            backoff.reset()
            claimed_at = time.monotonic()
            full = len(attempts) >= want
            if attempts:
                self._paused = False  # the claim checked the flag
                held = self._held
                buffer = self._buffer
                for attempt in attempts:
                    held[attempt.token] = attempt
                    buffer.append((attempt, claimed_at))
                self._fill_slots()
                if buffer and self._hold_timer is None:
                    self._arm_hold_timer()
            # Claim ahead only while the queue is deep: a short claim means it is empty
            # (or paused), and jobs already buffered would just wait.
            self._ahead = self._claim_ahead(claimed_at) if full else 0
            if not full and self._buffer:
                await self._check_paused()

    def _claim_ahead(self, now: float) -> int:
        """How many jobs to hold beyond the free slots, after a full claim: ``workers``,
        or as many as this pool finishes within PREFETCH_HORIZON, up to ``prefetch``."""
        since, finished = self._rate_mark
        self._rate_mark = (now, self._finished)
        if now > since:
            self._rate = (self._rate + (self._finished - finished) / (now - since)) / 2
        if now < self._prefetch_after:
            return 0  # cooling down: buffered jobs waited out their hold recently
        return min(self._prefetch, max(self._prefetch_floor, int(self._rate * PREFETCH_HORIZON)))

    def _wanted(self) -> int:
        """How many jobs to claim now; 0 to wait for slots to free first."""
        buffered = len(self._buffer)
        want = self.config.workers - len(self._active) + self._ahead - buffered
        if buffered and (self._paused or want < self._ahead // 2):
            # The slots are fed from the buffer meanwhile: refill it by half-batches,
            # not a job at a time, to save claim round trips.
            return 0
        return want

    def _arm_hold_timer(self) -> None:
        """Check when the oldest buffered job's hold runs out."""
        assert self._loop is not None
        due = self._buffer[0][1] + self._prefetch_hold
        self._hold_timer = self._loop.call_later(
            max(due - time.monotonic(), 0.0), self._hold_timer_fired
        )

    def _hold_timer_fired(self) -> None:
        self._hold_timer = None
        if not self._buffer:
            return
        if time.monotonic() < self._buffer[0][1] + self._prefetch_hold:
            self._arm_hold_timer()  # that one started; wait for the next oldest
            return
        self._hold_expired = True
        self._slot_free.set()  # the claimer gives them back

    async def _give_back_stale(self) -> None:
        """The oldest buffered job waited its hold out: slots free slower than expected
        (long jobs) or not at all (paused). Other workers may be idle: give them all
        back, and claim ahead again only after a cool-down that grows while this
        repeats."""
        self._hold_expired = False
        self._prefetch_after = time.monotonic() + self._prefetch_cooldown
        self._prefetch_cooldown = min(self._prefetch_cooldown * 2, _PREFETCH_COOLDOWN_MAX)
        self._ahead = 0
        await self._release_buffer()

    async def _check_paused(self, timeout: float | None = None) -> None:
        """Learn whether the namespace is paused; if so, give the buffered jobs back."""
        try:
            async with asyncio.timeout(timeout):
                self._paused = await self._backend.is_paused()
        except (BackendError, TimeoutError) as exc:
            logger.warning("checking the pause flag failed: %r", exc)
            return
        if self._paused:
            self._ahead = 0
            await self._release_buffer()

    async def _release_buffer(self) -> None:
        """Put every buffered (claimed ahead, unstarted) job back at the queue's front."""
        if not self._buffer:
            return
        attempts = [attempt for attempt, _ in self._buffer if attempt.token in self._held]
        self._buffer.clear()
        for attempt in attempts:
            self._held.pop(attempt.token, None)
        if not attempts:
            return
        try:
            released = await self._backend.release(attempts)
        except BackendError as exc:
            # Still leased to us but no longer renewed: they come back when it expires.
            logger.warning("releasing %d claimed-ahead jobs failed: %s", len(attempts), exc)
            return
        self._counts["released"] += released

    def _fill_slots(self) -> None:
        """Start buffered jobs, oldest first, in the free slots."""
        if self._stop.is_set() or self._paused:
            return
        buffer = self._buffer
        active = self._active
        held = self._held
        workers = self.config.workers
        while buffer and len(active) < workers:
            attempt, claimed_at = buffer.popleft()
            if attempt.token not in held:
                continue  # its lease was lost (the heartbeat said so)
            # Started straight from here (not via call_soon): no hop between a claim
            # returning, or a slot freeing, and the job's task being scheduled.
            active[attempt.token] = asyncio.create_task(
                self._job(attempt, claimed_at), name=f"wg-job-{attempt.key}"
            )

    async def _job(self, attempt: Attempt, claimed_at: float) -> None:
        try:
            await self._run_job(attempt, claimed_at)
        finally:
            # The slot is free: hand it the next buffered job now, and wake the claimer.
            self._active.pop(attempt.token, None)
            self._finished += 1
            if self._buffer:
                self._fill_slots()
                if not self._buffer:
                    # Claimed-ahead jobs are being used up: claiming ahead pays.
                    self._prefetch_cooldown = self._prefetch_hold
            if self._wanted() > 0:
                self._slot_free.set()

    # -- running one job -----------------------------------------------------------------

    async def _run_job(self, attempt: Attempt, claimed_at: float) -> None:
        # A process frozen (SIGSTOP, a VM pause) between claiming and starting must not
        # start a job whose lease ran out meanwhile: another worker may own it now.
        renewed_at = max(claimed_at, self._renewed_at)
        if time.monotonic() - renewed_at > self.config.lease:
            logger.warning("lease of job %s ran out before it started: skipped", attempt.key)
            self._held.pop(attempt.token, None)
            return
        oversized = self._oversized(attempt.raw)
        if oversized:
            dead = malformed_dead_envelope(attempt.raw, oversized, now=time.time())
            await self._record(attempt, "bury", raw=dead.encode(), error=dead.last_error)
            return
        try:
            envelope = Envelope.decode(attempt.raw)
        except EnvelopeError as exc:
            dead = malformed_dead_envelope(
                attempt.raw, f"undecodable envelope: {exc}", now=time.time()
            )
            await self._record(attempt, "bury", raw=dead.encode(), error=dead.last_error)
            return
        handler = self._routes.get(envelope.job_name, self._fallback)
        if handler is None:
            reason = f"unknown job name {envelope.job_name!r}: no handler in this pool"
            await self._bury(attempt, envelope, Failure(message=reason, fatal=True))
            return
        try:
            job = handler.decode(envelope.payload)
        except PayloadDecodeError as exc:
            await self._bury(attempt, envelope, Failure(message=str(exc), fatal=True))
            return
        context = JobContext(
            job_id=envelope.id,
            job_name=envelope.job_name,
            attempt=envelope.retry_count + 1,
            max_retries=envelope.max_retries,
            created_at=envelope.created_at,
            worker_id=self.worker_id,
        )
        try:
            await self._call(handler, job, context, envelope.timeout)
        except asyncio.CancelledError:
            # Shutdown after the drain timeout, or the lease was lost: the job is not
            # ours to finish. _finish_quietly releases it if we still hold it.
            raise
        except Exception as exc:
            await self._fail(attempt, envelope, failure_from_exception(exc))
            return
        self._ack(attempt)

    def _ack(self, attempt: Attempt) -> None:
        """Queue a completion. While other jobs are running, completions are gathered
        for up to ACK_DELAY (or a batch_size of them) into one write."""
        acks = self._acks
        acks.append(attempt)
        if len(acks) >= self.config.batch_size or (len(self._active) <= 1 and not self._buffer):
            self._ack_wake.set()  # a full batch, or the pool is going idle: write now
        elif self._ack_timer is None:
            assert self._loop is not None
            self._ack_timer = self._loop.call_later(ACK_DELAY, self._ack_wake.set)

    def _oversized(self, raw: str) -> str | None:
        """Why ``raw`` is too big to decode, or ``None``. (Characters are at most four
        bytes, so the exact byte count is only computed near the cap.)"""
        cap = self.config.max_payload_bytes
        if len(raw) <= cap // 4:
            return None
        size = len(raw.encode(errors="surrogateescape"))
        if size <= cap:
            return None
        return f"envelope is {size} bytes, over the {cap}-byte cap: not decoded"

    async def _call(
        self, handler: Handler, job: Any, context: JobContext, timeout: float | None
    ) -> None:
        """Run the handler in this task, cancelling it into a ``TimeoutError`` once
        ``timeout`` has passed (like ``asyncio.timeout``, without a timer per job)."""
        assert self._executor is not None
        assert self._loop is not None
        if timeout is None:
            await handler.call(job, context, self._executor)
            return
        task = asyncio.current_task()
        assert task is not None
        loop = self._loop
        grain = max(_TIMEOUT_GRAIN, timeout / 1000)
        deadline = math.ceil((loop.time() + timeout) / grain) * grain
        entry = self._deadlines.get(deadline)
        if entry is None:
            entry = self._deadlines[deadline] = (
                set(),
                loop.call_at(deadline, self._expire, deadline),
            )
        tasks = entry[0]
        tasks.add(task)
        cancelling = task.cancelling()
        try:
            await handler.call(job, context, self._executor)
        except asyncio.CancelledError:
            # Ours (and nobody else's, e.g. a shutdown's): the job timed out.
            if task in self._timed_out and task.uncancel() <= cancelling:
                raise TimeoutError from None
            raise
        finally:
            tasks.discard(task)
            self._timed_out.discard(task)

    def _expire(self, deadline: float) -> None:
        entry = self._deadlines.pop(deadline, None)
        if entry is None:
            return
        for task in entry[0]:
            self._timed_out.add(task)
            task.cancel()

    async def _fail(self, attempt: Attempt, envelope: Envelope, failure: Failure) -> None:
        if failure.fatal or is_exhausted(envelope):
            await self._bury(attempt, envelope, failure)
            return
        delay = backoff_delay(
            envelope,
            default_delay=self.config.default_options.retry_delay or 10.0,
            max_delay=self.config.max_retry_delay,
            jitter=self.config.retry_jitter,
            rng=self._rng,
        )
        failed = failed_envelope(envelope, failure, dead=False)
        if await self._record(
            attempt, "retry", raw=failed.encode(), delay=delay, error=failed.last_error
        ):
            self._counts["retried"] += 1
            logger.info(
                "job %s (%s) failed, retry in %.1fs: %s",
                envelope.id,
                envelope.job_name,
                delay,
                failure.message,
            )

    async def _bury(self, attempt: Attempt, envelope: Envelope, failure: Failure) -> None:
        failed = failed_envelope(envelope, failure, dead=True)
        if await self._record(attempt, "bury", raw=failed.encode(), error=failed.last_error):
            logger.warning(
                "job %s (%s) is dead: %s", envelope.id, envelope.job_name, failure.message
            )

    async def _record(self, attempt: Attempt, verb: str, **kwargs: Any) -> bool:
        """Retry or bury, retrying the write through backend outages while we hold it."""
        backoff = _Backoff()
        while True:
            try:
                if verb == "retry":
                    ok = await self._backend.retry(attempt, **kwargs)
                else:
                    ok = await self._backend.bury(attempt, **kwargs)
                break
            except BackendError as exc:
                if attempt.token not in self._held:
                    return False
                delay = backoff.next()
                logger.warning("%s failed (%s); retrying in %.2fs", verb, exc, delay)
                await asyncio.sleep(delay)
        self._held.pop(attempt.token, None)
        if not ok:
            self._counts["stale_writes"] += 1
            logger.warning("lease lost before %s of %s: another worker owns it", verb, attempt.key)
            return False
        self._counts["failed"] += 1
        if verb == "bury":
            self._counts["dead"] += 1
        return True

    # -- acknowledging -------------------------------------------------------------------

    async def _ack_loop(self) -> None:
        while True:
            await self._ack_wake.wait()
            self._ack_wake.clear()
            if self._ack_timer is not None:
                self._ack_timer.cancel()
                self._ack_timer = None
            await self._flush_acks()

    async def _flush_acks(self) -> None:
        """Complete every finished attempt; waits for a batch already on its way.

        The write runs in its own task, shielded: cancelling whoever waits for it (the
        shutdown) must not leave a completion half-sent, or the job would be released
        and run again, and the pool's counts would miss it.
        """
        while self._acks or (self._ack_task is not None and not self._ack_task.done()):
            if self._ack_task is None or self._ack_task.done():
                self._ack_task = asyncio.create_task(self._complete_acks(), name="wg-ack-write")
            await asyncio.shield(self._ack_task)

    async def _complete_acks(self) -> None:
        backoff = _Backoff()
        while self._acks:
            batch, self._acks = self._acks, []
            self._acking = batch
            try:
                done = await self._backend.complete(batch)
            except BackendError as exc:
                # Still held (the heartbeat keeps renewing them): try again.
                self._acks[:0] = batch
                delay = backoff.next()
                logger.warning("acknowledging failed (%s); retrying in %.2fs", exc, delay)
                await asyncio.sleep(delay)
                continue
            finally:
                self._acking = []
            for attempt in batch:
                self._held.pop(attempt.token, None)
            self._counts["processed"] += done
            if done < len(batch):
                self._counts["stale_writes"] += len(batch) - done
                logger.warning("%d completions refused: their leases were lost", len(batch) - done)

    # -- heartbeat -----------------------------------------------------------------------

    def _worker_info(self) -> WorkerInfo:
        return WorkerInfo(
            worker_id=self.worker_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            concurrency=self.config.workers,
            running=len(self._active),
            started_at=self._started_at,
            last_seen=time.time(),
            state="draining" if self._draining else "running",
            job_names=tuple(sorted(self._routes)),
        )

    async def _heartbeat_loop(self) -> None:
        while True:
            # The write runs in its own task so that stopping the loop never leaves it
            # half-sent: unregistering waits for it, or it could re-register us after.
            self._heartbeat_call = asyncio.create_task(
                self._backend.heartbeat(
                    self._worker_info(), attempts=list(self._held.values()), lease=self.config.lease
                ),
                name="wg-heartbeat-write",
            )
            sent_at = time.monotonic()
            try:
                reply = await asyncio.shield(self._heartbeat_call)
            except BackendError as exc:
                logger.warning("heartbeat failed: %s", exc)
            else:
                self._renewed_at = sent_at
                for token in reply.lost:
                    self._held.pop(token, None)
                    task = self._active.get(token)
                    if task is not None:
                        logger.warning("lease lost for a running job: cancelling it")
                        task.cancel()
                if reply.stop_requested and not self._stop.is_set():
                    logger.info("stop requested by an operator: draining")
                    self._stop.set()
                if self._buffer and not self._stop.is_set():
                    # A claim checks the pause flag, buffered jobs don't: check it for
                    # them, so a pause stops them within a heartbeat at most. Bounded:
                    # the next heartbeat must not wait long for it.
                    await self._check_paused(timeout=self.config.heartbeat_interval / 2)
            await asyncio.sleep(self.config.heartbeat_interval)

    # -- scheduler, retrier, reaper ------------------------------------------------------

    async def _promote_loop(self, state: JobState, interval: float) -> None:
        while True:
            try:
                while await self._backend.promote(state, limit=self.config.batch_size) >= (
                    self.config.batch_size
                ):
                    pass  # a full batch: more may be due right now
            except BackendError as exc:
                logger.warning("promoting %s jobs failed: %s", state, exc)
            await asyncio.sleep(interval)

    async def _reap_loop(self) -> None:
        while True:
            try:
                expired = await self._backend.reclaim_expired(
                    limit=self.config.batch_size, lease=self.config.lease, worker_id=self.worker_id
                )
            except BackendError as exc:
                logger.warning("reaping expired leases failed: %s", exc)
                expired = []
            for attempt in expired:
                self._held[attempt.token] = attempt
                try:
                    envelope = Envelope.decode(attempt.raw)
                except EnvelopeError as exc:
                    dead = malformed_dead_envelope(
                        attempt.raw, f"undecodable envelope: {exc}", now=time.time()
                    )
                    await self._record(attempt, "bury", raw=dead.encode(), error=dead.last_error)
                    continue
                logger.warning("job %s: %s", envelope.id, _REAPED_ERROR)
                await self._fail(attempt, envelope, Failure(message=_REAPED_ERROR))
            if len(expired) < self.config.batch_size:
                await asyncio.sleep(self.config.reaper_interval)
