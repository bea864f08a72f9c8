"""Claiming: lease jobs for the free slots (and, while the queue is deep, ahead of them)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Final

from wg_core.backend import Attempt
from wg_core.errors import BackendError, BackendUnavailableError
from wg_core.worker.backoff import Backoff
from wg_core.worker.prefetch import PrefetchPolicy
from wg_core.worker.shared import Shared

__all__ = ["WAITING_FOR_WORK", "Claimer"]

logger = logging.getLogger("wg.pool")

WAITING_FOR_WORK: Final = 0.02
"""Seconds a claim has waited for work (longer than one that finds jobs takes, even on
a loaded machine) after which finished jobs' completions are written at once."""


class Claimer:
    """Leases up to the number of free slots at a time, waiting on the backend's
    wake-up signal when the queue is empty, and keeps claimed-ahead jobs in a local
    buffer (oldest first) that feeds slots as they free.

    ``start_job(attempt, claimed_at)`` starts a job in a free slot; ``give_up(exc)``
    stops the pool (the backend stayed unreachable past ``max_backend_outage``).
    """

    __slots__ = (
        "_give_up",
        "_hold_expired",
        "_hold_timer",
        "_paused_queues",
        "_shared",
        "_slot_free",
        "_start_job",
        "_stop",
        "_waiting_since",
        "buffer",
        "paused",
        "prefetch",
    )

    def __init__(
        self,
        shared: Shared,
        *,
        stop: asyncio.Event,
        start_job: Callable[[Attempt, float], None],
        give_up: Callable[[BaseException], None],
    ) -> None:
        self._shared = shared
        self._stop = stop
        self._start_job = start_job
        self._give_up = give_up
        self.prefetch = PrefetchPolicy(shared.config)
        # claimed ahead, oldest first: (attempt, monotonic time of its claim)
        self.buffer: deque[tuple[Attempt, float]] = deque()
        self.paused = False  # the namespace is paused, as last learned
        self._paused_queues: frozenset[str] = frozenset()  # of ours, as last learned
        self._hold_timer: asyncio.TimerHandle | None = None
        self._hold_expired = False
        self._slot_free = asyncio.Event()
        # When the claim in flight began, if it may block (wait > 0); else None.
        self._waiting_since: float | None = None

    # -- the claim loop ------------------------------------------------------------------

    async def run(self) -> None:
        """Claim until the pool stops (a background task of the pool)."""
        shared = self._shared
        config = shared.config
        backoff = Backoff()
        failing_since: float | None = None
        while not self._stop.is_set():
            if self._hold_expired:
                await self._give_back_stale()
                continue
            want = self.wanted()
            if want <= 0:
                self._slot_free.clear()
                await self._slot_free.wait()
                continue
            wait = 0.0 if self.buffer else config.fetch_timeout
            self._waiting_since = time.monotonic() if wait > 0 else None
            try:
                attempts = await shared.backend.claim(
                    limit=want,
                    lease=config.lease,
                    worker_id=shared.worker_id,
                    # Holding jobs already: don't block (a short answer may mean paused).
                    wait=wait,
                    queues=config.queues,
                )
            except BackendError as exc:
                self._waiting_since = None
                now = time.monotonic()
                failing_since = failing_since or now
                outage = config.max_backend_outage
                if outage is not None and now - failing_since > outage:
                    logger.error("backend unreachable for %.0fs: giving up (%s)", outage, exc)
                    self._give_up(
                        BackendUnavailableError(
                            f"backend unreachable for over {outage:.0f}s: {exc}"
                        )
                    )
                    return
                delay = backoff.next()
                logger.warning("claim failed (%s); retrying in %.2fs", exc, delay)
                await self._pause(delay)
                continue
            self._waiting_since = None
            if failing_since is not None:  # back after an outage: so may the others be
                shared.recovery.answered()
            failing_since = None
            backoff.reset()
            claimed_at = time.monotonic()
            full = len(attempts) >= want
            if attempts:
                self.paused = False  # the claim checked the flag
                shared.ledger.hold_all(attempts)
                buffer = self.buffer
                for attempt in attempts:
                    buffer.append((attempt, claimed_at))
                self.fill_slots()
                if buffer and self._hold_timer is None:
                    self._arm_hold_timer()
            self.prefetch.claimed(claimed_at, full=full)
            if not full and self.buffer:
                await self.check_paused()

    async def _pause(self, seconds: float) -> None:
        """Sleep, waking early when the pool is asked to stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)

    def going_idle(self, active: int) -> bool:
        """Whether a finished job's completion should be written at once, not gathered
        with others' (``active``: jobs running, that one included): no other job will
        finish soon, or the claim loop has waited for work for over
        ``WAITING_FOR_WORK`` (nothing it may claim is ready, an empty queue or a limited
        one at its limit: no backlog makes a batch worth waiting for, and the slot this
        job frees may be what a claimer of a limited queue, here or in another process,
        waits for)."""
        if active <= 1 and not self.buffer:
            return True
        since = self._waiting_since
        return since is not None and time.monotonic() - since > WAITING_FOR_WORK

    def wanted(self) -> int:
        """How many jobs to claim now; 0 to wait for slots to free first."""
        shared = self._shared
        buffered = len(self.buffer)
        ahead = self.prefetch.ahead
        want = shared.config.workers - len(shared.ledger.active) + ahead - buffered
        if buffered and (self.paused or want < ahead // 2):
            # The slots are fed from the buffer meanwhile: refill it by half-batches,
            # not a job at a time, to save claim round trips.
            return 0
        return want

    # -- slots ---------------------------------------------------------------------------

    def fill_slots(self) -> None:
        """Start buffered jobs, oldest first, in the free slots."""
        if self._stop.is_set() or self.paused:
            return
        shared = self._shared
        buffer = self.buffer
        active = shared.ledger.active
        holds = shared.ledger.holds
        workers = shared.config.workers
        start_job = self._start_job
        while buffer and len(active) < workers:
            attempt, claimed_at = buffer.popleft()
            if not holds(attempt.token):
                continue  # its lease was lost (the heartbeat said so)
            # Started straight from here (not via call_soon): no hop between a claim
            # returning, or a slot freeing, and the job's task being scheduled.
            start_job(attempt, claimed_at)

    def slot_freed(self) -> None:
        """A job ended: hand its slot the next buffered job now, and wake the claim loop."""
        self.prefetch.job_finished()
        if self.buffer:
            self.fill_slots()
            if not self.buffer:
                self.prefetch.buffer_used_up()
        if self.wanted() > 0:
            self._slot_free.set()

    # -- the buffer ----------------------------------------------------------------------

    def _arm_hold_timer(self) -> None:
        """Check when the oldest buffered job's hold runs out."""
        due = self.buffer[0][1] + self.prefetch.hold
        self._hold_timer = asyncio.get_running_loop().call_later(
            max(due - time.monotonic(), 0.0), self._hold_timer_fired
        )

    def _hold_timer_fired(self) -> None:
        self._hold_timer = None
        if not self.buffer:
            return
        if time.monotonic() < self.buffer[0][1] + self.prefetch.hold:
            self._arm_hold_timer()  # that one started; wait for the next oldest
            return
        self._hold_expired = True
        self._slot_free.set()  # the claim loop gives them back

    async def _give_back_stale(self) -> None:
        """The oldest buffered job waited its hold out: slots free slower than expected
        (long jobs) or not at all (paused). Other workers may be idle: give them all
        back, and claim ahead again only after a cool-down that grows while this
        repeats."""
        self._hold_expired = False
        self.prefetch.cool_down(time.monotonic())
        await self.release_buffer()

    async def check_paused(self, timeout: float | None = None) -> None:
        """Learn whether the namespace, or a queue this pool serves, is paused; if so
        (a queue: newly), give the buffered jobs back. All of them for a queue: an
        attempt does not say its queue, and the next claim skips the paused one."""
        backend = self._shared.backend
        try:
            async with asyncio.timeout(timeout):
                self.paused = await backend.is_paused()
                # While the namespace is paused every buffered job goes back anyway.
                paused_queues = (
                    self._paused_queues
                    if self.paused
                    else frozenset(
                        [q for q in self._shared.config.queues if await backend.is_paused(queue=q)]
                    )
                )
        except (BackendError, TimeoutError) as exc:
            logger.warning("checking the pause flag failed: %r", exc)
            return
        newly_paused = paused_queues - self._paused_queues
        self._paused_queues = paused_queues
        if self.paused or newly_paused:
            self.prefetch.ahead = 0
            await self.release_buffer()

    async def watch_pause(self) -> None:
        """A claim checks the pause flags, buffered jobs don't: check them for them every
        heartbeat interval, so a pause stops them within one at most (a background
        task of the pool). Bounded, so a slow answer cannot pile checks up."""
        interval = self._shared.config.heartbeat_interval
        while True:
            await asyncio.sleep(interval)
            if self.buffer and not self._stop.is_set():
                await self.check_paused(timeout=interval / 2)

    def take(self, token: str) -> Attempt | None:
        """Remove the buffered (claimed ahead, unstarted) attempt with that token and
        return it, still held; ``None`` if it is not buffered."""
        for entry in self.buffer:
            if entry[0].token == token:
                self.buffer.remove(entry)
                return entry[0]
        return None

    async def release_buffer(self) -> None:
        """Put every buffered (claimed ahead, unstarted) job back at the queue's front."""
        if not self.buffer:
            return
        shared = self._shared
        holds = shared.ledger.holds
        attempts = [attempt for attempt, _ in self.buffer if holds(attempt.token)]
        self.buffer.clear()
        shared.ledger.drop_all(attempts)
        if not attempts:
            return
        try:
            released = await shared.backend.release(attempts)
        except BackendError as exc:
            # Still leased to us but no longer renewed: they come back when it expires.
            logger.warning("releasing %d claimed-ahead jobs failed: %s", len(attempts), exc)
            return
        shared.ledger.counts["released"] += released

    def close(self) -> None:
        """Cancel the hold timer (the pool is stopping)."""
        if self._hold_timer is not None:
            self._hold_timer.cancel()
            self._hold_timer = None
