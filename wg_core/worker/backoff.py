"""Exponential backoff with full jitter, for the pool's retry-through-outage loops."""

from __future__ import annotations

import random
from typing import Final

__all__ = ["Backoff"]

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
