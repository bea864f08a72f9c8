"""Exponential backoff with full jitter, for the pool's retry-through-outage loops, and
the signal that ends their waits once the backend answers again."""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Final

__all__ = ["Backoff", "Recovery"]

_START: Final = 0.05
_MAX: Final = 5.0


class Backoff:
    """Delays of 0..0.05 s, doubling up to 0..5 s, at random (full jitter): many workers
    coming back from one outage do not retry in step."""

    __slots__ = ("_delay",)

    def __init__(self) -> None:
        self._delay = _START

    def next(self) -> float:
        """The next delay to sleep, in seconds."""
        delay = random.uniform(0, self._delay)
        self._delay = min(self._delay * 2, _MAX)
        return delay

    def reset(self) -> None:
        """Start again from the shortest delay (the call succeeded)."""
        self._delay = _START


class Recovery:
    """Ends the pool's retry loops' waits as soon as any call to the backend succeeds
    after a failure. Each loop backs off on its own, up to 5 s: after an outage the
    claim loop could be claiming again while the acknowledgements still slept out
    their backoff, and the jobs just claimed then ran out their leases unacknowledged
    (docs/reliability.md, finding 25). A loop that sees the backend answer again
    (``answered()``) wakes every other one to try at once."""

    __slots__ = ("_back",)

    def __init__(self) -> None:
        self._back = asyncio.Event()

    async def pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or until a call succeeds again, whichever comes first."""
        back = self._back
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(back.wait(), seconds)

    def answered(self) -> None:
        """A call succeeded after a failure: wake every loop pausing now (those that
        pause later wait their full time: the event is replaced)."""
        back, self._back = self._back, asyncio.Event()
        back.set()
