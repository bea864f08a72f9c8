"""``migrate``: copy a namespace's jobs from one backend to another (``wg migrate``).

Every job that is not RUNNING is copied with its id, queue, priority, state and times
(``Backend.import_jobs`` on the target): queued jobs in their order, scheduled and
retry jobs with their due times, dead jobs with their errors and times of death,
completed and cancelled jobs with their results and retention, for as long as the
source keeps them. The source is read with ``list_jobs``, one page per call, state by
state; each page is one ``import_jobs`` call on the target.

* **Resumable and idempotent.** The target skips ids it already has (atomically, in
  each engine), so a second run, or a run after an interrupted one, copies nothing
  twice and picks up what is missing.
* **``move``** deletes a page from the source only once the target has committed it
  (``import_jobs`` returned), ids the target had already included: an interrupted move
  leaves every job in the source, the target, or both, never in neither.
* **Times are absolute** (Unix seconds, each backend's clock): a job due in an hour on
  the source is due at the same instant on the target. Servers are assumed to agree on
  the time (NTP); a skew between them shifts due times by that much.
* **RUNNING jobs are not copied**: a worker holds them, and only the source knows its
  lease; the report counts them. That is why ``migrate`` refuses a source whose workers
  heartbeat (``ActiveWorkersError``) unless ``force``: with workers running, jobs move
  between states while the pages are read, so a job may be copied in a state it has
  since left (a later run does not fix that: the id is taken).
* **Keys travel with their jobs**: a job's limit key is stored with it on the target;
  a queued, scheduled or retry job with a unique key (its envelope's ``unique_key``)
  takes the key's hold on the target in the same transaction / script as it is
  stored, so that a duplicate enqueue on the target is refused as it was on the
  source. A key some other job holds on the target already stays that job's (the
  copied job is stored all the same: refusing it would lose a job). A hold's
  ``unique_for`` remainder is not copied (the contract cannot read it): a dead or
  finished job takes no hold, and a waiting job's hold ends with its job.
* **Pause flags are copied** (a paused namespace or queue stays paused on the target:
  it was paused for a reason); **counters and the worker registry are not** (they
  count and describe the source's workers, not the jobs).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from wg_core.backend import FINISHED_STATES, Backend, ImportedJob, JobQuery, JobState, StoredJob
from wg_core.dispatch import CheckedBackend, checked
from wg_core.envelope import DEFAULT_JOB_NAME, peek_envelope
from wg_core.errors import ActiveWorkersError
from wg_core.queues import validate_queue
from wg_core.unique import validate_unique_key
from wg_core.urls import backend_from_url, redact_url

__all__ = [
    "ACTIVE_WITHIN",
    "COPIED_STATES",
    "DEFAULT_BATCH",
    "MigrationReport",
    "imported",
    "migrate",
    "migrate_urls",
]

COPIED_STATES: Final = (
    JobState.QUEUED,
    JobState.SCHEDULED,
    JobState.RETRY,
    JobState.DEAD,
    JobState.COMPLETED,
    JobState.CANCELLED,
)
"""The states ``migrate`` copies, in the order it copies them (never RUNNING)."""

ACTIVE_WITHIN: Final = 60.0
"""Seconds since a worker's last heartbeat within which it counts as active (a worker
heartbeats every few seconds; one silent for longer has stopped or crashed)."""

DEFAULT_BATCH: Final = 2000
"""Jobs per page read from the source and per ``import_jobs`` call on the target."""

Progress = Callable[[int, int], None]
"""``(jobs done so far, jobs to do)``: called after each page."""


def imported(job: StoredJob) -> ImportedJob:
    """The import record of a job read from a source namespace.

    The one place that lists what a copied job carries: a field added to stored jobs
    (a unique key, a limit key) is copied here and stored by each engine's import."""
    state = JobState(job.state)
    peek = peek_envelope(job.raw)
    finished = state in FINISHED_STATES
    due = state in (JobState.SCHEDULED, JobState.RETRY)
    # A finished job's error is recorded beside it; a retry or dead job's is in its
    # envelope, which the SQL engine also indexes.
    error = job.last_error if finished else (job.last_error or peek.last_error)
    finished_at = job.finished_at or job.updated_at or time.time()
    return ImportedJob(
        job_id=job.job_id,
        job_name=peek.job_name or DEFAULT_JOB_NAME,
        raw=job.raw,
        state=state,
        queue=job.queue,
        priority=job.priority,
        due_at=(job.due_at if job.due_at is not None else time.time()) if due else None,
        updated_at=job.updated_at if state in (JobState.QUEUED, JobState.DEAD) else None,
        last_error=error if (finished or state in (JobState.RETRY, JobState.DEAD)) else None,
        result=job.result if finished else None,
        started_at=job.started_at if finished else None,
        finished_at=finished_at if finished else None,
        expires_at=(job.expires_at or finished_at) if finished else None,
        progress=job.progress if finished else None,
        unique_key=_unique_key(peek.unique_key),
        limit_key=job.limit_key,
    )


