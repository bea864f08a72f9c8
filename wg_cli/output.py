"""Printing results: versioned JSON documents for scripts (the tables people read are
in ``wg_cli.tables``).

JSON goes to stdout through ``json.dumps`` and ``typer.echo``, never through Rich, so
markup and line wrapping cannot corrupt it. Every document is an object with
``"version": DOCUMENT_VERSION`` and the ``namespace``; times are RFC 3339 UTC strings,
durations are numbers of seconds. Fields are only ever added within a version; the
version goes up when what a document means changes (docs/cli.md keeps the history).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, TypeVar

import typer
from rich.console import Console

from wg_cli.durations import rfc3339
from wg_cli.settings import OutputFormat, Settings
from wg_core import JobInfo, QueueInfo, WorkerInfo
from wg_core.backend import Progress

__all__ = [
    "COUNTED_STATES",
    "DOCUMENT_VERSION",
    "document",
    "emit",
    "emit_line",
    "job_document",
    "print_ids",
    "progress_document",
    "queue_document",
    "stderr_console",
    "stdout_console",
    "worker_document",
]

DOCUMENT_VERSION: Final = 3
"""3 since job history (issue 18): jobs may be ``completed`` or ``cancelled`` (with a
result, run times, progress), ``counts`` has both states, and ``purge all`` empties
them too. 2 since named queues (issue 17): jobs, workers and counts belong to queues,
so ``counts.queued`` no longer means "what any worker will run next". 1 before."""

COUNTED_STATES: Final = (
    "queued",
    "scheduled",
    "retry",
    "running",
    "dead",
    "completed",
    "cancelled",
)
"""The states ``counts`` documents carry, in the order a job travels."""


def stdout_console() -> Console:
    """A Rich console on the current stdout (looked up now, so test runners see it)."""
    return Console(highlight=False)


def stderr_console() -> Console:
    """A Rich console on stderr, for progress and notes that must not reach a pipe."""
    return Console(stderr=True, highlight=False)


def document(settings: Settings, **fields: Any) -> dict[str, Any]:
    """A versioned JSON document about ``settings``' namespace."""
    return {
        "version": DOCUMENT_VERSION,
        "namespace": settings.namespace,
        "backend": settings.display_url,
        **fields,
    }


def emit(doc: Mapping[str, Any]) -> None:
    """Print one JSON document (indented) on stdout."""
    typer.echo(json.dumps(doc, indent=2, ensure_ascii=False))


def emit_line(value: Any) -> None:
    """Print one compact JSON value on a line of its own (``jsonl`` output)."""
    typer.echo(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def job_document(job: JobInfo, *, envelope: bool = False) -> dict[str, Any]:
    """One job as JSON. ``envelope=True`` adds the whole stored envelope, parsed."""
    env = job.envelope
    doc: dict[str, Any] = {
        "id": job.job_id,
        "job_name": job.job_name,
        "state": str(job.state),
        "queue": job.queue,
        "priority": job.priority,
        "unique_key": job.unique_key,
        "limit_key": job.limit_key,
        "status": env.status if env else None,
        "payload": job.payload,
        "retry_count": job.retry_count,
        "max_retries": job.max_retries,
        "runs": job.runs,
        "runs_allowed": job.runs_allowed,
        "timeout_seconds": env.timeout if env else None,
        "retry_delay_seconds": env.retry_delay if env else None,
        "created_at": rfc3339(env.created_at) if env else None,
        "scheduled_at": rfc3339(env.scheduled_at) if env else None,
        "due_at": rfc3339(job.due_at),
        "updated_at": rfc3339(job.updated_at),
        "lease_until": rfc3339(job.lease_until),
        "worker_id": job.worker_id,
        "last_error": job.last_error,
        "decode_error": job.decode_error,
        "started_at": rfc3339(job.started_at),
        "finished_at": rfc3339(job.finished_at),
        "run_time_seconds": None if job.run_time is None else round(job.run_time, 3),
        "expires_at": rfc3339(job.expires_at),
        "progress": progress_document(job.progress),
        "cancel_requested": job.cancel_requested,
        # The whole value, never cut (tables cut it); null also before completion.
        "result": job.result,
    }
    if envelope:
        try:
            doc["envelope"] = json.loads(job.raw)
        except (ValueError, RecursionError):
            doc["envelope"] = None
    return doc


def progress_document(progress: Progress | None) -> dict[str, Any] | None:
    """A running job's last reported progress as JSON (``None``: none reported)."""
    if progress is None:
        return None
    return {
        "fraction": progress.fraction,
        "message": progress.message,
        "updated_at": rfc3339(progress.updated_at),
    }


def worker_document(worker: WorkerInfo) -> dict[str, Any]:
    """One registered worker pool as JSON."""
    return {
        "worker_id": worker.worker_id,
        "host": worker.host,
        "pid": worker.pid,
        "concurrency": worker.concurrency,
        "running": worker.running,
        "state": worker.state,
        "stop_requested": worker.stop_requested,
        "job_names": list(worker.job_names),
        "queues": list(worker.queues),
        "started_at": rfc3339(worker.started_at),
        "last_seen": rfc3339(worker.last_seen),
    }


def queue_document(queue: QueueInfo) -> dict[str, Any]:
    """One named queue as JSON: its jobs per state, pause flag and totals."""
    counts = {state: getattr(queue.counts, state) for state in COUNTED_STATES}
    return {
        "name": queue.name,
        "counts": {**counts, "total": queue.counts.total},
        "paused": queue.paused,
        "processed": queue.counters.processed,
        "failed": queue.counters.failed,
    }


def print_ids(ids: Iterable[str]) -> None:
    """One id per line (``-o id``)."""
    for job_id in ids:
        typer.echo(job_id)


T = TypeVar("T")


def emit_listing(
    settings: Settings,
    key: str,
    items: Sequence[T],
    *,
    to_document: Callable[[T], dict[str, Any]],
    to_id: Callable[[T], str],
    empty: str,
    table: Callable[[Sequence[T]], Any],
) -> None:
    """Print a listing as ``-o`` asks: one JSON document with the items under ``key``,
    a JSON line each, their ids, or a table (``empty``, dimmed, when there is none)."""
    if settings.output is OutputFormat.JSON:
        emit(document(settings, **{key: [to_document(item) for item in items]}))
    elif settings.output is OutputFormat.JSONL:
        for item in items:
            emit_line(to_document(item))
    elif settings.output is OutputFormat.ID:
        print_ids(to_id(item) for item in items)
    elif not items:
        stdout_console().print(empty, style="dim")
    else:
        stdout_console().print(table(items))
