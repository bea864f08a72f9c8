"""What users get back about jobs: ``JobInfo`` (admin view) and ``JobContext`` (handlers)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from wg_core.backend import JobState, Progress, StoredJob
from wg_core.dispatch import MAX_PROGRESS_MESSAGE
from wg_core.envelope import Envelope, EnvelopeError
from wg_core.queues import DEFAULT_QUEUE

__all__ = ["MAX_PROGRESS_MESSAGE", "JobContext", "JobControl", "JobInfo", "decode_result"]


class JobControl(Protocol):
    """What a ``JobContext`` asks the pool running its job (one object per running
    job, the pool's): whether the job's cancel reached it, and where progress goes
    (``report`` on the pool's event loop, ``report_threadsafe`` from a sync handler's
    thread; the pool rate-limits the writes)."""

    @property
    def cancelled(self) -> bool:
        """Whether the job's cancel has reached the pool running it."""

    def report(self, progress: Progress) -> None:
        """Record ``progress`` (the latest value wins)."""

    def report_threadsafe(self, progress: Progress) -> None:
        """``report`` from another thread."""


def _progress(fraction: float, message: str | None) -> Progress:
    """A checked ``Progress`` (a message over ``MAX_PROGRESS_MESSAGE`` characters cut)."""
    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, int | float)
        or math.isnan(fraction)
        or not 0.0 <= fraction <= 1.0
    ):
        raise ValueError(f"progress must be a number from 0 to 1, not {fraction!r}")
    if message is not None:
        if not isinstance(message, str):
            raise TypeError(f"a progress message must be a string, not {type(message).__name__}")
        message = message[:MAX_PROGRESS_MESSAGE]
    return Progress(fraction=float(fraction), message=message)


