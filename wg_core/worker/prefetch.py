"""Claiming ahead: how many jobs a pool holds beyond its free slots, and when not to."""

from __future__ import annotations

from typing import Final

from wg_core.options import WorkerConfig

__all__ = ["PREFETCH_CAP", "PREFETCH_HORIZON", "PrefetchPolicy"]

PREFETCH_HORIZON: Final = 0.05
"""Seconds of work (at the pool's recent pace) it may claim ahead, beyond ``workers``."""
_COOLDOWN_MAX: Final = 60.0
PREFETCH_CAP: Final = 500
"""The default cap on jobs claimed ahead. What the pool finishes within
``PREFETCH_HORIZON`` sizes the buffer below it, so only fast jobs reach it: at ~25 000
no-op jobs/s, claims of 500 instead of 100 took PostgreSQL drains from ~15 500 to
~25 000 jobs/s and 39 to 31 µs of worker CPU per job (docs/benchmarks.md)."""


class PrefetchPolicy:
    """While the queue is deep (the last claim came back full), hold ``workers`` jobs
    beyond the free slots, or as many as the pool finishes within
    ``PREFETCH_HORIZON``, up to ``limit``. Buffered jobs that wait out their ``hold``
    are given back, and claiming ahead pauses for a cool-down that doubles while that
    repeats (long jobs: claiming ahead only makes other workers wait)."""

    __slots__ = (
        "_after",
        "_cooldown",
        "_finished",
        "_rate",
        "_rate_mark",
        "ahead",
        "floor",
        "hold",
        "limit",
    )

    def __init__(self, config: WorkerConfig) -> None:
        limit = config.prefetch
        if limit is None:
            limit = max(config.workers, config.batch_size, PREFETCH_CAP)
        self.limit = limit
        self.floor = min(limit, config.workers)
        # A buffered job waits at most this long: well inside its lease, which is only
        # renewed every heartbeat_interval.
        self.hold = min(config.prefetch_hold, config.lease / 2)
        self.ahead = 0  # how many to claim beyond the free slots next time
        self._finished = 0  # jobs whose slot has freed, ever
        self._rate = 0.0  # jobs finished per second, smoothed over recent claims
        self._rate_mark = (0.0, 0)  # (monotonic time, _finished) at the last claim
        self._after = 0.0  # no claiming ahead before this (monotonic)
        self._cooldown = self.hold

    def job_finished(self) -> None:
        """A slot freed."""
        self._finished += 1

    def buffer_used_up(self) -> None:
        """Claimed-ahead jobs are being used up: claiming ahead pays."""
        self._cooldown = self.hold

    def claimed(self, now: float, *, full: bool) -> None:
        """After a claim: claim ahead next time only while the queue is deep (a short
        claim means it is empty, or paused, and jobs already buffered would just wait)."""
        if not full:
            self.ahead = 0
            return
        since, finished = self._rate_mark
        self._rate_mark = (now, self._finished)
        if now > since:
            self._rate = (self._rate + (self._finished - finished) / (now - since)) / 2
        if now < self._after:
            self.ahead = 0  # cooling down: buffered jobs waited out their hold recently
            return
        self.ahead = min(self.limit, max(self.floor, int(self._rate * PREFETCH_HORIZON)))

    def cool_down(self, now: float) -> None:
        """Buffered jobs waited out their hold: no claiming ahead for a while."""
        self._after = now + self._cooldown
        self._cooldown = min(self._cooldown * 2, _COOLDOWN_MAX)
        self.ahead = 0
