"""Job timeouts: shared timer slices instead of one timer per job."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable
from typing import Any, Final, TypeVar

__all__ = ["TIMEOUT_GRAIN", "Deadlines", "Overran"]

T = TypeVar("T")

TIMEOUT_GRAIN: Final = 0.05
"""Job timeouts fire up to this late (or 0.1 % of the timeout, if more): jobs whose
deadlines fall in the same slice share one timer instead of arming one each."""


class Overran(TimeoutError):
    """A job ran past its timeout without being stopped: its handler held the event
    loop (blocking calls in an async handler) or swallowed the cancellation, so it
    could not be cancelled in time. ``elapsed`` is how long it ran, in seconds."""

    def __init__(self, elapsed: float, timeout: float) -> None:
        super().__init__(
            f"timed out: ran {elapsed:.2f}s against its {timeout:g}s timeout without letting "
            "the pool cancel it (it blocked the event loop, or caught the cancellation)"
        )
        self.elapsed = elapsed


class Deadlines:
    """Cancels a job's task into a ``TimeoutError`` once its timeout has passed (like
    ``asyncio.timeout``), with one timer per slice of deadlines shared by every job
    that ends in it: a pool running thousands of jobs arms a few timers, not thousands.
    """

    __slots__ = ("_slices", "_timed_out")

    def __init__(self) -> None:
        # deadline (loop time) -> (tasks whose job times out then, the timer)
        self._slices: dict[float, tuple[set[asyncio.Task[Any]], asyncio.TimerHandle]] = {}
        self._timed_out: set[asyncio.Task[Any]] = set()

    async def run(self, work: Awaitable[T], timeout: float | None) -> T:
        """Await ``work`` in the current task and return its value, cancelled into
        ``TimeoutError`` once ``timeout`` seconds have passed (``None``: no limit).
        Work that returns after its deadline all the same raises ``Overran``: a
        timeout is never a success."""
        if timeout is None:
            return await work
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        started = loop.time()
        grain = max(TIMEOUT_GRAIN, timeout / 1000)
        deadline = math.ceil((started + timeout) / grain) * grain
        entry = self._slices.get(deadline)
        if entry is None:
            entry = self._slices[deadline] = (set(), loop.call_at(deadline, self._expire, deadline))
        tasks = entry[0]
        tasks.add(task)
        cancelling = task.cancelling()
        try:
            value = await work
        except asyncio.CancelledError:
            # Ours (and nobody else's, e.g. a shutdown's): the job timed out.
            if task in self._timed_out and task.uncancel() <= cancelling:
                raise TimeoutError from None
            raise
        else:
            if task in self._timed_out:
                task.uncancel()  # the handler caught our cancellation and returned
            elif loop.time() <= deadline:
                return value
            raise Overran(loop.time() - started, timeout)
        finally:
            tasks.discard(task)
            self._timed_out.discard(task)

    def _expire(self, deadline: float) -> None:
        entry = self._slices.pop(deadline, None)
        if entry is None:
            return
        for task in entry[0]:
            self._timed_out.add(task)
            task.cancel()

    def close(self) -> None:
        """Cancel every timer (the pool is stopping)."""
        for _, timer in self._slices.values():
            timer.cancel()
        self._slices.clear()
