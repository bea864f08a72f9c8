"""The lease keeper: renews the leases of every held attempt and keeps the worker
registered, from a thread of its own; an attempt whose lease was lost is cancelled
(someone else owns it). It also notices when the pool's event loop stalls.

Why a thread: an async handler that calls blocking code (``time.sleep``, a sync
driver, a long computation) holds the event loop, and a heartbeat on that loop would
stop with it — the other jobs' leases would lapse and they would run twice, and the
worker would look dead to the others' reapers. The keeper runs its own event loop on
its own thread with its own connection (``Backend.clone()``), fed a snapshot of the
held attempts (``Ledger.held``, under a lock); what it learns (lost leases, an
operator's stop request, cancel requests) is handed to the pool's loop with
``call_soon_threadsafe``. A backend that cannot be cloned gets the keeper as a task on
the pool's loop instead.

Cancel requests: between beats, while the pool holds jobs, the keeper waits on the
backend's cancel signal (``Backend.wait_cancel_request``) and beats at once when it
comes, so a cancelled running job learns of it within moments, not at the next
scheduled beat; the reply names the held attempts whose cancel was requested.

Loop stalls: the pool's loop stamps ``tick`` every ``loop_stall_after / 4`` seconds;
the keeper checks the stamp every ``loop_stall_after / 2`` and, when it is older than
``loop_stall_after``, logs a WARNING naming the job whose task holds the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Final, Protocol

from wg_core.backend import Backend, HeartbeatReply, WorkerInfo
from wg_core.errors import BackendError
from wg_core.worker.shared import Shared

__all__ = ["LeaseKeeper", "LoopJobs"]

logger = logging.getLogger("wg.pool")

_STOP_TIMEOUT: Final = 10.0
"""Seconds the keeper's last heartbeat may take at shutdown before it is cancelled."""

CANCEL_BEAT_GAP: Final = 0.2
"""Seconds between two beats a cancel signal brings forward, at least: in a namespace
where jobs are cancelled all the time, the signals must not turn into a beat loop."""


def _inner(backend: Backend) -> object:
    """The backend behind the checked-dispatch layer (a clone of in-process data may be
    the very same object: then it is not the keeper's to close)."""
    return getattr(backend, "inner", backend)


class LoopJobs(Protocol):
    """Names the jobs whose handlers run on the pool's loop (the ``JobRunner``), for
    the stall warning. Both are called from the keeper's thread."""

    def on_loop(self, task: asyncio.Task[Any] | None) -> str | None:
        """The job ``task`` runs, if it runs an async handler."""

    def async_jobs(self) -> list[str]:
        """Every job running an async handler now."""


