"""The records the Redis scripts store beside the jobs, read back: an attempt's record
(``{ns}:attempts``: job id, worker, claim time, then queue and priority, then the cancel
request and the progress once either is recorded) and a finished job's record
(``{ns}:finished``: a JSON header, a newline, the result and the envelope; scripts.lua's
``finished_record``)."""

from __future__ import annotations

import json
from typing import Any

from wg_core.backend import ImportedJob, JobState, Progress, StoredJob
from wg_core.envelope import peek_envelope
from wg_core.queues import DEFAULT_QUEUE

__all__ = [
    "attempt_extras",
    "attempt_meta",
    "attempt_priority",
    "entered_at",
    "finished_job",
    "finished_record",
    "queued_since",
]


def attempt_meta(meta: str) -> tuple[str, str | None, float | None]:
    """(job id, worker id, claimed at) of an ``:attempts`` entry."""
    try:
        fields = json.loads(meta)
        return str(fields[0]), str(fields[1]), float(fields[2])
    except (ValueError, TypeError, IndexError, KeyError):
        return "", None, None


def attempt_priority(meta: str) -> int:
    """The priority an ``:attempts`` entry records (0 when it has three fields)."""
    try:
        fields = json.loads(meta)
        return int(fields[4]) if len(fields) > 4 else 0
    except (ValueError, TypeError, IndexError, KeyError):
        return 0


def attempt_extras(meta: str) -> tuple[bool, Progress | None]:
    """(cancel requested, progress) of an ``:attempts`` entry: its sixth field is the
    cancel request (an object, or 0), its seventh the progress (layout 3)."""
    try:
        fields = json.loads(meta)
        request = fields[5] if len(fields) > 5 else 0
        return isinstance(request, dict), _progress(fields[6] if len(fields) > 6 else None)
    except (ValueError, TypeError, KeyError):
        return False, None


def finished_job(job_id: str, record: str) -> StoredJob:
    """The completed or cancelled job whose ``{ns}:finished`` record is ``record``
    (scripts.lua's ``finished_record``: a JSON header, a newline, the envelope)."""
    header, _, raw = record.partition("\n")
    doc = json.loads(header)
    result = doc.get("result")
    size = doc.get("result_bytes")
    if isinstance(size, int):
        # The result, then the envelope: split where the script counted, in bytes.
        data = raw.encode("utf-8", "surrogateescape")
        result = data[:size].decode("utf-8", "surrogateescape")
        raw = data[size:].decode("utf-8", "surrogateescape")
    attempt = doc.get("attempt")
    started_at: float | None = None
    progress: Progress | None = None
    queue, priority = doc.get("queue"), doc.get("priority")
    if isinstance(attempt, list):
        started_at = _seconds(attempt[2]) if len(attempt) > 2 else None
        queue = attempt[3] if len(attempt) > 3 else DEFAULT_QUEUE
        priority = attempt[4] if len(attempt) > 4 else 0
        progress = _progress(attempt[6]) if len(attempt) > 6 else None
    finished_at = _seconds(doc.get("finished_at"))
    error = doc.get("last_error")
    return StoredJob(
        job_id=job_id,
        state=JobState(doc["state"]),
        raw=raw,
        updated_at=finished_at,
        queue=str(queue or DEFAULT_QUEUE),
        priority=int(priority or 0),
        result=None if result is None else str(result),
        started_at=started_at or None,
        finished_at=finished_at,
        expires_at=_seconds(doc.get("expires_at")),
        progress=progress,
        last_error=None if error is None else str(error),
    )


def finished_record(job: ImportedJob) -> str:
    """The ``{ns}:finished`` record of an imported COMPLETED or CANCELLED job, as
    scripts.lua's ``finished_record`` writes one (``finished_job`` reads it back): its
    start time and progress go in an attempt's record of seven fields."""
    progress = job.progress
    attempt: list[Any] = [job.job_id, "", job.started_at or 0, job.queue, job.priority, 0]
    if progress is not None:
        attempt.append(
            {
                "fraction": progress.fraction,
                "message": progress.message,
                "updated_at": progress.updated_at,
            }
        )
    header: dict[str, Any] = {
        "state": str(job.state),
        "finished_at": f"{job.finished_at:.6f}",
        "expires_at": f"{job.expires_at:.6f}",
        "attempt": attempt,
    }
    body = job.raw
    if job.result is not None:
        header["result_bytes"] = len(job.result.encode("utf-8", "surrogateescape"))
        body = job.result + job.raw
    if job.last_error is not None:
        header["last_error"] = job.last_error
    return json.dumps(header, separators=(",", ":")) + "\n" + body


def _seconds(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _progress(value: Any) -> Progress | None:
    """A progress as a script stored it ({fraction, message, updated_at}), or None."""
    if not isinstance(value, dict):
        return None
    fraction = _seconds(value.get("fraction"))
    if fraction is None:
        return None
    message = value.get("message")
    return Progress(
        fraction=fraction,
        message=None if message is None else str(message),
        updated_at=_seconds(value.get("updated_at")),
    )


def entered_at(state: JobState, raw: str, meta: str) -> float | None:
    """When a job read by ``get_job`` entered ``state``, as far as Redis keeps it: a
    dead job's time of death (``meta``), a queued job's ``queued_since``."""
    if state is JobState.DEAD:
        return float(meta) if meta else None
    return queued_since(raw) if state is JobState.QUEUED else None


def queued_since(raw: str) -> float | None:
    """When a queued job entered the queue, as far as its envelope tells: its
    scheduled time if it had one, else its creation time."""
    peek = peek_envelope(raw)
    times = [when for when in (peek.created_at, peek.scheduled_at) if when is not None]
    return max(times) if times else None
