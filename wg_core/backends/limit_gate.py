"""The admission rule of queue limits, once for the engines that decide it in Python
inside their atomic step (the memory backend under its lock, the SQL engine inside the
claim's transaction, holding the limit's row lock). Redis decides the same rule in its
claim script.

A ``LimitGate`` is built from what is in use *now* (running jobs under a live lease
per bucket; starts within the window per bucket, with the oldest one) and admits
candidate jobs one by one, in the queue's order, counting each admitted job as running
and started. A bucket is the job's ``limit_key`` under a per-key limit (``""`` for a
job without one), else the one bucket ``""`` of the whole queue.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from wg_core.limits import QueueLimit

__all__ = ["LimitGate", "Window", "bucket_of"]


def bucket_of(limit: QueueLimit, limit_key: str | None) -> str:
    """The bucket a job of ``limit_key`` counts in under ``limit``."""
    return (limit_key or "") if limit.per_key else ""


@dataclass(slots=True)
class Window:
    """Starts of one bucket within the rate's window: how many, and the oldest."""

    count: int = 0
    oldest: float | None = None


@dataclass(slots=True)
class LimitGate:
    """Admits jobs of one limited queue (see the module docstring)."""

    limit: QueueLimit
    now: float
    running: dict[str, int] = field(default_factory=dict)
    starts: dict[str, Window] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        limit: QueueLimit,
        now: float,
        running: Iterable[tuple[str | None, int]],
        starts: Iterable[tuple[str | None, int, float | None]] = (),
    ) -> LimitGate:
        """A gate over ``running`` ``(limit_key, n)`` and ``starts`` ``(limit_key, n,
        oldest)`` rows (keys folded into buckets)."""
        gate = cls(limit, now)
        for key, n in running:
            bucket = bucket_of(limit, key)
            gate.running[bucket] = gate.running.get(bucket, 0) + int(n)
        for key, n, oldest in starts:
            window = gate.starts.setdefault(bucket_of(limit, key), Window())
            window.count += int(n)
            if oldest is not None and (window.oldest is None or oldest < window.oldest):
                window.oldest = float(oldest)
        return gate

    def _room(self, bucket: str) -> bool:
        limit = self.limit
        if limit.concurrency is not None and self.running.get(bucket, 0) >= limit.concurrency:
            return False
        if limit.rate is not None:
            window = self.starts.get(bucket)
            if window is not None and window.count >= limit.rate:
                return False
        return True

    def admit(self, limit_key: str | None) -> bool:
        """Whether a job of ``limit_key`` may start now; if so it is counted."""
        bucket = bucket_of(self.limit, limit_key)
        if not self._room(bucket):
            return False
        self.running[bucket] = self.running.get(bucket, 0) + 1
        if self.limit.rate is not None:
            window = self.starts.setdefault(bucket, Window())
            window.count += 1
            if window.oldest is None:
                window.oldest = self.now
        return True

    @property
    def closed(self) -> bool:
        """Whether no job at all may start now (the queue's one bucket is full; a
        per-key limit always has room for a key not seen yet)."""
        return not self.limit.per_key and not self._room("")

    def blocked(self) -> list[str]:
        """The buckets with no room now (per-key limits: keys whose jobs are skipped)."""
        buckets: Mapping[str, object] = {**self.running, **self.starts}
        return sorted(bucket for bucket in buckets if not self._room(bucket))

    def next_start(self) -> float | None:
        """Seconds until a rate-blocked bucket's window frees a start (``None`` if no
        bucket is blocked by the rate): the claimer's wait, instead of a poll."""
        limit = self.limit
        if limit.rate is None or limit.per is None:
            return None
        waits = [
            window.oldest + limit.per - self.now
            for window in self.starts.values()
            if window.count >= limit.rate and window.oldest is not None
        ]
        return max(0.0, min(waits)) if waits else None
