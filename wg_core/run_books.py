"""A pool's run books: how many runs ended how, and how long they took and waited,
tallied by the pool itself for a reader that needs only those figures (the Prometheus
metrics).

Why the pool keeps them rather than a middleware's ``after`` hook: a hook costs a
``RunningJob``, two coroutines and the hook's own bookkeeping per run, several
microseconds that a drain of no-op jobs notices (issue 22 allows 10 %). The books cost
one method call and two list appends per run; the reader sorts and buckets each
series' durations in bulk when it takes them (``take()``), about once a second.

A pool keeps books only once asked (``WorkerPool.run_books()``): without a reader
there is no per-run work. Everything runs on the pool's event loop: no lock.
"""

from __future__ import annotations

from typing import Final, TypeAlias

from wg_core.middleware import Outcome

__all__ = ["DurationBook", "RunBooks", "WaitBook"]

DurationBook: TypeAlias = dict[tuple[str, str, Outcome], list[float]]
"""(queue, job name, outcome) -> the durations (seconds) of the runs that ended so."""
WaitBook: TypeAlias = dict[tuple[str, str], list[float]]
"""(queue, job name) -> how long first attempts waited to start (seconds)."""

_FIRST: Final = 1


class RunBooks:
    """The runs a pool ended since its reader last took its books."""

    __slots__ = ("_durations", "_waits")

    def __init__(self) -> None:
        self._durations: DurationBook = {}
        self._waits: WaitBook = {}

    def record(
        self,
        queue: str,
        job_name: str,
        outcome: Outcome,
        duration: float,
        attempt: int,
        wait: float,
    ) -> None:
        """One run of ``job_name`` in ``queue`` ended with ``outcome`` after
        ``duration`` seconds; its attempt number (from 1), and how long it waited to
        start (kept for first attempts only: a retry's envelope does not record when
        it fell due)."""
        key = (queue, job_name, outcome)
        durations = self._durations.get(key)
        if durations is None:
            durations = self._durations[key] = []
        durations.append(duration)
        if attempt == _FIRST:
            by_job = (queue, job_name)
            waits = self._waits.get(by_job)
            if waits is None:
                waits = self._waits[by_job] = []
            waits.append(wait if wait > 0.0 else 0.0)

    def take(self) -> tuple[DurationBook, WaitBook]:
        """Everything recorded since the last ``take()``; the books start empty again."""
        taken = self._durations, self._waits
        self._durations = {}
        self._waits = {}
        return taken
