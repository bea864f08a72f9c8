"""The memory backend's queue limits (issue 20): the limits themselves and each
bucket's log of starts, read and written under the backend's lock, so that the
admission (``LimitGate``) is atomic with the claim as on every other backend."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from wg_core.backends.limit_gate import LimitGate, bucket_of
from wg_core.backends.memory_jobs import MemoryJob
from wg_core.limits import QueueLimit

__all__ = ["MemoryLimits"]


class MemoryLimits:
    """Limits by queue and starts by (queue, bucket), oldest first."""

    __slots__ = ("_limits", "_starts")

    def __init__(self) -> None:
        self._limits: dict[str, QueueLimit] = {}
        self._starts: dict[tuple[str, str], deque[float]] = {}

    def __contains__(self, queue: object) -> bool:
        return queue in self._limits

    def set(self, limit: QueueLimit) -> None:
        """Store ``limit`` (its use fields are not stored)."""
        self._limits[limit.queue] = limit.with_use(running=0, started=0, keys=0)

    def clear(self, queue: str) -> bool:
        """Remove ``queue``'s limit and its log; whether it had one."""
        for bucket in [b for b in self._starts if b[0] == queue]:
            del self._starts[bucket]
        return self._limits.pop(queue, None) is not None

    def reset(self) -> None:
        """Forget every limit and log."""
        self._limits.clear()
        self._starts.clear()

    def _window(self, limit: QueueLimit, now: float) -> list[tuple[str | None, int, float | None]]:
        """Each bucket's starts within the window, pruning older ones."""
        rows: list[tuple[str | None, int, float | None]] = []
        if limit.per is None:
            return rows
        for (queue, bucket), log in list(self._starts.items()):
            if queue != limit.queue:
                continue
            while log and log[0] <= now - limit.per:
                log.popleft()
            if not log:
                del self._starts[(queue, bucket)]
                continue
            rows.append((bucket, len(log), log[0]))
        return rows

    def gate(self, queue: str, running: Iterable[MemoryJob], now: float) -> LimitGate | None:
        """The gate of ``queue`` over its ``running`` jobs (``None``: no limit)."""
        limit = self._limits.get(queue)
        if limit is None:
            return None
        counted = [
            (job.limit_key, 1)
            for job in running
            if job.queue == queue and (job.lease_until or 0.0) > now
        ]
        return LimitGate.build(limit, now, counted, self._window(limit, now))

    def started(self, queue: str, limit_key: str | None, now: float) -> None:
        """Log a start of a job of ``queue`` (rate-limited queues only)."""
        limit = self._limits.get(queue)
        if limit is not None and limit.rate is not None:
            self._starts.setdefault((queue, bucket_of(limit, limit_key)), deque()).append(now)

    def listing(self, running: list[MemoryJob], now: float) -> list[QueueLimit]:
        """Every limit with its use now."""
        listed: list[QueueLimit] = []
        for queue in sorted(self._limits):
            limit = self._limits[queue]
            live = [j for j in running if j.queue == queue and (j.lease_until or 0.0) > now]
            window = self._window(limit, now)
            listed.append(
                limit.with_use(
                    running=len(live),
                    started=sum(n for _, n, _ in window),
                    keys=len({j.limit_key or "" for j in live}),
                )
            )
        return listed
