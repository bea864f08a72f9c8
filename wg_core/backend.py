"""The backend contract: what a storage engine must do for wg, in domain terms.

A backend stores job envelopes (opaque JSON text to it) and moves them between states
*atomically*. It never parses envelopes on the hot path, never decides whether a job
is retried, never generates ids or timestamps for envelopes: ``Client`` and
``WorkerPool`` do that once, above every backend. Every backend passes the same
conformance suite (``tests/conformance``).

States and where a job lives::

    enqueue ──► QUEUED ──claim──► RUNNING ──complete──► COMPLETED, with its result, for
       │          ▲   ▲              │ │ │               ``keep`` seconds (0: deleted at
       │          │   │              │ │ │               once), processed += 1
       │          │   │              │ │ └─finish_cancelled (cancel requested)─► CANCELLED
       │          ▲   ▲              │ │ └──release──► QUEUED (front, no attempt used)
       │          │   │              │ └────bury─────► DEAD (failed += 1)
       └► SCHEDULED   └──promote── RETRY ◄──retry──┘ (failed += 1)
           (promote when due)         ▲
                                      └── reclaim_expired: a RUNNING job whose lease ran out
                                          is re-leased to the reaper, which retries or buries it

    cancel: QUEUED / SCHEDULED / RETRY / DEAD ──► CANCELLED at once; RUNNING: requested,
    the holding worker learns through its heartbeat and calls ``finish_cancelled``.
    prune: COMPLETED / CANCELLED jobs whose ``keep`` ran out are deleted.

Guarantees every backend gives:

* **Claim is atomic and leased.** ``claim`` moves up to ``limit`` jobs from QUEUED
  to RUNNING, each under a lease (a deadline on the backend's clock) and a fresh random
  ``token`` naming this attempt. Two concurrent claims never return the same attempt.
  A job is never outside durable storage.
* **Queues and priorities.** Every job belongs to one named queue (``default`` unless
  given) at one priority (``0`` unless given; see ``wg_core.queues``), and keeps both
  through every state (scheduled, retried, dead, requeued). ``claim(queues=...)`` takes
  jobs from the listed queues in *strict* order: a later queue only while the earlier
  ones have nothing ready (or are paused). Within a queue, higher priority first; within
  one priority, FIFO (oldest first; released jobs keep their place at the front). The
  queue ``default`` at priority 0 lives in the Rust wg's structures.
* **Layout versions.** Each namespace records the version of its storage layout
  (``LAYOUT_VERSION``). A writer's ``open`` upgrades an older namespace in place,
  idempotently, under the backend's own lock, losing and re-running nothing; a reader's
  ``open(create=False)`` never upgrades and refuses a namespace whose layout is older
  (``SchemaOutdatedError``) or newer (``SchemaError``) than it can read.
* **Transitions are compare-and-set on the attempt.** ``complete``, ``retry``,
  ``bury``, ``release`` and lease renewal act only if the job is still RUNNING under
  that ``token``; otherwise they change nothing and report it (the worker lost its
  lease, and someone else owns the job now).
* **Due times and leases use the backend's clock**: the server's for Redis and SQL
  servers, an injectable clock for the memory and SQLite backends. Callers pass
  *relative* delays.
* **Promotion is exactly-once**: with many pools promoting at once, each due job is
  moved to QUEUED once.
* **Counters** (``processed``, ``failed``) change in the same atomic step as the
  transition that causes them.
* **Results and cancellation** (issue 18). ``complete`` stores each job's result with
  it for ``keep`` seconds (a bare ``Attempt`` keeps nothing: today's delete).
  ``cancel`` is a compare-and-set like every transition: a waiting job becomes
  CANCELLED and is never claimed afterwards; a RUNNING one is marked, and exactly one
  of its completion and its cancellation takes effect. ``prune`` deletes expired
  COMPLETED/CANCELLED jobs in bounded batches, each exactly once however many pools
  prune. ``wait_finished`` and ``wait_cancel_request`` wait on the backend's own
  signal (LISTEN/NOTIFY, Redis blocking calls or pub/sub, in-process wake-ups), short
  polling only where the backend has none.
* **Periodic entries** (issue 19, layout 4). ``register_periodic`` makes the
  namespace's registry of periodic entries the given list (one transaction / script);
  ``fire_periodic`` claims one tick of an entry and stores its job in ONE atomic step,
  a compare-and-set on the entry's last tick: however many pools fire the same tick
  at once, exactly one stores its job. A fire carries the pool's definition of the
  entry and re-creates it in that same step when a registration of another pool
  (declaring another list) deleted it, so that no live pool's tick is lost.
* **Limits** (issue 20, ``wg_core.limits``): a queue's concurrency and rate limits,
  whole or per ``limit_key``, are enforced by ``claim`` atomically with the claim
  (running jobs under a live lease counted, starts logged in a sliding window), so
  every pool of the namespace obeys them and a crashed worker's slots come back with
  its expired leases. A claim blocked by a limit takes from its later queues; its
  wait ends when a slot frees (a transition of a limited queue wakes claimers) or the
  rate's window frees a start, not at a polling interval.
* **Pause** is stored in the backend, for the whole namespace or one queue: while the
  namespace is paused ``claim`` returns nothing; a paused queue is skipped.

Cancelling a backend call is safe while it *waits* (``claim(wait=...)``); cancelling
mid-transition may leave a job RUNNING under a lease nobody renews, which the reaper
then recovers. Nothing is lost either way.

Driver errors are translated at the adapter edge into ``wg_core.errors.BackendError``
(``BackendUnavailableError`` when the server cannot be reached).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol, runtime_checkable

from wg_core.limits import QueueLimit
from wg_core.periodic_records import PeriodicEntry, PeriodicInfo
from wg_core.queues import DEFAULT_QUEUE
from wg_core.records import (
    FINISHED_STATES,
    Attempt,
    CancelOutcome,
    Completion,
    Counters,
    HeartbeatReply,
    ImportedJob,
    JobQuery,
    JobState,
    Move,
    NewJob,
    Progress,
    QueueInfo,
    StateCounts,
    StoredJob,
    WorkerInfo,
)

LAYOUT_VERSION: Final = 5
"""The storage layout this wg writes. 1: the layout of the first release (the Rust wg's
structures plus wg's leases, workers and counters); 2: named queues and priorities;
3: completed and cancelled jobs with results, progress and cancel requests;
4: unique keys' holds (``{ns}_unique``, Redis ``{ns}:unique``), the registry of
periodic entries (``{ns}_periodic``; Redis ``{ns}:periodic`` and ``{ns}:periodic_runs``)
and queue limits (each engine's limits, start log and jobs' limit keys); 5: the SQL
servers' state counts kept by triggers (``{ns}_counts`` on PostgreSQL and MySQL; nothing
changes on SQLite, whose counts read its indexes, or Redis, whose counts were always
O(1)).
0: no version recorded (a namespace the Rust wg created, or an SQL namespace of wg's
first release, which recorded none; Redis namespaces of layout 1 read as 1). Every one of
them upgrades in place."""

__all__ = [
    "FINISHED_STATES",
    "LAYOUT_VERSION",
    "Attempt",
    "Backend",
    "CancelOutcome",
    "Completion",
    "Counters",
    "HeartbeatReply",
    "ImportedJob",
    "JobQuery",
    "JobState",
    "Move",
    "NewJob",
    "PeriodicEntry",
    "PeriodicInfo",
    "Progress",
    "QueueInfo",
    "QueueLimit",
    "StateCounts",
    "StoredJob",
    "WorkerInfo",
]


@runtime_checkable
class Backend(Protocol):
    """A storage engine for wg. See the module docstring for the guarantees."""

    @property
    def namespace(self) -> str:
        """The validated namespace this backend stores under."""
        ...

    @property
    def display_url(self) -> str:
        """Where the backend stores, with any credentials redacted."""
        ...

    @property
    def supports_transactional_enqueue(self) -> bool:
        """Whether ``enqueue(..., connection=...)`` accepts the caller's own connection."""
        ...

    async def open(self, *, create: bool = True) -> None:
        """Connect, create the storage if missing and upgrade an older layout to
        ``LAYOUT_VERSION`` (idempotent, safe to race: several writers opening at once
        create or upgrade it exactly once, under the backend's lock).

        ``create=False`` is how readers (``wg status``, ``wg inspect``, the TUI) open:
        connect only, create and upgrade nothing (no file, table or key), and raise
        ``NamespaceNotFoundError`` if this namespace was never created here,
        ``SchemaOutdatedError`` if its layout is older than ``LAYOUT_VERSION`` (a
        writer's ``open``, or ``wg upgrade``, upgrades it).
        """
        ...

    async def layout_version(self) -> int:
        """The layout version recorded for this namespace (0: created by the Rust wg,
        or by a wg that recorded none)."""
        ...

    def clone(self) -> Backend:
        """A new, unopened backend on the same storage with the same settings, for use
        from another thread and event loop (the worker pool's lease keeper renews
        leases from its own thread, so a blocked event loop cannot stop it). A backend
        whose data lives in this process (memory, in-memory SQLite) returns one that
        shares that data, safe to call from any thread.
        """
        ...

    async def close(self) -> None:
        """Release connections. Safe to call twice."""
        ...

    async def destroy(self) -> None:
        """Delete everything stored under this namespace (tables or keys), for tests
        and decommissioning. Irreversible. The backend stays usable (``open`` recreates)."""
        ...

    # -- producing ---------------------------------------------------------------------

    async def enqueue(
        self, jobs: Sequence[NewJob], *, connection: object | None = None
    ) -> list[str]:
        """Store ``jobs`` in one atomic step (all or none) and wake idle claimers.
        A job id already stored raises ``DuplicateJobError`` and stores nothing.

        Unique keys (``NewJob.unique_key``, see ``wg_core.unique``): a job whose key is
        held by another job is not stored (a duplicate, not an error); a later job of
        the batch with the key of an earlier one is a duplicate of it. Taking a key,
        taking over an expired hold and storing the job are one atomic step with
        respect to every other producer (a unique index, one script), never a check
        followed by an insert. Returns one id per job, in order: the job's own id if
        it was stored, else the id of the job that holds its key.

        With ``connection`` (only where ``supports_transactional_enqueue``), write through
        the caller's connection inside the caller's transaction.
        """
        ...

    # -- working -----------------------------------------------------------------------

    async def claim(
        self,
        *,
        limit: int,
        lease: float,
        worker_id: str,
        wait: float = 0.0,
        queues: Sequence[str] = (DEFAULT_QUEUE,),
    ) -> list[Attempt]:
        """Lease up to ``limit`` QUEUED jobs of ``queues`` for ``lease`` seconds: the
        first queue's jobs before any of the second's, and so on (a paused queue is
        skipped); within a queue, higher priority first, then oldest first.

        When none is ready, wait up to ``wait`` seconds for one (woken by enqueue,
        promotion or release, not by polling where the backend has a native signal)
        and return what a second try finds; ``[]`` on timeout or while the namespace
        is paused.
        """
        ...

    async def complete(self, attempts: Sequence[Attempt | Completion]) -> int:
        """Finish jobs still held under their tokens; ``processed += n``. Each one
        becomes COMPLETED with its ``result`` for ``keep`` seconds (``finished_at``
        now, ``expires_at`` now + keep), or is deleted at once when ``keep`` is 0 (a
        bare ``Attempt``). Wakes ``wait_finished`` callers.

        Returns how many were still held (the rest lost their lease: nothing changes).
        """
        ...

    async def retry(self, attempt: Attempt, *, raw: str, delay: float, error: str | None) -> bool:
        """RUNNING → RETRY due in ``delay`` seconds, envelope replaced by ``raw``;
        ``failed += 1``. False (and nothing changed) if the attempt lost its lease.

        ``error`` is the envelope's ``last_error`` as the caller wrote it into ``raw``,
        passed along so that no backend parses the envelope to index it."""
        ...

    async def bury(self, attempt: Attempt, *, raw: str, error: str | None) -> bool:
        """RUNNING → DEAD with envelope ``raw`` (``error`` as for ``retry``);
        ``failed += 1``; the job's ``updated_at`` becomes its time of death.
        False if the lease was lost."""
        ...

    async def release(self, attempts: Sequence[Attempt]) -> int:
        """RUNNING → QUEUED at the *front* of its queue and priority, envelope
        unchanged, no attempt consumed (shutdown). Returns how many were still held."""
        ...

    async def heartbeat(
        self, worker: WorkerInfo, *, attempts: Sequence[Attempt], lease: float
    ) -> HeartbeatReply:
        """Register/refresh ``worker`` and extend the leases of ``attempts`` to
        ``lease`` seconds from now. Reports attempts no longer held, and held attempts
        whose job's cancel was requested."""
        ...

    async def finish_cancelled(self, attempt: Attempt, *, keep: float, error: str | None) -> bool:
        """RUNNING → CANCELLED for a held attempt (its cancel was requested), kept
        ``keep`` seconds (0: deleted at once); ``error`` (e.g. "cancelled by request")
        is recorded as the job's last error. Not counted as processed or failed.
        False if the attempt lost its lease."""
        ...

    async def set_progress(self, attempt: Attempt, progress: Progress) -> bool:
        """Record a held attempt's progress (``updated_at`` is set by the backend).
        False if the attempt lost its lease."""
        ...

    async def wait_cancel_request(self, *, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a cancel request of any RUNNING job of
        this namespace (the lease keeper then heartbeats at once, so that a cancel
        reaches its handler within 2 s by default). True if one was signalled. Where
        the backend has no signal it may poll, at most every 0.5 s, or return False
        at the timeout."""
        ...

    async def unregister_worker(self, worker_id: str) -> None:
        """Remove a worker from the registry (clean shutdown)."""
        ...

    async def promote(self, state: JobState, *, limit: int) -> int:
        """Move up to ``limit`` due SCHEDULED (or RETRY) jobs to QUEUED, each exactly
        once across all callers; wake idle claimers. Returns how many moved."""
        ...

    async def reclaim_expired(
        self, *, limit: int, lease: float, worker_id: str, silent_after: float | None = None
    ) -> list[Attempt]:
        """Take over up to ``limit`` RUNNING jobs whose lease has expired, under new
        tokens and a new lease, for the caller to retry or bury (a crash counts as a
        failed attempt). Also forgets workers silent for much longer than a lease.

        With ``silent_after``, also take over jobs whose lease has not expired yet but
        whose worker is registered and has not heartbeaten for ``silent_after`` seconds
        (it died: recover its jobs without waiting out the lease). A job whose worker
        has no registry entry, or was seen within ``silent_after``, or that was
        claimed within ``silent_after`` (a claim is a sign of life: after a server
        restart a pool's claims may come back before its heartbeats do), or whose
        worker is ``worker_id`` itself (the caller is running), is never taken before
        its lease expires."""
        ...

    # -- admin -------------------------------------------------------------------------

    async def cancel(self, job_id: str, *, keep: float) -> CancelOutcome:
        """Cancel one job, atomically with respect to every other transition: a
        QUEUED, SCHEDULED, RETRY or DEAD job becomes CANCELLED now (kept ``keep``
        seconds; ``finished_at`` now) and is never claimed afterwards; a RUNNING job
        is marked (``cancel_requested``) and its worker is signalled (see
        ``wait_cancel_request``); anything else is ``NOT_CANCELLABLE``. Racing a
        completion, exactly one of them takes effect."""
        ...

    async def wait_finished(self, job_id: str, *, timeout: float) -> StoredJob | None:
        """The job once it is COMPLETED, CANCELLED or DEAD, waiting up to ``timeout``
        seconds for that on the backend's signal; at the timeout, the job as it is
        then; ``None`` if no job has that id (never stored, deleted or pruned)."""
        ...

    async def prune(self, *, limit: int) -> int:
        """Delete up to ``limit`` COMPLETED/CANCELLED jobs whose ``expires_at`` has
        passed (backend clock), oldest expiry first; each exactly once across all
        callers. Returns how many were deleted."""
        ...

    async def counts(self, *, queue: str | None = None) -> StateCounts:
        """Jobs per state, of one queue or (``None``) of the whole namespace."""
        ...

    async def counters(self, *, queue: str | None = None) -> Counters:
        """Processed/failed totals, of one queue or of the whole namespace."""
        ...

    async def recount(self) -> bool:
        """Count the stored jobs again and replace the kept state counts with that count
        (a backend that keeps counts beside the jobs: what a writer that bypassed them
        made wrong, e.g. a ``TRUNCATE`` on MySQL). Safe while workers run. Returns
        ``False`` where ``counts`` counts the jobs themselves (nothing to repair)."""
        ...

    async def queues(self) -> list[QueueInfo]:
        """Every queue that holds a job in any state, is paused, or has counted a
        processed or failed job; by name. The queue ``default`` is always listed."""
        ...

    async def list_jobs(self, query: JobQuery) -> list[StoredJob]:
        """A page of one state (see ``JobQuery`` for the order and the filters)."""
        ...

    async def get_job(self, job_id: str) -> StoredJob | None:
        """The job with that id in any state, or ``None``."""
        ...

    async def import_jobs(self, jobs: Sequence[ImportedJob]) -> int:
        """Store jobs copied from another namespace, each in its own state with its
        times (``ImportedJob``), for ``wg migrate``. A job whose id is already stored
        here, in any state, is skipped, atomically (the id's unique index, one script:
        never a check in Python then a write), so that importing the same jobs twice
        stores each once. The batch is one transaction / script call. QUEUED jobs go to
        the back of their queue and priority in the order given, and wake idle
        claimers; DEAD and finished jobs follow those already there in listing order.
        Counters, pause flags and workers are not touched. Returns how many were
        stored."""
        ...

    async def move_to_queue(self, moves: Sequence[Move]) -> int:
        """Apply admin moves (requeue dead, run scheduled/retry now) atomically per job;
        returns how many moved (a job no longer in ``from_state`` is skipped)."""
        ...

    async def delete_jobs(self, job_ids: Sequence[str]) -> int:
        """Delete jobs by id in any state except RUNNING (finished ones too);
        returns how many."""
        ...

    async def purge(self, state: JobState, *, queue: str | None = None) -> int:
        """Delete every job in ``state`` (not RUNNING), of one queue or of all;
        returns how many."""
        ...

    async def set_paused(self, paused: bool, *, queue: str | None = None) -> None:
        """Pause or resume claiming for the whole namespace (``queue=None``) or for
        one queue. The two are independent: resuming a queue does not resume a paused
        namespace."""
        ...

    async def is_paused(self, *, queue: str | None = None) -> bool:
        """Whether the namespace (``queue=None``) or that queue is paused (on its
        own)."""
        ...

    async def list_workers(self) -> list[WorkerInfo]:
        """Registered workers, most recently started first."""
        ...

    async def set_limit(self, limit: QueueLimit) -> None:
        """Store ``limit`` for its queue, replacing any limit it had (the start log is
        kept, so a changed rate counts the starts already made). Claims obey it from
        their next transaction on (a claimer of another process within a second)."""
        ...

    async def clear_limit(self, queue: str) -> bool:
        """Remove the limit of ``queue``; whether it had one."""
        ...

    async def limits(self) -> list[QueueLimit]:
        """Every queue limit, by queue name, with its use now (``running``,
        ``started`` in the window, ``keys`` running)."""
        ...

    async def request_worker_stop(self, worker_id: str) -> bool:
        """Ask a worker to drain and stop (it learns at its next heartbeat)."""
        ...

    # -- periodic entries (layout 4) -----------------------------------------------------

    async def register_periodic(self, entries: Sequence[PeriodicEntry], *, now: float) -> None:
        """Make the registry hold exactly ``entries``, in one atomic step: a new entry
        is stored with ``last_tick`` = its ``baseline``; an existing one gets its new
        definition and ``next_run`` and keeps its last tick, run and job, except that a
        changed ``schedule`` starts again from the given ``baseline``; every other entry
        of the namespace is deleted. ``registered_at`` becomes ``now``."""
        ...

    async def fire_periodic(
        self,
        name: str,
        *,
        tick: float | None,
        job: NewJob,
        now: float,
        next_run: float | None,
        entry: PeriodicEntry | None = None,
    ) -> bool:
        """Claim ``tick`` of entry ``name`` and store ``job``, in ONE atomic step (one
        transaction, one script): only if the entry is registered and its last tick is
        older than ``tick`` (or it has none), set ``last_tick`` = ``tick``,
        ``last_run_at`` = ``now``, ``last_job_id`` = the job's id, ``next_run`` (when
        given) and store the job as ``enqueue`` would. Concurrent calls for one tick:
        exactly one returns True. ``tick=None`` is a run by hand: the job is stored
        and recorded as the last run, the last tick is left alone. False (nothing
        stored) when the entry is not registered or the tick was claimed already.

        ``entry``: the definition the calling pool registered (named ``name``; only
        with a ``tick``). When the entry is missing from the registry (another pool,
        declaring another list, registered since and deleted it), it is re-created from
        ``entry`` in the same atomic step, its ``last_tick`` this ``tick`` (its
        ``baseline`` is ignored), ``registered_at`` = ``now``, and the job is stored:
        an entry some live pool declares never loses a tick. Concurrent re-creations
        of one tick: exactly one returns True. An existing entry is left as it is
        registered (its definition is not replaced)."""
        ...

    async def periodic_entries(self) -> list[PeriodicInfo]:
        """The registered periodic entries, by name."""
        ...