@dataclass(frozen=True, slots=True, kw_only=True)
class JobContext:
    """Facts about the running attempt, passed to handlers that take a second parameter.

    ``attempt`` counts from 1. Use ``job_id`` as an idempotency key: delivery is
    at-least-once, so a job whose worker crashed may run again.

    ``progress`` / ``progress_sync`` record how far the job is, and ``cancelled`` says
    whether someone cancelled it (see each). A context built outside a pool (in a
    handler's unit test) records progress nowhere and is never cancelled.
    """

    job_id: str
    job_name: str
    attempt: int
    max_retries: int
    created_at: int
    worker_id: str
    queue: str = DEFAULT_QUEUE
    metadata: Mapping[str, Any] = field(default_factory=dict)
    """What the enqueue hooks of the producer's middleware stored with the job (trace
    context, tenant, request id...; ``wg_core.middleware``), read-only; empty if none."""
    control: JobControl | None = field(default=None, repr=False, compare=False)
    """The pool's side of the running job (``None`` outside a pool)."""

    @property
    def cancelled(self) -> bool:
        """Whether this job was cancelled (``Client.cancel``) while it runs. A sync
        handler should check it between steps and return (or raise) when it turns
        True: its thread cannot be interrupted. An async handler is interrupted with
        ``asyncio.CancelledError`` instead (and sees this True too). Either way the job
        ends ``cancelled``, whatever the handler returns, and is not retried."""
        control = self.control
        return control is not None and control.cancelled

    async def progress(self, fraction: float, message: str | None = None) -> None:
        """Record how far the job is: ``fraction`` from 0 to 1 and an optional message
        (cut to ``MAX_PROGRESS_MESSAGE``, 1000 characters), shown by ``get_job`` as
        ``JobInfo.progress``. Cheap to call often: at most one write a second per job
        reaches the backend, the latest value winning. For async handlers; sync
        handlers call ``progress_sync``."""
        value = _progress(fraction, message)
        if self.control is not None:
            self.control.report(value)

    def progress_sync(self, fraction: float, message: str | None = None) -> None:
        """``progress`` for sync handlers (call it from the handler's thread)."""
        value = _progress(fraction, message)
        if self.control is not None:
            self.control.report_threadsafe(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class JobInfo:
    """One stored job, decoded for people and scripts.

    When the stored text is not a valid envelope (written by some other program),
    ``envelope`` is ``None`` and ``decode_error`` says why; ``raw`` is always the
    stored text. ``queue`` and ``priority`` are stored beside the envelope (not in it)
    and kept through every state.

    Finished jobs (``completed``, ``cancelled``) carry ``result`` (the handler's return
    value, decoded from JSON; ``None`` when it returned nothing; ``result_raw`` is the
    stored text), ``started_at`` (when its last attempt was claimed), ``finished_at``
    and ``expires_at`` (when the pruner deletes it), all Unix seconds, and ``run_time``.
    A running job carries its last ``progress`` and whether its ``cancel_requested``.
    """

    job_id: str
    state: JobState
    raw: str
    envelope: Envelope | None
    decode_error: str | None = None
    due_at: float | None = None
    lease_until: float | None = None
    worker_id: str | None = None
    updated_at: float | None = None
    queue: str = DEFAULT_QUEUE
    priority: int = 0
    result: Any = None
    result_raw: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    expires_at: float | None = None
    progress: Progress | None = None
    cancel_requested: bool = False
    recorded_error: str | None = None
    """An error the backend recorded beside the envelope (a cancelled job's
    ``cancelled``): ``last_error`` prefers it to the envelope's."""
    limit_key: str | None = None
    """The key a per-key limit of its queue counts the job under (``wg_core.limits``),
    if it was enqueued with one; stored beside the envelope, in every state."""

    @classmethod
    def from_stored(cls, stored: StoredJob) -> JobInfo:
        """Decode a backend's ``StoredJob``."""
        envelope: Envelope | None = None
        error: str | None = None
        try:
            envelope = Envelope.decode(stored.raw)
        except EnvelopeError as exc:
            error = str(exc)
        return cls(
            job_id=stored.job_id,
            state=stored.state,
            raw=stored.raw,
            envelope=envelope,
            decode_error=error,
            due_at=stored.due_at,
            lease_until=stored.lease_until,
            worker_id=stored.worker_id,
            updated_at=stored.updated_at,
            queue=stored.queue,
            priority=stored.priority,
            result=decode_result(stored.result),
            result_raw=stored.result,
            started_at=stored.started_at,
            finished_at=stored.finished_at,
            expires_at=stored.expires_at,
            progress=stored.progress,
            cancel_requested=stored.cancel_requested,
            recorded_error=stored.last_error,
            limit_key=stored.limit_key,
        )

    @property
    def run_time(self) -> float | None:
        """Seconds the job's last attempt ran (``finished_at - started_at``), once
        finished and when both are known."""
        if self.finished_at is None or self.started_at is None:
            return None
        return max(self.finished_at - self.started_at, 0.0)

    @property
    def job_name(self) -> str | None:
        """The envelope's job name (``None`` if undecodable)."""
        return self.envelope.job_name if self.envelope else None

    @property
    def unique_key(self) -> str | None:
        """The job's unique key, if it was enqueued with one (``wg_core.unique``)."""
        return self.envelope.unique_key if self.envelope else None

    @property
    def payload(self) -> Any:
        """The envelope's payload (``None`` if undecodable)."""
        return self.envelope.payload if self.envelope else None

    @property
    def last_error(self) -> str | None:
        """The last failure's message (or the reason a job was cancelled), or the
        reason the envelope cannot be read."""
        if self.recorded_error is not None:
            return self.recorded_error
        if self.envelope is None:
            return self.decode_error
        return self.envelope.last_error

    @property
    def retry_count(self) -> int:
        """Failed attempts so far."""
        return self.envelope.retry_count if self.envelope else 0

    @property
    def max_retries(self) -> int:
        """Failed attempts allowed before the job goes dead."""
        return self.envelope.max_retries if self.envelope else 0

    @property
    def runs(self) -> int | None:
        """Attempts run so far, the one running now included (``None`` if undecodable).

        ``retry_count`` counts retried failures only: a fatal failure
        (``JobError.fatal``, or a payload the handler cannot take) buries the job
        without incrementing it, while the failure that uses up the retries does. So a
        dead job whose count is still within ``max_retries`` died of a fatal failure on
        one more run than it counts; a running job is on run ``retry_count + 1``, and a
        completed one completed on that run; a waiting job (queued, scheduled, retry)
        has run ``retry_count`` times. A dead job requeued by an operator starts over
        from 0.
        """
        envelope = self.envelope
        if envelope is None:
            return None
        count = envelope.retry_count
        if self.state in (JobState.RUNNING, JobState.COMPLETED):
            return count + 1
        if self.state is JobState.DEAD and count <= envelope.max_retries:
            return count + 1
        return count

    @property
    def runs_allowed(self) -> int | None:
        """Attempts the job may run in all: ``max_retries + 1`` (``None`` if undecodable)."""
        return self.envelope.max_retries + 1 if self.envelope else None


def decode_result(text: str | None) -> Any:
    """A stored result, decoded (``None`` for none). Text that is not JSON — written by
    some other program — is returned as it is, so nothing is silently lost."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text
