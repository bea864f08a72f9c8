"""Acknowledgements: finished attempts completed in batches, one write for many.

An attempt is queued bare when its job keeps nothing (``keep_finished`` 0: the job is
deleted, as before results existed) or as a ``Completion`` with its encoded result and
how long to keep it; one ``complete`` call takes a mix of both."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final

from wg_core.backend import Attempt, Completion
from wg_core.errors import BackendError
from wg_core.worker.backoff import Backoff
from wg_core.worker.shared import Shared

__all__ = ["ACK_DELAY", "Acknowledger"]

logger = logging.getLogger("wg.pool")

ACK_DELAY: Final = 0.005
"""Seconds a finished job's completion may wait to share one write with others'."""


class Acknowledger:
    """Gathers completions for up to ``ACK_DELAY`` (or ``batch_size`` of them) while
    other jobs are running, and writes each gathering with one ``complete`` call."""

    __slots__ = (
        "_acking",
        "_batch_size",
        "_going_idle",
        "_pending",
        "_shared",
        "_timer",
        "_wake",
        "_write",
    )

    def __init__(self, shared: Shared, *, going_idle: Callable[[], bool]) -> None:
        self._shared = shared
        self._batch_size = shared.config.batch_size  # read per job: one hop, not two
        self._going_idle = going_idle  # no other job will finish soon: don't wait
        self._pending: list[Attempt | Completion] = []
        self._acking: list[Attempt | Completion] = []  # the batch being written now
        self._timer: asyncio.TimerHandle | None = None
        self._wake = asyncio.Event()
        self._write: asyncio.Task[None] | None = None

    def ack(self, done: Attempt | Completion) -> None:
        """Queue a completion (a bare attempt: the job is deleted; a ``Completion``:
        kept with its result)."""
        pending = self._pending
        pending.append(done)
        if len(pending) >= self._batch_size or self._going_idle():
            self._wake.set()  # a full batch, or the pool is going idle: write now
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(ACK_DELAY, self._wake.set)

    def unwritten(self) -> set[str]:
        """Tokens of finished attempts whose completion is not written yet."""
        return {_attempt(item).token for item in (*self._pending, *self._acking)}

    async def run(self) -> None:
        """Write completions as they are queued (a background task of the pool)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            await self.flush()

    async def flush(self) -> None:
        """Complete every finished attempt; waits for a batch already on its way.

        The write runs in its own task, shielded: cancelling whoever waits for it (the
        shutdown) must not leave a completion half-sent, or the job would be released
        and run again, and the pool's counts would miss it.
        """
        while self._pending or (self._write is not None and not self._write.done()):
            if self._write is None or self._write.done():
                self._write = asyncio.create_task(self._complete(), name="wg-ack-write")
            await asyncio.shield(self._write)

    async def abandon(self) -> None:
        """Stop a write still retrying against a backend that stayed down: those jobs
        stay leased and come back when their leases expire."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._write is not None and not self._write.done():
            self._write.cancel()
            await asyncio.gather(self._write, return_exceptions=True)

    async def _complete(self) -> None:
        backoff = Backoff()
        backend = self._shared.backend
        ledger = self._shared.ledger
        counts = ledger.counts
        recovery = self._shared.recovery
        failed = False
        while self._pending:
            batch, self._pending = self._pending, []
            self._acking = batch
            try:
                done = await backend.complete(batch)
            except BackendError as exc:
                # Still held (the lease keeper keeps renewing them): try again, at the
                # latest when another call finds the backend back.
                self._pending[:0] = batch
                delay = backoff.next()
                logger.warning("acknowledging failed (%s); retrying in %.2fs", exc, delay)
                failed = True
                await recovery.pause(delay)
                continue
            finally:
                self._acking = []
            if failed:
                failed = False
                recovery.answered()
            # (Written out, not through _attempt(): one call per job saved.)
            ledger.drop_all(
                [item.attempt if isinstance(item, Completion) else item for item in batch]
            )
            counts["processed"] += done
            if done < len(batch):
                counts["stale_writes"] += len(batch) - done
                logger.warning("%d completions refused: their leases were lost", len(batch) - done)


def _attempt(item: Attempt | Completion) -> Attempt:
    return item.attempt if isinstance(item, Completion) else item
