"""What the dashboard shows, fetched from a ``Client``: no Textual in here.

The screens ask for a ``Snapshot`` once per refresh. It always holds the cheap, global
facts (counts per state, the throughput counters, the pause flag) and only what the
visible tab needs besides (a page of one state, or the worker registry), so a refresh
costs a handful of round trips whatever the size of the queue: a state tab never loads
more than one page (``PAGE_SIZE`` rows), never the whole state.

Time comes from an injectable clock (Unix seconds) so that ages ("3m ago", "in 5m")
are reproducible in tests and screenshots.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Final

from wg_core import Client, Counters, JobInfo, JobState, StateCounts, WorkerConfig, WorkerInfo

__all__ = [
    "PAGE_SIZE",
    "STALE_AFTER",
    "STATE_TABS",
    "Clock",
    "JobPage",
    "PageRequest",
    "Snapshot",
    "Throughput",
    "count_matching",
    "take_snapshot",
    "worker_is_stale",
]

Clock = Callable[[], float]
"""Returns the current time in Unix seconds (``time.time`` outside tests)."""

PAGE_SIZE: Final = 100
"""Rows per page of a state tab (adding a row to a table costs ~0.1 ms: keep pages small)."""

STATE_TABS: Final = (
    JobState.QUEUED,
    JobState.SCHEDULED,
    JobState.RETRY,
    JobState.RUNNING,
    JobState.DEAD,
)
"""The states that get a tab, in the order a job usually travels."""

# A worker heartbeats every ``heartbeat_interval`` and its jobs' leases run out after
# ``lease``: a worker not heard from for a whole default lease has missed several
# heartbeats, and its jobs are about to be reaped.
STALE_AFTER: Final = WorkerConfig().lease
"""Seconds without a heartbeat after which a worker is shown as stale."""

_COUNT_PAGE: Final = 1000


def worker_is_stale(worker: WorkerInfo, now: float) -> bool:
    """Whether ``worker`` has missed its heartbeats for longer than ``STALE_AFTER``."""
    return now - worker.last_seen > STALE_AFTER


@dataclass(frozen=True, slots=True, kw_only=True)
class PageRequest:
    """Which page of which state a state tab shows, and how it is ordered and filtered."""

    state: JobState
    offset: int = 0
    limit: int = PAGE_SIZE
    newest_first: bool = False
    job_name: str | None = None
    error_contains: str | None = None

    @property
    def filtered(self) -> bool:
        """Whether a job-name or error filter narrows the state."""
        return bool(self.job_name or self.error_contains)

    def next_page(self) -> PageRequest:
        """The following page."""
        return replace(self, offset=self.offset + self.limit)

    def previous_page(self) -> PageRequest:
        """The preceding page (the first page stays the first)."""
        return replace(self, offset=max(0, self.offset - self.limit))

    def first_page(self) -> PageRequest:
        """Page one, same order and filters."""
        return replace(self, offset=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class JobPage:
    """One page of a state as fetched."""

    request: PageRequest
    jobs: tuple[JobInfo, ...]

    @property
    def has_next(self) -> bool:
        """Whether a following page may hold more jobs (this one came back full)."""
        return len(self.jobs) >= self.request.limit


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """Everything one refresh learned, at ``taken_at`` (the injected clock)."""

    taken_at: float
    counts: StateCounts
    counters: Counters
    paused: bool
    workers: tuple[WorkerInfo, ...] | None = None
    """The worker registry, when the visible tab needs it."""
    page: JobPage | None = None
    """A page of one state, when a state tab is visible."""

    def count(self, state: JobState) -> int:
        """How many jobs are in ``state``."""
        counts: int = getattr(self.counts, state.value)
        return counts

    @property
    def oldest_queued_age(self) -> float | None:
        """Seconds the oldest queued job has been waiting, if the backend can tell."""
        oldest = self.counts.oldest_queued_at
        return None if oldest is None else max(0.0, self.taken_at - oldest)

    def workers_alive(self) -> int | None:
        """Workers whose heartbeat is recent (``None`` if the registry was not fetched)."""
        if self.workers is None:
            return None
        return sum(not worker_is_stale(worker, self.taken_at) for worker in self.workers)


async def take_snapshot(
    client: Client,
    *,
    clock: Clock,
    page: PageRequest | None = None,
    workers: bool = False,
) -> Snapshot:
    """Ask ``client`` for the global facts plus ``page`` and/or the worker registry.

    The calls run one after the other: backends serialise them on one connection anyway,
    and a failure (``wg_core.errors.BackendError``) propagates to the caller, which
    shows it and backs off.
    """
    counts = await client.counts()
    counters = await client.counters()
    paused = await client.is_paused()
    registry = tuple(await client.workers()) if workers else None
    job_page: JobPage | None = None
    if page is not None:
        jobs = await client.list_jobs(
            page.state,
            limit=page.limit,
            offset=page.offset,
            newest_first=page.newest_first,
            job_name=page.job_name or None,
            error_contains=page.error_contains or None,
        )
        job_page = JobPage(request=page, jobs=tuple(jobs))
    return Snapshot(
        taken_at=clock(),
        counts=counts,
        counters=counters,
        paused=paused,
        workers=registry,
        page=job_page,
    )


async def count_matching(
    client: Client,
    state: JobState,
    *,
    job_name: str | None = None,
    error_contains: str | None = None,
) -> int:
    """How many jobs in ``state`` match the filters (for a confirmation dialog).

    Unfiltered, this is one ``counts()`` call. The core has no filtered count, so a
    filtered one pages through the matches, ``_COUNT_PAGE`` at a time.
    """
    if not (job_name or error_contains):
        counts = await client.counts()
        total: int = getattr(counts, state.value)
        return total
    total = 0
    while True:
        page = await client.list_jobs(
            state,
            limit=_COUNT_PAGE,
            offset=total,
            job_name=job_name or None,
            error_contains=error_contains or None,
        )
        total += len(page)
        if len(page) < _COUNT_PAGE:
            return total


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
