"""What users get back about jobs: ``JobInfo`` (admin view) and ``JobContext`` (handlers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wg_core.backend import JobState, StoredJob
from wg_core.envelope import Envelope, EnvelopeError
from wg_core.queues import DEFAULT_QUEUE

__all__ = ["JobContext", "JobInfo"]


@dataclass(frozen=True, slots=True, kw_only=True)
class JobContext:
    """Facts about the running attempt, passed to handlers that take a second parameter.

    ``attempt`` counts from 1. Use ``job_id`` as an idempotency key: delivery is
    at-least-once, so a job whose worker crashed may run again.
    """

    job_id: str
    job_name: str
    attempt: int
    max_retries: int
    created_at: int
    worker_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class JobInfo:
    """One stored job, decoded for people and scripts.

    When the stored text is not a valid envelope (written by some other program),
    ``envelope`` is ``None`` and ``decode_error`` says why; ``raw`` is always the
    stored text. ``queue`` and ``priority`` are stored beside the envelope (not in it)
    and kept through every state.
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
        )

    @property
    def job_name(self) -> str | None:
        """The envelope's job name (``None`` if undecodable)."""
        return self.envelope.job_name if self.envelope else None

    @property
    def payload(self) -> Any:
        """The envelope's payload (``None`` if undecodable)."""
        return self.envelope.payload if self.envelope else None

    @property
    def last_error(self) -> str | None:
        """The last failure's message, or the reason the envelope cannot be read."""
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
        one more run than it counts; a running job is on run ``retry_count + 1``; a
        waiting job (queued, scheduled, retry) has run ``retry_count`` times. A dead job
        requeued by an operator starts over from 0.
        """
        envelope = self.envelope
        if envelope is None:
            return None
        count = envelope.retry_count
        if self.state is JobState.RUNNING:
            return count + 1
        if self.state is JobState.DEAD and count <= envelope.max_retries:
            return count + 1
        return count

    @property
    def runs_allowed(self) -> int | None:
        """Attempts the job may run in all: ``max_retries + 1`` (``None`` if undecodable)."""
        return self.envelope.max_retries + 1 if self.envelope else None
