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

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final

from wg_core import (
    Client,
    Counters,
    JobInfo,
    JobState,
    PeriodicInfo,
    QueueInfo,
    QueueLimit,
    StateCounts,
    WorkerConfig,
    WorkerInfo,
)
from wg_tui.error_groups import ErrorGroups, group_dead_jobs
from wg_tui.throughput import QueueThroughput, Throughput

__all__ = [
    "FIND_PER_STATE",
    "PAGE_SIZE",
    "STALE_AFTER",
    "STATE_TABS",
    "Clock",
    "JobPage",
    "PageRequest",
    "QueueThroughput",
    "SearchResult",
    "Snapshot",
    "Throughput",
    "count_matching",
    "find_jobs",
    "matching_ids",
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
    JobState.COMPLETED,
    JobState.CANCELLED,
)
"""The states that get a tab: waiting, running and dead jobs in the order a job usually
travels, then the history (kept for the workers' retention period)."""

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
    text_contains: str | None = None
    """Search: a substring of the stored envelope (id, job name, payload, error)."""
    queue: str | None = None
    """Only this named queue's jobs (``None``: every queue)."""

    @property
    def filtered(self) -> bool:
        """Whether a job-name, error or search filter narrows the state."""
        return bool(self.job_name or self.error_contains or self.text_contains)

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
    groups: ErrorGroups | None = None
    """The dead jobs grouped by error, when the dead tab shows groups."""
    queues: tuple[QueueInfo, ...] | None = None
    """Every named queue, when the queues tab (or the overview) needs them."""
    limits: tuple[QueueLimit, ...] | None = None
    """Every queue limit with its use, with the queues."""
    queue: str | None = None
    """The queue the job tabs are narrowed to, if any."""
    queue_counts: StateCounts | None = None
    """That queue's jobs per state (``None`` without a queue filter)."""
    periodic: tuple[PeriodicInfo, ...] | None = None
    """The registered periodic entries, when the scheduled tab is visible."""

    def count(self, state: JobState) -> int:
        """How many jobs are in ``state`` (in the namespace)."""
        counts: int = getattr(self.counts, state.value)
        return counts

    def shown_count(self, state: JobState) -> int:
        """How many jobs in ``state`` the job tabs cover: the filtered queue's, else all."""
        counts: int = getattr(self.queue_counts or self.counts, state.value)
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
    groups: bool = False,
    queues: bool = False,
    queue: str | None = None,
    periodic: bool = False,
) -> Snapshot:
    """Ask ``client`` for the global facts plus ``page`` and/or the worker registry
    and/or the named queues (``queues=True``).

    ``groups=True`` groups the dead jobs matching ``page``'s filters by error instead
    of fetching ``page`` (``wg_tui.error_groups``; bounded by its ``SCAN_LIMIT``).
    ``queue``: the job tabs are narrowed to that queue; its counts come too.
    ``periodic=True``: the registered periodic entries come too.

    The calls run one after the other: backends serialise them on one connection anyway,
    and a failure (``wg_core.errors.BackendError``) propagates to the caller, which
    shows it and backs off.
    """
    counts = await client.counts()
    counters = await client.counters()
    paused = await client.is_paused()
    registry = tuple(await client.workers()) if workers else None
    queue_list = tuple(await client.queues()) if queues else None
    limit_list = tuple(await client.limits()) if queues else None
    queue_counts = await client.counts(queue=queue) if queue is not None else None
    entries = tuple(await client.periodic_entries()) if periodic else None
    job_page: JobPage | None = None
    error_groups: ErrorGroups | None = None
    if groups:
        filters = page or PageRequest(state=JobState.DEAD)
        error_groups = await group_dead_jobs(
            client,
            job_name=filters.job_name or None,
            error_contains=filters.error_contains or None,
            text_contains=filters.text_contains or None,
            queue=filters.queue,
        )
    elif page is not None:
        jobs = await client.list_jobs(
            page.state,
            limit=page.limit,
            offset=page.offset,
            newest_first=page.newest_first,
            job_name=page.job_name or None,
            error_contains=page.error_contains or None,
            text_contains=page.text_contains or None,
            queue=page.queue,
        )
        job_page = JobPage(request=page, jobs=tuple(jobs))
    return Snapshot(
        taken_at=clock(),
        counts=counts,
        counters=counters,
        paused=paused,
        workers=registry,
        page=job_page,
        groups=error_groups,
        queues=queue_list,
        limits=limit_list,
        queue=queue,
        queue_counts=queue_counts,
        periodic=entries,
    )


async def count_matching(
    client: Client,
    state: JobState,
    *,
    job_name: str | None = None,
    error_contains: str | None = None,
    text_contains: str | None = None,
    queue: str | None = None,
) -> int:
    """How many jobs in ``state`` (of ``queue``) match the filters (for a confirmation
    dialog).

    Unfiltered, this is one ``counts()`` call (the core counts per queue). The core has
    no filtered count, so a filtered one pages through the matches, ``_COUNT_PAGE`` at a
    time.
    """
    if not (job_name or error_contains or text_contains):
        counts = await client.counts(queue=queue)
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
            text_contains=text_contains or None,
            queue=queue,
        )
        total += len(page)
        if len(page) < _COUNT_PAGE:
            return total


async def matching_ids(
    client: Client,
    state: JobState,
    *,
    job_name: str | None = None,
    error_contains: str | None = None,
    text_contains: str | None = None,
    queue: str | None = None,
) -> list[str]:
    """The ids of every job in ``state`` matching the filters, read ``_COUNT_PAGE`` at a
    time (ids only: for acting on a search the core's bulk verbs cannot filter by)."""
    ids: list[str] = []
    while True:
        page = await client.list_jobs(
            state,
            limit=_COUNT_PAGE,
            offset=len(ids),
            job_name=job_name or None,
            error_contains=error_contains or None,
            text_contains=text_contains or None,
            queue=queue,
        )
        ids.extend(job.job_id for job in page)
        if len(page) < _COUNT_PAGE:
            return ids


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchResult:
    """Where a search found jobs: up to ``FIND_PER_STATE`` of each state."""

    text: str
    found: dict[JobState, tuple[JobInfo, ...]]

    @property
    def only(self) -> JobInfo | None:
        """The one job found, when the search names exactly one."""
        jobs = [job for hits in self.found.values() for job in hits]
        return jobs[0] if len(jobs) == 1 else None

    @property
    def states(self) -> list[JobState]:
        """The states with matches, in tab order."""
        return [state for state in STATE_TABS if self.found.get(state)]


FIND_PER_STATE: Final = 2
"""Matches fetched per state by ``find_jobs``: enough to tell one from several."""


async def find_jobs(client: Client, text: str) -> SearchResult:
    """Find jobs by id (whole, or any fragment) or by text of their envelope.

    A whole id is looked up directly (one call, in whatever state the job is);
    otherwise each state is searched with ``text_contains``, ``FIND_PER_STATE`` jobs
    at most, so the search costs one small call per state whatever the queue's size.
    """
    text = text.strip()
    if _looks_like_uuid(text):
        job = await client.get_job(text.lower())
        if job is not None and job.state in STATE_TABS:
            return SearchResult(text=text, found={job.state: (job,)})
    found: dict[JobState, tuple[JobInfo, ...]] = {}
    for state in STATE_TABS:
        hits = await client.list_jobs(state, limit=FIND_PER_STATE, text_contains=text)
        if hits:
            found[state] = tuple(hits)
    return SearchResult(text=text, found=found)


def _looks_like_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text.lower()
    except ValueError:
        return False