def _unique_key(key: str | None) -> str | None:
    """An envelope's unique key, if it is one wg accepts (a foreign writer's bad key is
    left in the envelope, not held: the job is copied all the same)."""
    try:
        return None if key is None else validate_unique_key(key)
    except ValueError:
        return None


def _per_state() -> dict[JobState, int]:
    return dict.fromkeys(COPIED_STATES, 0)


@dataclass(slots=True, kw_only=True)
class MigrationReport:
    """What ``migrate`` did (or, with ``dry_run``, would do)."""

    source: str
    """The source backend, credentials redacted."""
    target: str
    """The target backend, credentials redacted."""
    namespace: str
    queue: str | None
    dry_run: bool
    move: bool
    found: dict[JobState, int] = field(default_factory=_per_state)
    """Jobs of each copied state in the source (read, or counted for a dry run)."""
    copied: dict[JobState, int] = field(default_factory=_per_state)
    """Jobs of each state the target stored."""
    skipped: dict[JobState, int] = field(default_factory=_per_state)
    """Jobs the target had already (an earlier run copied them): not copied again."""
    deleted: int = 0
    """Jobs deleted from the source (``move``)."""
    running: int = 0
    """RUNNING jobs in the source, not copied."""
    paused: list[str] = field(default_factory=list)
    """Pause flags set on the target: ``*`` for the namespace, else queue names."""
    active_workers: int = 0
    """Workers of the source seen within ``ACTIVE_WITHIN`` (non-zero only with force)."""

    @property
    def total_copied(self) -> int:
        """Jobs the target stored, all states."""
        return sum(self.copied.values())

    @property
    def total_found(self) -> int:
        """Jobs found in the copied states, all states."""
        return sum(self.found.values())

    def as_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready data (``wg migrate --json``)."""

        def by_state(counts: Mapping[JobState, int]) -> dict[str, int]:
            return {str(state): counts[state] for state in COPIED_STATES}

        return {
            "source": self.source,
            "target": self.target,
            "namespace": self.namespace,
            "queue": self.queue,
            "dry_run": self.dry_run,
            "move": self.move,
            "found": by_state(self.found),
            "copied": by_state(self.copied),
            "skipped": by_state(self.skipped),
            "deleted": self.deleted,
            "running_not_copied": self.running,
            "paused": list(self.paused),
            "active_workers": self.active_workers,
        }


def _unchecked(backend: Backend) -> Backend:
    return backend.inner if isinstance(backend, CheckedBackend) else backend


def _same_storage(source: Backend, target: Backend) -> bool:
    if _unchecked(source) is _unchecked(target):
        return True
    # Two memory backends both show "memory:" but are distinct stores.
    in_process = source.display_url.startswith("memory:")
    return (
        not in_process
        and source.display_url == target.display_url
        and source.namespace == target.namespace
    )


async def migrate(
    source: Backend,
    target: Backend,
    *,
    queue: str | None = None,
    dry_run: bool = False,
    move: bool = False,
    force: bool = False,
    batch_size: int = DEFAULT_BATCH,
    active_within: float = ACTIVE_WITHIN,
    on_progress: Progress | None = None,
    clock: Callable[[], float] = time.time,
) -> MigrationReport:
    """Copy the jobs of ``source`` (every queue, or only ``queue``) to ``target``, both
    opened by the caller (``source`` may be opened as a reader, ``create=False``;
    ``dry_run`` writes to neither and needs ``target`` unopened at most). See the
    module docstring for what is copied and the guarantees.

    Raises ``ValueError`` for bad arguments (the same storage on both sides, a bad
    queue name or batch size) and ``ActiveWorkersError`` when the source has workers
    seen within ``active_within`` seconds, unless ``force``."""
    if _same_storage(source, target):
        raise ValueError("the source and the target are the same namespace on the same backend")
    if queue is not None:
        validate_queue(queue)
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, not {batch_size!r}")
    source, target = checked(source), checked(target)
    report = MigrationReport(
        source=source.display_url,
        target=target.display_url,
        namespace=source.namespace,
        queue=queue,
        dry_run=dry_run,
        move=move,
    )
    now = clock()
    active = [w for w in await source.list_workers() if now - w.last_seen <= active_within]
    report.active_workers = len(active)
    if active and not force:
        names = ", ".join(f"{w.worker_id} on {w.host}" for w in active[:3])
        more = f" and {len(active) - 3} more" if len(active) > 3 else ""
        raise ActiveWorkersError(
            f"namespace {source.namespace!r} has {len(active)} active worker(s) ({names}{more}),"
            f" seen within the last {active_within:g} s: stop them first (the jobs they run"
            " are not copied, and jobs they move while copying may be copied in a state"
            " they have left), or force the migration"
        )
    counts = await source.counts(queue=queue)
    report.running = counts.running
    for state in COPIED_STATES:
        report.found[state] = getattr(counts, str(state))
    if dry_run:
        return report
    total = report.total_found
    report.found = _per_state()  # counted again as read: the source may change meanwhile
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        if on_progress is not None:
            on_progress(done, max(total, done))

    for state in COPIED_STATES:
        await _copy_state(source, target, state, queue, batch_size, move, report, advance)
    await _copy_pauses(source, target, queue, report)
    return report


async def _copy_state(
    source: Backend,
    target: Backend,
    state: JobState,
    queue: str | None,
    batch_size: int,
    move: bool,
    report: MigrationReport,
    advance: Callable[[int], None],
) -> None:
    """Copy (or move) every job of ``state``, page by page."""

    def read(offset: int) -> Coroutine[Any, Any, list[StoredJob]]:
        return source.list_jobs(JobQuery(state=state, limit=batch_size, offset=offset, queue=queue))

    offset = 0
    ahead: asyncio.Future[list[StoredJob]] | None = None
    try:
        page = await read(0)
        while page:
            full = len(page) == batch_size
            if full and not move:
                # A copy knows where the next page starts: read it while this one is
                # converted and written. (A move learns it only once it has deleted.)
                ahead = asyncio.ensure_future(read(offset + len(page)))
            stored = await target.import_jobs([imported(job) for job in page])
            report.found[state] += len(page)
            report.copied[state] += stored
            report.skipped[state] += len(page) - stored
            if move:
                # Committed on the target (or there already): only now leave the source.
                gone = await source.delete_jobs([job.job_id for job in page])
                report.deleted += gone
                offset += len(page) - gone
            else:
                offset += len(page)
            advance(len(page))
            if not full:
                return
            page, ahead = (await ahead if ahead is not None else await read(offset)), None
    finally:
        if ahead is not None:
            ahead.cancel()
            with contextlib.suppress(BaseException):
                await ahead


async def _copy_pauses(
    source: Backend, target: Backend, queue: str | None, report: MigrationReport
) -> None:
    """Pause on the target what is paused on the source (never resume anything)."""
    if queue is None and await source.is_paused():
        await target.set_paused(True)
        report.paused.append("*")
    for info in await source.queues():
        if info.paused and queue in (None, info.name):
            await target.set_paused(True, queue=info.name)
            report.paused.append(info.name)


async def migrate_urls(
    source_url: str,
    target_url: str,
    *,
    namespace: str = "wg",
    queue: str | None = None,
    dry_run: bool = False,
    move: bool = False,
    force: bool = False,
    batch_size: int = DEFAULT_BATCH,
    active_within: float = ACTIVE_WITHIN,
    on_progress: Progress | None = None,
) -> MigrationReport:
    """``migrate`` between two backend URLs (``wg_core.urls``), namespace ``namespace``
    on both: opens the source as a reader (it creates nothing there) and the target as
    a writer (creating the namespace; not at all for a dry run), and closes both."""
    if source_url.strip() == target_url.strip() and not source_url.startswith("memory:"):
        raise ValueError(
            f"the source and the target are the same URL ({redact_url(source_url)}):"
            " give another --to"
        )
    source = backend_from_url(source_url, namespace)
    target = backend_from_url(target_url, namespace)
    try:
        await source.open(create=False)
        if not dry_run:
            await target.open()
        return await migrate(
            source,
            target,
            queue=queue,
            dry_run=dry_run,
            move=move,
            force=force,
            batch_size=batch_size,
            active_within=active_within,
            on_progress=on_progress,
        )
    finally:
        try:
            await source.close()
        finally:
            await target.close()
