"""Progress: what a running job says about how far it is, written at most once per
``PROGRESS_INTERVAL`` per job (the latest value wins), so a chatty handler cannot flood
the backend."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final

from wg_core.backend import Progress
from wg_core.errors import BackendError

__all__ = ["PROGRESS_INTERVAL", "ProgressReporter"]

logger = logging.getLogger("wg.pool")

PROGRESS_INTERVAL: Final = 1.0
"""Seconds between two progress writes of one job, at least."""


class ProgressReporter:
    """One job's progress: ``report`` keeps the latest value and writes it with
    ``write`` (``Backend.set_progress`` for the job's attempt) at once if the last
    write is ``interval`` seconds old, else when it will be. One write at a time;
    ``close`` (the job ended) drops what is not written yet. Lives on the pool's loop.
    """

    __slots__ = ("_clock", "_closed", "_interval", "_last", "_latest", "_loop", "_task", "_write")

    def __init__(
        self,
        write: Callable[[Progress], Awaitable[object]],
        *,
        loop: asyncio.AbstractEventLoop,
        interval: float = PROGRESS_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._write = write
        self._loop = loop
        self._interval = interval
        self._clock = clock
        self._latest: Progress | None = None
        self._last = float("-inf")  # when the last write started
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def report(self, progress: Progress) -> None:
        """Keep ``progress`` as the latest; start the writer unless it runs already."""
        if self._closed:
            return
        self._latest = progress
        if self._task is None:
            self._task = self._loop.create_task(self._run(), name="wg-progress")

    def close(self) -> None:
        """The job ended: write nothing more (a write under way is left to finish:
        its lease check makes it harmless)."""
        self._closed = True
        self._latest = None
        task = self._task
        if task is not None and not task.done():
            task.cancel()

    async def _run(self) -> None:
        try:
            while self._latest is not None and not self._closed:
                wait = self._last + self._interval - self._clock()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue
                progress, self._latest = self._latest, None
                self._last = self._clock()
                # Shielded: a job that ends mid-write must not cut a backend call short.
                await asyncio.shield(self._write_quietly(progress))
        finally:
            self._task = None

    async def _write_quietly(self, progress: Progress) -> None:
        try:
            await self._write(progress)
        except BackendError as exc:
            logger.debug("recording progress failed: %s", exc)
        except Exception:  # a bug: say so, but a progress note must never fail a job
            logger.exception("recording progress failed")
