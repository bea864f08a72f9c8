"""Middleware: code that runs around every enqueue and every job run.

One shape, an object with async hook methods (``JobMiddleware``), subclassed from
``Middleware`` to override only the hooks it needs::

    class Tenant(Middleware):
        async def before_enqueue(self, job: OutgoingJob) -> None:
            job.metadata["tenant"] = current_tenant()      # stored with the job

        async def before(self, job: RunningJob) -> None:
            set_tenant(job.metadata.get("tenant"))         # read at run time

        async def after(self, job: RunningJob, outcome: Outcome) -> None:
            log.info("%s %s", job.job_id, outcome)

    Client(backend, middleware=[Tenant()])
    WorkerPool(handlers, url=..., middleware=[Tenant()])

Why objects with methods rather than async context managers: a hook sees the
outcome as an argument (a context manager only sees an exception), a raising hook
cannot swallow the handler's own exception or change the outcome, and hooks left
out cost nothing (the pool calls only the hooks a middleware overrides).

Order: ``before_enqueue`` and ``before`` run in list order, ``after_enqueue``,
``on_error`` and ``after`` in reverse (the first middleware wraps the others). Hooks
of a run are awaited in the job's own task, so a ``contextvars`` value set in
``before`` is seen by the handler (sync handlers too: their thread gets a copy) and
by every log line of the job, until ``after`` resets it.

A hook that raises is logged (logger ``wg.middleware``) and skipped: the enqueue
goes on, the job runs and ends as its handler says; neither the worker nor the job
is lost.

Metadata is a JSON object stored in the job's envelope as the added top-level key
``metadata``, which the Rust wg ignores like any unknown key; it travels with the job
through retries and is ``JobContext.metadata`` / ``RunningJob.metadata`` at run time.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

from wg_core.backend import Attempt, Backend, NewJob
from wg_core.envelope import Envelope
from wg_core.errors import PayloadError
from wg_core.options import WorkerConfig

if TYPE_CHECKING:  # pragma: no cover
    from wg_core.run_books import RunBooks

__all__ = [
    "METADATA_KEY",
    "JobMiddleware",
    "Middleware",
    "MiddlewareChain",
    "Outcome",
    "OutgoingJob",
    "PoolView",
    "RunningJob",
    "hook_failed",
    "metadata_of",
]

logger = logging.getLogger("wg.middleware")

METADATA_KEY: Final = "metadata"
"""The envelope's added top-level key holding a job's metadata (a JSON object)."""

_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})


class Outcome(StrEnum):
    """How one run of a job ended, as this worker recorded it. Exactly one per run.

    * ``completed``: the handler returned (its completion is being acknowledged);
    * ``retried``: it failed and is due again after its backoff;
    * ``dead``: it failed for good (retries used up, a fatal error, an unknown job
      name or an undecodable payload) and is in the dead-letter queue;
    * ``cancelled``: its cancel was requested while it ran;
    * ``failed``: this worker recorded no outcome: the run was interrupted (the pool
      stopped past its shutdown timeout, or lost the lease) or the outcome's write
      found the lease lost. The job is released or reaped, and runs again elsewhere.
    """

    COMPLETED = "completed"
    FAILED = "failed"
    RETRIED = "retried"
    DEAD = "dead"
    CANCELLED = "cancelled"


@dataclass(slots=True, kw_only=True)
class OutgoingJob:
    """A job being enqueued, as ``before_enqueue`` / ``after_enqueue`` see it.

    ``metadata`` may be changed in ``before_enqueue`` (keys are strings, values JSON);
    it is stored with the job when not empty. ``state`` is the middleware's own
    scratch space between the two hooks of one enqueue (never stored)."""

    job_id: str
    job_name: str
    queue: str
    priority: int
    delay: float
    metadata: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)


class RunningJob:
    """One run of a job, as ``before`` / ``on_error`` / ``after`` see it (the pool
    builds it; the job's fields are read from its envelope when asked, since most
    middleware reads few of them and this is built per job).

    ``attempt`` counts from 1. ``enqueued_at`` is the envelope's ``created_at`` and
    ``due_at`` when it became runnable (its ``scheduled_at``, else ``created_at``),
    both Unix seconds to the second as the envelope records them; ``started_at`` is
    when this run started (Unix seconds) and ``started_monotonic`` the same moment by
    ``time.monotonic()`` (for durations). ``metadata`` is read-only; ``state`` is the
    middleware's scratch space between the hooks of one run."""

    __slots__ = ("_attempt", "_envelope", "_metadata", "_state", "namespace", "started_at",
                 "started_monotonic", "worker_id")  # fmt: skip

    def __init__(
        self,
        attempt: Attempt,
        envelope: Envelope,
        namespace: str,
        worker_id: str,
        started_monotonic: float | None = None,
        started_at: float | None = None,
    ) -> None:
        """The run of ``attempt`` (decoded as ``envelope``) by the pool ``worker_id`` of
        ``namespace``, starting now (or at ``started_monotonic`` and ``started_at``,
        readings of ``time.monotonic()`` and ``time.time()`` a moment ago: the pool
        reads the clocks once per run for the hooks and its run books)."""
        self._attempt = attempt
        self._envelope = envelope
        self._metadata: Mapping[str, Any] | None = None
        self._state: dict[str, Any] | None = None
        self.namespace = namespace
        self.worker_id = worker_id
        self.started_at = time.time() if started_at is None else started_at
        self.started_monotonic = (
            time.monotonic() if started_monotonic is None else started_monotonic
        )

    @property
    def job_id(self) -> str:
        """The job's id."""
        return self._envelope.id

    @property
    def job_name(self) -> str:
        """The job's name (which handler runs it)."""
        return self._envelope.job_name

    @property
    def queue(self) -> str:
        """The queue it was claimed from."""
        return self._attempt.queue

    @property
    def attempt(self) -> int:
        """This run's attempt number, from 1."""
        return self._envelope.retry_count + 1

    @property
    def max_retries(self) -> int:
        """How many times a failed run is retried before the job is dead."""
        return self._envelope.max_retries

    @property
    def enqueued_at(self) -> float:
        """When it was enqueued (the envelope's ``created_at``, Unix seconds)."""
        return self._envelope.created_at

    @property
    def due_at(self) -> float:
        """When it became runnable: its ``scheduled_at``, else its ``created_at``."""
        due = self._envelope.scheduled_at
        return self._envelope.created_at if due is None else due

    @property
    def metadata(self) -> Mapping[str, Any]:
        """The job's metadata (read-only; empty when it has none)."""
        if self._metadata is None:
            self._metadata = metadata_of(self._envelope)
        return self._metadata

    @property
    def state(self) -> dict[str, Any]:
        """The middleware's own scratch space for this run (never stored)."""
        if self._state is None:
            self._state = {}
        return self._state

    def __repr__(self) -> str:
        return (
            f"RunningJob(job_id={self.job_id!r}, job_name={self.job_name!r}, "
            f"queue={self.queue!r}, attempt={self.attempt})"
        )


