"""The dead tab grouped by error, and the ids of one group: no Textual in here.

A group is every dead job whose last error has the same first line, which is the
error's type and message (``ValueError: bad row 7``; a ``JobError`` has its message
only); the traceback below it is left out so that one cause makes one group.

Bounded work: grouping reads the dead jobs a page of ``SCAN_PAGE`` at a time, up to
``SCAN_LIMIT`` jobs, and keeps one small record per group, never the jobs; the widget
gets one row per group. When more jobs are dead than that, the groups say how many were
read (``ErrorGroups.complete`` is false). Acting on a group collects only ids (strings),
narrowed by the backend's ``error_contains`` and then matched exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from wg_core import Client, JobInfo, JobState

__all__ = [
    "SCAN_LIMIT",
    "SCAN_PAGE",
    "ErrorGroup",
    "ErrorGroups",
    "error_key",
    "group_dead_jobs",
    "group_job_ids",
]

SCAN_PAGE: Final = 1000
"""Dead jobs read per call while grouping or collecting a group's ids."""

SCAN_LIMIT: Final = 10_000
"""Dead jobs read at most to group them (per refresh of the grouped dead tab)."""


def error_key(last_error: str | None) -> str:
    """The first line of an error (type and message), stripped; ``""`` for none."""
    if not last_error or not last_error.strip():
        return ""
    return last_error.strip().splitlines()[0].strip()


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorGroup:
    """The dead jobs that failed with one error."""

    key: str
    """The error's first line (``""``: jobs that died with no error recorded)."""
    count: int
    job_names: tuple[str, ...]
    """The job names in the group, most frequent first."""
    last_died: float | None
    """When the most recent of them died (``None`` if the backend does not know)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorGroups:
    """The groups of the dead jobs read, largest first."""

    groups: tuple[ErrorGroup, ...]
    scanned: int
    """How many dead jobs were read."""
    complete: bool
    """Whether every matching dead job was read (else only the first ``scanned``)."""


@dataclass(slots=True)
class _Tally:
    count: int = 0
    last_died: float | None = None
    names: dict[str, int] | None = None

    def add(self, job: JobInfo) -> None:
        self.count += 1
        if job.updated_at is not None and (
            self.last_died is None or job.updated_at > self.last_died
        ):
            self.last_died = job.updated_at
        if self.names is None:
            self.names = {}
        name = job.job_name or "?"
        self.names[name] = self.names.get(name, 0) + 1


def _summarise(tallies: dict[str, _Tally]) -> tuple[ErrorGroup, ...]:
    groups = [
        ErrorGroup(
            key=key,
            count=tally.count,
            job_names=tuple(
                name for name, _ in sorted((tally.names or {}).items(), key=lambda i: -i[1])
            ),
            last_died=tally.last_died,
        )
        for key, tally in tallies.items()
    ]
    # Largest first; ties in error order, so the table does not reshuffle between refreshes.
    groups.sort(key=lambda group: (-group.count, group.key))
    return tuple(groups)


async def group_dead_jobs(
    client: Client,
    *,
    job_name: str | None = None,
    error_contains: str | None = None,
    text_contains: str | None = None,
    queue: str | None = None,
    limit: int = SCAN_LIMIT,
    page: int = SCAN_PAGE,
) -> ErrorGroups:
    """Group the dead jobs (of ``queue``, matching the filters) by error, reading at
    most ``limit``."""
    tallies: dict[str, _Tally] = {}
    scanned = 0
    while scanned < limit:
        size = min(page, limit - scanned)
        jobs = await client.list_jobs(
            JobState.DEAD,
            limit=size,
            offset=scanned,
            job_name=job_name,
            error_contains=error_contains,
            text_contains=text_contains,
            queue=queue,
        )
        for job in jobs:
            tallies.setdefault(error_key(job.last_error), _Tally()).add(job)
        scanned += len(jobs)
        if len(jobs) < size:
            return ErrorGroups(groups=_summarise(tallies), scanned=scanned, complete=True)
    # Exactly ``limit`` read: complete only if nothing follows.
    more = await client.list_jobs(
        JobState.DEAD,
        limit=1,
        offset=scanned,
        job_name=job_name,
        error_contains=error_contains,
        text_contains=text_contains,
        queue=queue,
    )
    return ErrorGroups(groups=_summarise(tallies), scanned=scanned, complete=not more)


async def group_job_ids(
    client: Client,
    key: str,
    *,
    job_name: str | None = None,
    text_contains: str | None = None,
    queue: str | None = None,
    page: int = SCAN_PAGE,
) -> list[str]:
    """The ids of every dead job in the group ``key`` (of ``queue``, matching the filters).

    The backend narrows by ``error_contains`` (a substring, so it may return more);
    the exact first line decides. Only ids are kept, so even a large group costs
    little memory.
    """
    ids: list[str] = []
    offset = 0
    while True:
        jobs = await client.list_jobs(
            JobState.DEAD,
            limit=page,
            offset=offset,
            job_name=job_name,
            error_contains=key or None,
            text_contains=text_contains,
            queue=queue,
        )
        ids.extend(job.job_id for job in jobs if error_key(job.last_error) == key)
        offset += len(jobs)
        if len(jobs) < page:
            return ids
