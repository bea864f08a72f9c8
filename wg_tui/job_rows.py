"""How jobs read as table rows: the columns of each state's tab, and the cells of a job.

Plain strings only (no Textual, no Rich), like ``wg_tui.columns``: every function takes
``now`` explicitly, so the output depends on the injected clock alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from wg_core import JobInfo, JobState
from wg_core.backend import Progress
from wg_tui.columns import (
    format_age,
    format_duration,
    format_relative,
    format_time,
    one_line,
    short_id,
)

__all__ = [
    "JOB_COLUMNS",
    "JobRow",
    "format_attempts",
    "format_progress",
    "format_run_time",
    "job_row",
    "progress_bar",
]

_ERROR_WIDTH: Final = 60
_PAYLOAD_WIDTH: Final = 40
_RESULT_WIDTH: Final = 36
_PROGRESS_MESSAGE_WIDTH: Final = 18
_BAR_WIDTH: Final = 10

JOB_COLUMNS: Final[dict[JobState, tuple[str, ...]]] = {
    JobState.QUEUED: ("id", "job", "queue", "prio", "enqueued", "waiting", "attempts", "payload"),
    JobState.SCHEDULED: ("id", "job", "queue", "prio", "run at", "due", "attempts", "payload"),
    JobState.RETRY: ("id", "job", "queue", "attempts", "next try", "last error"),
    JobState.RUNNING: ("id", "job", "queue", "worker", "started", "lease", "attempts", "progress"),
    JobState.DEAD: ("id", "job", "queue", "died at", "attempts", "last error"),
    JobState.COMPLETED: ("id", "job", "queue", "finished at", "ran for", "attempts", "result"),
    JobState.CANCELLED: ("id", "job", "queue", "cancelled at", "ran for", "attempts", "payload"),
}
"""Column titles of each state's tab, after the selection marker. The priority shows
where it decides what runs next (waiting and scheduled jobs)."""


_EIGHTHS: Final = " ▏▎▍▌▋▊▉"


def progress_bar(fraction: float, width: int = _BAR_WIDTH) -> str:
    """``fraction`` (0 to 1) as a bar of ``width`` cells, to an eighth of a cell."""
    eighths = round(min(1.0, max(0.0, fraction)) * width * 8)
    full, part = divmod(eighths, 8)
    bar = "█" * full + (_EIGHTHS[part] if part else "")
    return bar.ljust(width, "░")


def format_progress(progress: Progress | None, *, message_width: int | None = None) -> str:
    """``█████░░░░░  50% resized 50 of 100`` (``—`` when none was reported); the
    message cut to ``message_width`` characters when given."""
    if progress is None:
        return "—"
    text = f"{progress_bar(progress.fraction)} {progress.fraction:>4.0%}"
    if progress.message:
        message = progress.message
        if message_width is not None:
            message = one_line(message, message_width)
        text += f" {message}"
    return text


def format_run_time(job: JobInfo) -> str:
    """How long the job's last attempt ran (``—`` if it never started)."""
    return "—" if job.run_time is None else format_duration(job.run_time)


def format_attempts(job: JobInfo) -> str:
    """``runs/allowed``: attempts run so far (``JobInfo.runs``, the running one and a
    fatal failure's included) against attempts allowed; ``—`` if undecodable."""
    if job.runs is None or job.runs_allowed is None:
        return "—"
    return f"{job.runs}/{job.runs_allowed}"


def _compact(value: Any, width: int) -> str:
    return one_line(json.dumps(value, ensure_ascii=False, separators=(",", ":")), width)


def _payload_preview(job: JobInfo) -> str:
    if job.envelope is None:
        return "(undecodable)"
    return _compact(job.payload, _PAYLOAD_WIDTH)


@dataclass(frozen=True, slots=True)
class JobRow:
    """One job as a table row, keyed by its id."""

    key: str
    cells: tuple[str, ...]
    failed: bool = False
    """The row shows an error (retry and dead tabs, undecodable jobs)."""


def job_row(job: JobInfo, now: float) -> JobRow:
    """The row for ``job`` in its state's tab (cells in ``JOB_COLUMNS`` order)."""
    head = (short_id(job.job_id), job.job_name or "?", job.queue)
    state = job.state
    cells: tuple[str, ...]
    if state is JobState.QUEUED:
        enqueued = job.updated_at if job.updated_at is not None else _created(job)
        cells = (
            *head,
            str(job.priority),
            format_time(enqueued),
            format_age(enqueued, now),
            format_attempts(job),
            _payload_preview(job),
        )
    elif state is JobState.SCHEDULED:
        run_at = job.due_at if job.due_at is not None else _scheduled(job)
        cells = (
            *head,
            str(job.priority),
            format_time(run_at),
            format_relative(run_at, now),
            format_attempts(job),
            _payload_preview(job),
        )
    elif state is JobState.RETRY:
        cells = (
            *head,
            format_attempts(job),
            format_relative(job.due_at, now),
            one_line(job.last_error, _ERROR_WIDTH),
        )
    elif state is JobState.RUNNING:
        started = job.started_at if job.started_at is not None else job.updated_at
        cells = (
            *head,
            job.worker_id or "—",
            format_relative(started, now),
            format_relative(job.lease_until, now),
            format_attempts(job),
            format_progress(job.progress, message_width=_PROGRESS_MESSAGE_WIDTH),
        )
    elif state is JobState.COMPLETED:
        cells = (
            *head,
            format_time(job.finished_at),
            format_run_time(job),
            format_attempts(job),
            # Cut to a line: the job's detail shows the whole result.
            _compact(job.result, _RESULT_WIDTH),
        )
    elif state is JobState.CANCELLED:
        cells = (
            *head,
            format_time(job.finished_at),
            format_run_time(job),
            format_attempts(job),
            _payload_preview(job),
        )
    else:
        cells = (
            *head,
            format_time(job.updated_at),
            format_attempts(job),
            one_line(job.last_error, _ERROR_WIDTH),
        )
    failed = job.envelope is None or state in (JobState.RETRY, JobState.DEAD)
    return JobRow(key=job.job_id, cells=cells, failed=failed)


def _created(job: JobInfo) -> float | None:
    return float(job.envelope.created_at) if job.envelope else None


def _scheduled(job: JobInfo) -> float | None:
    if job.envelope is None or job.envelope.scheduled_at is None:
        return None
    return float(job.envelope.scheduled_at)