class RunningCount(Protocol):
    """The part of ``PoolStats`` middleware reads."""

    @property
    def running(self) -> int:
        """Jobs the pool runs now."""


class PoolView(Protocol):
    """What ``started`` / ``stopped`` are told about the pool (a ``WorkerPool``)."""

    @property
    def config(self) -> WorkerConfig:
        """The pool's settings (namespace, workers, queues...)."""

    @property
    def backend(self) -> Backend:
        """The pool's backend, behind the checked-dispatch layer."""

    @property
    def worker_id(self) -> str:
        """The pool's id in the worker registry."""

    @property
    def stats(self) -> RunningCount:
        """Counts of what the pool has done so far, and how many jobs it runs now."""

    def run_books(self) -> RunBooks:
        """New books in which the pool records every run from now on
        (``wg_core.run_books``)."""


@runtime_checkable
class JobMiddleware(Protocol):
    """The hooks a middleware has. Every hook is awaited; see the module docstring for
    the order and for errors. (The bodies do nothing: they are ``Middleware``'s
    defaults.)"""

    async def started(self, pool: PoolView) -> None:
        """The pool opened its backend and starts working."""
        return None

    async def stopped(self, pool: PoolView) -> None:
        """The pool drained and stops."""
        return None

    async def before_enqueue(self, job: OutgoingJob) -> None:
        """Before ``job`` is stored: may add to ``job.metadata``."""
        return None

    async def after_enqueue(self, job: OutgoingJob, error: BaseException | None) -> None:
        """After the store of ``job`` returned (``error`` is what it raised, if it did)."""
        return None

    async def before(self, job: RunningJob) -> None:
        """Before the handler runs (after the envelope decoded)."""
        return None

    async def on_error(self, job: RunningJob, exc: BaseException) -> None:
        """The handler raised ``exc`` (before its outcome is decided)."""
        return None

    async def after(self, job: RunningJob, outcome: Outcome) -> None:
        """The run ended with ``outcome`` (written, or being acknowledged)."""
        return None