class LeaseKeeper:
    """Heartbeats every ``heartbeat_interval``: renews the held attempts' leases,
    refreshes the registry entry ``worker_info()`` describes (called on the keeper's
    thread: it reads plain values only), and acts on the reply on the pool's loop
    (lost leases cancel their jobs; an operator's stop request calls
    ``request_stop``; each held attempt whose job's cancel was requested is passed to
    ``cancel_requested``, at every beat until it is finished). ``renewed_at``:
    monotonic time of the last heartbeat that
    renewed leases, as the pool's loop has learned it. ``jobs`` names the job that
    holds a stalled loop, for the warning."""

    __slots__ = (
        "_cancel_requested",
        "_done",
        "_jobs",
        "_loop",
        "_nudge",
        "_request_stop",
        "_shared",
        "_stalled",
        "_stopping",
        "_task",
        "_thread",
        "_thread_loop",
        "_ticker",
        "_wake",
        "_worker_info",
        "renewed_at",
        "tick",
    )

    def __init__(
        self,
        shared: Shared,
        *,
        worker_info: Callable[[], WorkerInfo],
        request_stop: Callable[[], None],
        cancel_requested: Callable[[str], None],
        jobs: LoopJobs,
    ) -> None:
        self._shared = shared
        self._worker_info = worker_info
        self._request_stop = request_stop
        self._cancel_requested = cancel_requested
        self._jobs = jobs
        self._loop: asyncio.AbstractEventLoop | None = None  # the pool's
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None  # the keeper's
        self._wake: asyncio.Event | None = None  # on the keeper's loop: stop
        self._nudge: asyncio.Event | None = None  # on the keeper's loop: jobs are held
        self._stopping = threading.Event()
        self._done: asyncio.Future[None] | None = None  # on the pool's loop
        self._task: asyncio.Task[None] | None = None  # the keeper's, on its own loop
        self._ticker: asyncio.TimerHandle | None = None
        self._stalled = False
        self.renewed_at = 0.0
        self.tick = 0.0

    # -- the pool's side -----------------------------------------------------------------

    def start(self) -> None:
        """Start heartbeating (the first beat registers the worker at once)."""
        loop = self._loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        backend = self._shared.backend
        try:
            clone = backend.clone()
        except (AttributeError, NotImplementedError) as exc:
            logger.warning(
                "%r cannot be cloned (%s): leases are renewed on the event loop, so an "
                "async handler that blocks it stops their renewal",
                backend,
                exc,
            )
            task = loop.create_task(self._beats(backend), name="wg-heartbeat")
            task.add_done_callback(lambda _: self._finished())
            return
        # The first tick before the thread: its first stall check must not compare
        # against a tick of 0.0 (it would report the machine's uptime as a stall).
        self._tick()
        self._thread = threading.Thread(
            target=self._thread_main, args=(clone,), name="wg-lease-keeper", daemon=True
        )
        self._thread.start()

    async def stop(self) -> None:
        """Stop heartbeating, after the beat under way (bounded), and close the
        keeper's connection and thread. Idempotent. Unregister after this, or a last
        heartbeat could register the worker again."""
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        if self._done is None:
            return
        self._stopping.set()
        self._call_keeper(self._wake_up)
        try:
            await asyncio.wait_for(asyncio.shield(self._done), _STOP_TIMEOUT)
        except TimeoutError:
            logger.warning("the last heartbeat did not finish in %.0fs: abandoned", _STOP_TIMEOUT)
            self._call_keeper(self._cancel)
            await asyncio.wait({self._done}, timeout=1.0)
        if self._thread is not None:
            self._thread.join(timeout=1.0)

    def holding_started(self) -> None:
        """The pool, which held nothing, holds a job now: start listening for cancel
        requests at once (the ledger calls this; thread-safe)."""
        self._call_keeper(self._nudge_keeper)

    def _nudge_keeper(self) -> None:
        if self._nudge is not None:
            self._nudge.set()

    def _tick(self) -> None:
        assert self._loop is not None
        self.tick = time.monotonic()
        self._ticker = self._loop.call_later(self._shared.config.loop_stall_after / 4, self._tick)

    def _on_reply(self, reply: HeartbeatReply, sent_at: float) -> None:
        self.renewed_at = max(self.renewed_at, sent_at)
        ledger = self._shared.ledger
        for token in reply.lost:
            if token in ledger.recording:
                continue  # its outcome's write is in flight and will tell (see Outcomes)
            ledger.drop(token)
            task = ledger.active.get(token)
            if task is not None:
                logger.warning("lease lost for a running job: cancelling it")
                task.cancel()
        for token in reply.cancelled - reply.lost:
            self._cancel_requested(token)
        if reply.stop_requested:
            self._request_stop()

    def _finished(self) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    def _post(self, callback: Callable[..., None], *args: Any) -> None:
        """Run ``callback(*args)`` on the pool's loop."""
        assert self._loop is not None
        if self._thread is None:
            callback(*args)
            return
        with contextlib.suppress(RuntimeError):  # the pool's loop is closed: nobody to tell
            self._loop.call_soon_threadsafe(callback, *args)

    def _call_keeper(self, callback: Callable[[], None]) -> None:
        """Run ``callback()`` on the keeper's loop (if it is running yet: if not, it
        sees ``_stopping`` before its first wait)."""
        loop = self._thread_loop
        if self._thread is None:
            callback()
        elif loop is not None:
            with contextlib.suppress(RuntimeError):  # the keeper's loop has finished
                loop.call_soon_threadsafe(callback)

    def _wake_up(self) -> None:
        if self._wake is not None:
            self._wake.set()
        self._nudge_keeper()

    # -- the keeper's side ---------------------------------------------------------------

    def _thread_main(self, backend: Backend) -> None:
        try:
            asyncio.run(self._beats(backend, own_loop=True))
        except BaseException:  # a bug: say so, and let the pool's leases expire loudly
            logger.exception("the lease keeper crashed")
        finally:
            self._post(self._finished)

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _beats(self, backend: Backend, *, own_loop: bool = False) -> None:
        """Heartbeat until stopped."""
        wake = self._wake = asyncio.Event()
        self._nudge = asyncio.Event()
        self._task = asyncio.current_task()
        if own_loop:
            self._thread_loop = asyncio.get_running_loop()
        config = self._shared.config
        check = config.loop_stall_after / 2 if own_loop else config.heartbeat_interval
        try:
            if own_loop:
                await self._open(backend, wake)
            next_beat = beat_at = 0.0
            while not self._stopping.is_set():
                if time.monotonic() >= next_beat:
                    beat_at = time.monotonic()
                    next_beat = beat_at + config.heartbeat_interval
                    await self._beat(backend)
                if own_loop:
                    self._check_stall()
                timeout = max(min(next_beat - time.monotonic(), check), 0.0)
                if await self._idle(backend, wake, timeout):
                    # Beat now, to learn whose cancel it was; but not sooner than
                    # CANCEL_BEAT_GAP after the last beat.
                    gap = beat_at + CANCEL_BEAT_GAP - time.monotonic()
                    if gap > 0:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(wake.wait(), gap)
                    next_beat = 0.0
        finally:
            if own_loop and _inner(backend) is not _inner(self._shared.backend):
                await backend.close()

    async def _idle(self, backend: Backend, wake: asyncio.Event, timeout: float) -> bool:
        """Wait ``timeout`` seconds, or until woken (stopping); while the pool holds
        jobs, also on the backend's cancel signal: True if one came."""
        if timeout <= 0:
            return False
        deadline = time.monotonic() + timeout
        nudge = self._nudge
        assert nudge is not None
        nudge.clear()  # before looking: a job held from now on nudges us
        if not self._shared.ledger.holding:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(nudge.wait(), timeout)
            if wake.is_set() or not self._shared.ledger.holding:
                return False
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                return False
        listen = asyncio.ensure_future(backend.wait_cancel_request(timeout=timeout))
        woken = asyncio.ensure_future(wake.wait())
        try:
            await asyncio.wait(
                (listen, woken), timeout=timeout + 1.0, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in (listen, woken):
                waiter.cancel()
            await asyncio.gather(listen, woken, return_exceptions=True)
        if listen.done() and not listen.cancelled():
            error = listen.exception()
            if error is None and listen.result():
                return True
            if isinstance(error, BackendError):
                logger.debug("waiting for cancel requests failed: %s", error)
            elif error is not None:  # a bug: say so; the beats go on regardless
                logger.warning("waiting for cancel requests failed", exc_info=error)
        # Out of signals before the time (none, or one that returned early): wait the
        # rest out, so that an early answer cannot turn this loop into a spin.
        left = deadline - time.monotonic()
        if left > 0 and not wake.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), left)
        return False

    async def _open(self, backend: Backend, wake: asyncio.Event) -> None:
        while not self._stopping.is_set():
            try:
                await backend.open(create=False)
                return
            except BackendError as exc:
                logger.warning("the lease keeper cannot connect: %s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self._shared.config.heartbeat_interval)

    async def _beat(self, backend: Backend) -> None:
        sent_at = time.monotonic()
        shared = self._shared
        try:
            reply = await backend.heartbeat(
                self._worker_info(), attempts=shared.ledger.held(), lease=shared.config.lease
            )
        except BackendError as exc:
            logger.warning("heartbeat failed: %s", exc)
            return
        except Exception:  # a bug: say so, and keep beating (the leases depend on it)
            logger.exception("heartbeat failed")
            return
        self._post(self._on_reply, reply, sent_at)

    def _check_stall(self) -> None:
        """On the keeper's thread: has the pool's loop stopped turning?"""
        lag = time.monotonic() - self.tick
        if lag <= self._shared.config.loop_stall_after:
            self._stalled = False
            return
        if self._stalled:
            return  # reported already
        self._stalled = True
        loop = self._loop
        try:
            holder = self._jobs.on_loop(asyncio.current_task(loop)) if loop is not None else None
        except RuntimeError:
            holder = None
        if holder is not None:
            culprit = f"by {holder}"
        else:
            jobs = self._jobs.async_jobs()
            culprit = f"while running {', '.join(jobs)}" if jobs else "outside any job"
        logger.warning(
            "the event loop has been blocked for %.1fs %s: an async handler must not call "
            "blocking code (make it a sync handler, which runs in a thread, or use "
            "asyncio.to_thread); its timeout cannot interrupt it meanwhile, and leases "
            "are still renewed",
            lag,
            culprit,
        )
