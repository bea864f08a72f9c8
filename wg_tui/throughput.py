"""Throughput from the core's monotonic counters: what happened between two refreshes.

No Textual in here. ``Throughput`` keeps the namespace's processed/failed history for
the overview's sparklines; ``QueueThroughput`` the last interval of each named queue,
for the queues tab's rate column.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from wg_core import Counters, QueueInfo

__all__ = ["QueueThroughput", "Throughput"]


@dataclass(slots=True)
class Throughput:
    """Processed and failed attempts per refresh interval, from the core's counters.

    The counters are monotonic totals; each sample's difference from the previous one is
    what happened in between. A counter that went down (the namespace was destroyed and
    recreated) counts as zero for that interval rather than as a negative spike.
    """

    capacity: int = 60
    _samples: deque[tuple[float, Counters]] = field(init=False)

    def __post_init__(self) -> None:
        self._samples = deque(maxlen=self.capacity + 1)

    def add(self, taken_at: float, counters: Counters) -> None:
        """Record the counters read at ``taken_at``."""
        self._samples.append((taken_at, counters))

    def _deltas(self, pick: Callable[[Counters], int]) -> list[int]:
        samples = list(self._samples)
        return [
            max(0, pick(after) - pick(before))
            for (_, before), (_, after) in itertools.pairwise(samples)
        ]

    def processed(self) -> list[int]:
        """Completed attempts in each interval, oldest first."""
        return self._deltas(lambda c: c.processed)

    def failed(self) -> list[int]:
        """Failed attempts (retried or buried) in each interval, oldest first."""
        return self._deltas(lambda c: c.failed)

    def rates(self) -> tuple[float, float] | None:
        """(processed, failed) per second over the last interval; ``None`` before two
        samples, or when the clock did not move between them."""
        if len(self._samples) < 2:
            return None
        (t0, before), (t1, after) = self._samples[-2], self._samples[-1]
        elapsed = t1 - t0
        if elapsed <= 0:
            return None
        return (
            max(0, after.processed - before.processed) / elapsed,
            max(0, after.failed - before.failed) / elapsed,
        )


@dataclass(slots=True)
class QueueThroughput:
    """Processed attempts per second of each named queue over the last refresh interval.

    Each ``add`` keeps the previous sample of every queue and the new one; a queue's rate
    is the change of its ``processed`` counter between the two, divided by the time
    between them. A queue seen for the first time has no rate yet (``None``), and a
    counter that went down (the namespace was recreated) counts as zero.
    """

    _before: tuple[float, dict[str, int]] | None = field(default=None, init=False)
    _after: tuple[float, dict[str, int]] | None = field(default=None, init=False)

    def add(self, taken_at: float, queues: Iterable[QueueInfo]) -> None:
        """Record every queue's counters as read at ``taken_at``."""
        sample = (taken_at, {queue.name: queue.counters.processed for queue in queues})
        if self._after is not None and taken_at <= self._after[0]:
            # A refresh at the same instant (after an action) adds no interval: keep
            # the one measured, with the newest counters.
            self._after = sample
            return
        self._before, self._after = self._after, sample

    def rate(self, name: str) -> float | None:
        """Processed per second in queue ``name`` over the last interval, if known."""
        if self._before is None or self._after is None:
            return None
        (t0, before), (t1, after) = self._before, self._after
        if t1 <= t0 or name not in before or name not in after:
            return None
        return max(0, after[name] - before[name]) / (t1 - t0)