class Middleware(JobMiddleware):
    """A ``JobMiddleware`` whose hooks do nothing: override the ones you need (a pool
    calls only those)."""


_HOOKS: Final = (
    "started",
    "stopped",
    "before_enqueue",
    "after_enqueue",
    "before",
    "on_error",
    "after",
)


def metadata_of(envelope: Envelope) -> Mapping[str, Any]:
    """A job's metadata (read-only; empty when it has none or it is not an object)."""
    value = envelope.extra.get(METADATA_KEY) if envelope.extra else None
    return MappingProxyType(value) if isinstance(value, dict) else _EMPTY


class MiddlewareChain:
    """The middleware of one client or pool, with each hook's list of overriders
    (a hook nobody overrides is never called). Every call is guarded: a hook that
    raises is logged and the rest run."""

    __slots__ = ("_hooks", "after_hooks", "before_hooks", "middleware", "on_error_hooks")

    def __init__(self, middleware: Sequence[JobMiddleware]) -> None:
        for item in middleware:
            if not isinstance(item, JobMiddleware):
                raise TypeError(
                    f"middleware must have the JobMiddleware hooks (subclass "
                    f"wg_core.Middleware), got {item!r}"
                )
        self.middleware: tuple[JobMiddleware, ...] = tuple(middleware)
        self._hooks: dict[str, tuple[Any, ...]] = {}
        for name in _HOOKS:
            bound = [
                getattr(item, name)
                for item in self.middleware
                if getattr(type(item), name, None) is not getattr(Middleware, name)
            ]
            # "after"-side hooks unwind in reverse: the first middleware wraps the rest.
            if name in ("stopped", "after_enqueue", "on_error", "after"):
                bound.reverse()
            self._hooks[name] = tuple(bound)
        # The run hooks, in calling order: the pool's runner loops over them itself
        # (a coroutine per hook and none per chain call), guarding each with
        # ``hook_failed``.
        self.before_hooks: tuple[Callable[[RunningJob], Awaitable[None]], ...] = self._hooks[
            "before"
        ]
        self.on_error_hooks: tuple[Callable[[RunningJob, BaseException], Awaitable[None]], ...] = (
            self._hooks["on_error"]
        )
        self.after_hooks: tuple[Callable[[RunningJob, Outcome], Awaitable[None]], ...] = (
            self._hooks["after"]
        )

    @classmethod
    def of(cls, middleware: Sequence[JobMiddleware] | None) -> MiddlewareChain | None:
        """A chain, or ``None`` for no middleware (the hot path then checks one name)."""
        return cls(middleware) if middleware else None

    def has(self, name: str) -> bool:
        """Whether any middleware overrides hook ``name``."""
        return bool(self._hooks[name])

    @property
    def hooks_runs(self) -> bool:
        """Whether any middleware overrides ``before``, ``on_error`` or ``after`` (if
        none does, a pool builds no ``RunningJob``)."""
        return bool(self.before_hooks or self.on_error_hooks or self.after_hooks)

    async def _call(self, name: str, *args: Any) -> None:
        for hook in self._hooks[name]:
            try:
                await hook(*args)
            except Exception:
                hook_failed(hook, name)

    # -- the pool's lifecycle ------------------------------------------------------------

    async def started(self, pool: PoolView) -> None:
        """``started`` of each middleware."""
        await self._call("started", pool)

    async def stopped(self, pool: PoolView) -> None:
        """``stopped`` of each middleware, last first."""
        await self._call("stopped", pool)

    # -- enqueues ------------------------------------------------------------------------

    async def enqueuing(
        self, batch: list[NewJob], *, max_bytes: int
    ) -> tuple[list[NewJob], list[OutgoingJob]]:
        """Run ``before_enqueue`` on each job of ``batch``; the jobs to store (with
        their metadata in the envelope) and what ``enqueued`` is given afterwards.
        A metadata that is not a JSON object, or makes the envelope larger than
        ``max_bytes``, raises ``PayloadError`` before anything is stored."""
        outgoing = [
            OutgoingJob(
                job_id=new.job_id,
                job_name=new.job_name,
                queue=new.queue,
                priority=new.priority,
                delay=new.delay,
            )
            for new in batch
        ]
        if not self._hooks["before_enqueue"]:
            return batch, outgoing
        stamped: list[NewJob] = []
        for new, job in zip(batch, outgoing, strict=True):
            await self._call("before_enqueue", job)
            stamped.append(_with_metadata(new, job.metadata, max_bytes) if job.metadata else new)
        return stamped, outgoing

    async def enqueued(self, outgoing: list[OutgoingJob], error: BaseException | None) -> None:
        """``after_enqueue`` of each job."""
        if self._hooks["after_enqueue"]:
            for job in outgoing:
                await self._call("after_enqueue", job, error)

    # -- runs ----------------------------------------------------------------------------

    async def before(self, job: RunningJob) -> None:
        """``before`` of each middleware."""
        for hook in self.before_hooks:
            try:
                await hook(job)
            except Exception:
                hook_failed(hook, "before")

    async def on_error(self, job: RunningJob, exc: BaseException) -> None:
        """``on_error`` of each middleware, last first."""
        for hook in self.on_error_hooks:
            try:
                await hook(job, exc)
            except Exception:
                hook_failed(hook, "on_error")

    async def after(self, job: RunningJob, outcome: Outcome) -> None:
        """``after`` of each middleware, last first."""
        for hook in self.after_hooks:
            try:
                await hook(job, outcome)
            except Exception:
                hook_failed(hook, "after")


def hook_failed(hook: Any, name: str) -> None:
    """Log that the bound hook ``hook`` (named ``name``) raised (with the traceback)."""
    owner = getattr(hook, "__self__", hook)  # a bound method, as the chain looks them up
    logger.exception("middleware %s.%s failed", type(owner).__name__, name)


def _with_metadata(new: NewJob, metadata: dict[str, Any], max_bytes: int) -> NewJob:
    """``new`` with ``metadata`` in its envelope (checked: a JSON object of string keys)."""
    if not isinstance(metadata, dict) or not all(isinstance(k, str) for k in metadata):
        raise PayloadError(f"metadata of job {new.job_id} must be a JSON object with string keys")
    try:
        json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise PayloadError(f"metadata of job {new.job_id} is not JSON: {exc}") from None
    envelope = Envelope.decode(new.raw)
    raw = envelope.evolve(extra={**envelope.extra, METADATA_KEY: metadata}).encode()
    size = len(raw.encode(errors="surrogateescape"))
    if size > max_bytes:
        raise PayloadError(
            f"job {new.job_name!r} is {size} bytes encoded with its metadata, "
            f"over the {max_bytes}-byte cap"
        )
    return replace(new, raw=raw)
