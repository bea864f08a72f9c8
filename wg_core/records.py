"""The value types of the backend contract (``wg_core.backend``): what goes in and out
of a backend, in domain terms. Plain frozen dataclasses and enums, no behaviour."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Final

from wg_core.queues import DEFAULT_QUEUE

__all__ = [
    "FINISHED_STATES",
    "Attempt",
    "CancelOutcome",
    "Completion",
    "Counters",
    "HeartbeatReply",
    "ImportedJob",
    "JobQuery",
    "JobState",
    "Move",
    "NewJob",
    "Progress",
    "QueueInfo",
    "StateCounts",
    "StoredJob",
    "WorkerInfo",
    "claimed_attempt",
]


class JobState(enum.StrEnum):
    """Where a job is. COMPLETED and CANCELLED jobs are kept for their ``keep``
    seconds in wg's own storage (never in the Rust wg's structures), then pruned."""

    QUEUED = "queued"
    SCHEDULED = "scheduled"
    RETRY = "retry"
    RUNNING = "running"
    DEAD = "dead"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


FINISHED_STATES: Final = frozenset({JobState.COMPLETED, JobState.CANCELLED})
"""The states a job is kept in for a retention period, with ``finished_at`` and
``expires_at``, and from which ``prune`` deletes it. (A DEAD job has ended too, and
``wait_finished`` returns it, but it stays until an operator acts.)"""


class CancelOutcome(enum.StrEnum):
    """What ``Backend.cancel`` did."""

    CANCELLED = "cancelled"
    """The job was waiting (queued, scheduled, retry or dead): it is CANCELLED now."""
    REQUESTED = "requested"
    """The job is RUNNING: its cancel is requested and its worker signalled."""
    NOT_CANCELLABLE = "not_cancellable"
    """Already completed or cancelled, or no such job."""


@dataclass(frozen=True, slots=True)
class NewJob:
    """A job to store. ``raw`` is the encoded envelope; ``job_id`` and ``job_name`` are
    copies of its fields for indexing. ``delay`` > 0 stores it SCHEDULED, due that many
    seconds from now on the backend's clock; otherwise QUEUED. ``queue`` and
    ``priority`` are validated by ``Client`` (``wg_core.queues``).

    ``unique_key`` (issue 19): store the job only if no job holds that key (see
    ``wg_core.unique`` for when a key is held); ``unique_for`` > 0 keeps the key held
    that many seconds after this enqueue (backend clock), even once the job ended.

    ``limit_key``: the key a per-key limit of ``queue`` counts the job under
    (``wg_core.limits``), validated by ``Client`` too."""

    job_id: str
    job_name: str
    raw: str
    delay: float = 0.0
    queue: str = DEFAULT_QUEUE
    priority: int = 0
    unique_key: str | None = None
    unique_for: float = 0.0
    limit_key: str | None = None
    """The key a per-key limit of ``queue`` counts the job under (``wg_core.limits``);
    stored in wg's own storage, never in the envelope."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One claimed run of a job: the handle for every later transition.

    ``key`` is the backend's own handle for the stored job (a row id, a list entry...),
    opaque to callers; ``token`` is unique to this attempt; ``raw`` is the stored text
    exactly as read (it may not even be valid JSON: callers decode it). ``queue`` is
    the job's queue. ``cancel_requested`` is set on an attempt ``reclaim_expired``
    returns when the job's cancel was requested (the reaper finishes it cancelled).
    """

    key: str
    token: str
    raw: str
    queue: str = DEFAULT_QUEUE
    cancel_requested: bool = False


_SET_KEY, _SET_TOKEN, _SET_RAW, _SET_QUEUE, _SET_CANCEL = (
    Attempt.__dict__[name].__set__ for name in ("key", "token", "raw", "queue", "cancel_requested")
)


def claimed_attempt(key: str, token: str, raw: str, queue: str) -> Attempt:
    """``Attempt(key, token, raw, queue)`` for a backend's claim, built through the
    slots' own setters: half the cost of the frozen dataclass's ``__init__``, once per
    claimed job (docs/benchmarks.md)."""
    attempt: Attempt = object.__new__(Attempt)
    _SET_KEY(attempt, key)
    _SET_TOKEN(attempt, token)
    _SET_RAW(attempt, raw)
    _SET_QUEUE(attempt, queue)
    _SET_CANCEL(attempt, False)
    return attempt


@dataclass(frozen=True, slots=True)
class Completion:
    """A finished attempt with its result, for ``Backend.complete``: the job is kept
    COMPLETED with ``result`` (encoded JSON text, ``None`` for none) for ``keep``
    seconds; ``keep`` 0 deletes it at once, like a bare ``Attempt``."""

    attempt: Attempt
    result: str | None = None
    keep: float = 0.0


@dataclass(frozen=True, slots=True)
class Progress:
    """A running job's progress: ``fraction`` from 0 to 1 and an optional message
    (at most ``wg_core.dispatch.MAX_PROGRESS_MESSAGE`` characters). ``updated_at`` is
    set by the backend (its clock) when stored; callers leave it ``None``."""

    fraction: float
    message: str | None = None
    updated_at: float | None = None


@dataclass(frozen=True, slots=True)
class StoredJob:
    """A job as the admin side sees it.

    ``due_at``: when a SCHEDULED/RETRY job becomes due (Unix seconds, backend clock).
    ``lease_until`` and ``worker_id``: for RUNNING jobs. ``updated_at``: when the job
    entered its current state (for DEAD: when it died; for COMPLETED/CANCELLED: when it
    finished), if the backend knows. ``queue`` and ``priority``: as stored with the job.

    Issue 18: ``result`` (encoded JSON text) of a COMPLETED job; ``started_at`` (when
    its last attempt was claimed, if the backend knows), ``finished_at`` and
    ``expires_at`` of a COMPLETED/CANCELLED job; ``progress`` of a RUNNING job (kept as
    it was when the job finished); ``cancel_requested`` of a RUNNING job whose cancel
    was requested; ``last_error`` recorded outside the envelope (``finish_cancelled``'s
    error; the envelope of a finished job is kept as it was when it ran).

    Issue 20: ``limit_key``, the key a per-key limit counts the job under, as it was
    enqueued with (kept in wg's own storage by job id, in every state).
    """

    job_id: str
    state: JobState
    raw: str
    due_at: float | None = None
    lease_until: float | None = None
    worker_id: str | None = None
    updated_at: float | None = None
    queue: str = DEFAULT_QUEUE
    priority: int = 0
    result: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    expires_at: float | None = None
    progress: Progress | None = None
    cancel_requested: bool = False
    last_error: str | None = None
    limit_key: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportedJob:
    """A job to store as it stands in another namespace (``Backend.import_jobs``, which
    ``wg migrate`` calls): in ``state`` (any but RUNNING), with its id, queue, priority
    and times kept. Every time is absolute Unix seconds (the source backend's clock).

    ``due_at``: when a SCHEDULED or RETRY job is due (required for those states; a
    time already passed makes it due at once). ``updated_at``: when a QUEUED job was
    enqueued or a DEAD job died (``None``: now). ``last_error``: a RETRY or DEAD job's
    error (as its envelope carries it, for the backends that index it), a CANCELLED
    job's recorded reason. ``result``, ``started_at``, ``finished_at``, ``expires_at``
    (both required for COMPLETED and CANCELLED) and ``progress``: as ``StoredJob``'s.

    ``limit_key``: stored with the job as ``NewJob.limit_key`` is. ``unique_key``: the
    key the envelope carries (``Envelope.unique_key``); a QUEUED, SCHEDULED or RETRY
    job takes its hold in the same transaction / script as it is stored, unless another
    job holds the key here (then the job is stored all the same and the other job keeps
    the hold). The hold has no ``unique_for`` part: the source's expiry is not readable
    through the contract. Other states take no hold (they hold none without it).

    Fields other helpers add to stored jobs belong here too, copied in
    ``wg_core.migrating.imported``."""

    job_id: str
    job_name: str
    raw: str
    state: JobState
    queue: str = DEFAULT_QUEUE
    priority: int = 0
    due_at: float | None = None
    updated_at: float | None = None
    last_error: str | None = None
    result: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    expires_at: float | None = None
    progress: Progress | None = None
    unique_key: str | None = None
    limit_key: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class JobQuery:
    """What ``list_jobs`` returns: a page of the jobs in ``state``.

    Order: for QUEUED, enqueue order (oldest first; a released job keeps its place;
    priority and queue order are the claim's business, not the listing's), due time for
    SCHEDULED/RETRY, claim order for RUNNING, burial order for DEAD, finish order for
    COMPLETED/CANCELLED; ``newest_first`` reverses it. Filters (``None``: no filter):
    ``queue`` exactly; ``job_name`` exactly; ``error_contains`` anywhere in
    ``last_error``; ``text_contains`` anywhere in the stored envelope text (id, job
    name, payload, error); both case-insensitively, ASCII case folding. ``offset`` and
    ``limit`` count matching jobs. Validated by the checked-dispatch layer."""

    state: JobState
    limit: int
    offset: int = 0
    newest_first: bool = False
    queue: str | None = None
    job_name: str | None = None
    error_contains: str | None = None
    text_contains: str | None = None


@dataclass(frozen=True, slots=True)
class Move:
    """Admin move of one job from ``from_state`` to QUEUED, replacing its envelope with
    ``raw`` (e.g. ``retry_count`` reset). Applies only if the job is still in
    ``from_state`` (COMPLETED and CANCELLED jobs run again this way). The job keeps
    its queue and priority."""

    job_id: str
    from_state: JobState
    raw: str


@dataclass(frozen=True, slots=True)
class StateCounts:
    """How many jobs are in each state, and when the oldest queued one was enqueued
    (Unix seconds, ``None`` when the queue is empty or the backend cannot tell)."""

    queued: int = 0
    scheduled: int = 0
    retry: int = 0
    running: int = 0
    dead: int = 0
    oldest_queued_at: float | None = None
    completed: int = 0
    cancelled: int = 0

    @property
    def total(self) -> int:
        """All jobs not yet finished (completed and cancelled ones are not counted)."""
        return self.queued + self.scheduled + self.retry + self.running + self.dead

    @property
    def finished(self) -> int:
        """Completed and cancelled jobs still kept."""
        return self.completed + self.cancelled


@dataclass(frozen=True, slots=True)
class Counters:
    """Monotonic totals since the namespace was created: completed attempts
    (``processed``) and failed attempts (``failed``: retried or buried). A cancel
    counts as neither."""

    processed: int = 0
    failed: int = 0


@dataclass(frozen=True, slots=True)
class QueueInfo:
    """One named queue: its jobs per state, its totals and whether it is paused (on
    its own: the namespace-wide pause is ``Backend.is_paused()``)."""

    name: str
    counts: StateCounts
    counters: Counters
    paused: bool = False


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A worker pool as registered in the backend (shown by ``wg inspect workers``).

    ``started_at`` and ``last_seen`` are Unix seconds; ``last_seen`` is set by the
    backend on each heartbeat (its clock), whatever the caller passes.
    """

    worker_id: str
    host: str
    pid: int
    concurrency: int
    running: int = 0
    started_at: float = 0.0
    last_seen: float = 0.0
    state: str = "running"
    """``running`` or ``draining``."""
    stop_requested: bool = False
    job_names: tuple[str, ...] = ()
    queues: tuple[str, ...] = (DEFAULT_QUEUE,)
    """The queues the pool serves, in its claiming order."""


@dataclass(frozen=True, slots=True)
class HeartbeatReply:
    """What a heartbeat learned: tokens whose lease is gone (another worker may own
    those jobs now), tokens still held whose job's cancel was requested (the worker
    cancels their handlers, then calls ``finish_cancelled``), and whether an operator
    asked this worker to stop."""

    lost: frozenset[str] = field(default_factory=frozenset)
    stop_requested: bool = False
    cancelled: frozenset[str] = field(default_factory=frozenset)
