"""Throughput from the core's monotonic counters: what happened between two refreshes.

No Textual in here. ``Throughput`` keeps the namespace's processed/failed history and
its queue depth for the overview's sparklines; ``QueueThroughput`` the same per named
queue, for the queues tab's rate column and its two trend columns.

The charts are text sparklines (``wg_tui.columns.sparkline``), not Textual's
``Sparkline`` widget or textual-plotext: a widget cannot sit in a ``DataTable`` cell,
where the per-queue trends live, and a line of text needs no dependency and renders
the same in the SVG snapshots.
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
    _queued: deque[int] = field(init=False)

    def __post_init__(self) -> None:
        self._samples = deque(maxlen=self.capacity + 1)
        self._queued = deque(maxlen=self.capacity)

    def add(self, taken_at: float, counters: Counters, *, queued: int | None = None) -> None:
        """Record the counters read at ``taken_at`` (and the jobs queued then)."""
        self._samples.append((taken_at, counters))
        if queued is not None:
            self._queued.append(queued)

    def queued(self) -> list[int]:
        """Jobs queued (the namespace's depth) at each refresh, oldest first."""
        return list(self._queued)

    def _per_second(self, pick: Callable[[Counters], int]) -> list[float]:
        samples = list(self._samples)
        return [
            max(0, pick(after) - pick(before)) / (t1 - t0) if t1 > t0 else 0.0
            for (t0, before), (t1, after) in itertools.pairwise(samples)
        ]

    def processed_per_second(self) -> list[float]:
        """Completed attempts per second in each interval, oldest first."""
        return self._per_second(lambda c: c.processed)

    def failed_per_second(self) -> list[float]:
        """Failed attempts per second in each interval, oldest first."""
        return self._per_second(lambda c: c.failed)

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
    """Each named queue's processed attempts per second and depth over the last
    ``capacity`` refreshes that read the queues.

    A queue's rate over an interval is the change of its ``processed`` counter divided
    by the time between the two samples. A queue seen for the first time has no rate
    yet (``None``), and a counter that went down (the namespace was recreated) counts
    as zero. A refresh at the same instant as the last one (after an action) replaces
    it instead of adding an interval of no length.
    """

    capacity: int = 10  # the refreshes the trend columns show
    _samples: deque[tuple[float, dict[str, tuple[int, int]]]] = field(init=False)

    def __post_init__(self) -> None:
        self._samples = deque(maxlen=self.capacity + 1)

    def add(self, taken_at: float, queues: Iterable[QueueInfo]) -> None:
        """Record every queue's counters and depth as read at ``taken_at``."""
        sample = (
            taken_at,
            {queue.name: (queue.counters.processed, queue.counts.queued) for queue in queues},
        )
        if self._samples and taken_at <= self._samples[-1][0]:
            self._samples[-1] = sample
            return
        self._samples.append(sample)

    def rate(self, name: str) -> float | None:
        """Processed per second in queue ``name`` over the last interval, if known."""
        if len(self._samples) < 2:
            return None
        (t0, before), (t1, after) = self._samples[-2], self._samples[-1]
        if t1 <= t0 or name not in before or name not in after:
            return None
        return max(0, after[name][0] - before[name][0]) / (t1 - t0)

    def rates(self, name: str) -> list[float]:
        """Processed per second in queue ``name`` in each interval it was seen in."""
        return [
            max(0, after[name][0] - before[name][0]) / (t1 - t0)
            for (t0, before), (t1, after) in itertools.pairwise(self._samples)
            if name in before and name in after and t1 > t0
        ]

    def depths(self, name: str) -> list[int]:
        """Jobs queued in queue ``name`` at each refresh that saw it, oldest first."""
        return [
            sample[name][1] for _, sample in list(self._samples)[-self.capacity :] if name in sample
        ]
