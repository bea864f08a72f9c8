"""Job timeouts: shared timer slices instead of one timer per job."""

from __future__ import annotations

import asyncio
import math
from typing import Any, Final

__all__ = ["TIMEOUT_GRAIN", "Deadlines", "Overran"]

TIMEOUT_GRAIN: Final = 0.05
"""Job timeouts fire up to this late (or 0.1 % of the timeout, if more): jobs whose
deadlines fall in the same slice share one timer instead of arming one each."""


_GRAIN_LIMIT: Final = TIMEOUT_GRAIN * 1000
"""Timeouts above this use a grain of a thousandth of themselves."""


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
    """Cancels a job's task once its timeout has passed (the runner turns that into a
    ``TimeoutError``, like ``asyncio.timeout``), with one timer per slice of deadlines
    shared by every job that ends in it: a pool running thousands of jobs arms a few
    timers, not thousands."""

    __slots__ = ("_slices", "_timed_out")

    def __init__(self) -> None:
        # deadline (loop time) -> (tasks whose job times out then, the timer)
        self._slices: dict[float, tuple[set[asyncio.Task[Any]], asyncio.TimerHandle]] = {}
        self._timed_out: set[asyncio.Task[Any]] = set()

    def arm(self, task: asyncio.Task[Any], timeout: float, now: float) -> float:
        """Cancel ``task`` (into a timeout: see ``timed_out``) once ``timeout`` seconds
        from ``now`` (loop time) have passed; the deadline, for ``disarm``. Called
        inline by the runner, with no coroutine of its own: it runs for every job."""
        grain = TIMEOUT_GRAIN if timeout <= _GRAIN_LIMIT else timeout / 1000
        deadline = math.ceil((now + timeout) / grain) * grain
        entry = self._slices.get(deadline)
        if entry is None:
            entry = self._slices[deadline] = (
                {task},
                task.get_loop().call_at(deadline, self._expire, deadline),
            )
        else:
            entry[0].add(task)
        return deadline

    def disarm(self, task: asyncio.Task[Any], deadline: float) -> bool:
        """Stop timing ``task`` (armed for ``deadline``); whether its deadline fired
        (then the task was cancelled by this, and the caller uncancels it)."""
        entry = self._slices.get(deadline)
        if entry is not None:
            entry[0].discard(task)
        timed_out = self._timed_out
        if task in timed_out:
            timed_out.discard(task)
            return True
        return False

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
