"""Printing results: versioned JSON documents for scripts, Rich tables for people.

JSON goes to stdout through ``json.dumps`` and ``typer.echo``, never through Rich, so
markup and line wrapping cannot corrupt it. Every document is an object with
``"version": DOCUMENT_VERSION`` and the ``namespace``; times are RFC 3339 UTC strings,
durations are numbers of seconds. Fields are only ever added within a version; the
version goes up when what a document means changes (docs/cli.md keeps the history).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal

import typer
from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from wg_cli.durations import format_age, format_duration, rfc3339
from wg_cli.settings import Settings
from wg_core import DEFAULT_QUEUE, JobInfo, QueueInfo, WorkerInfo

__all__ = [
    "DOCUMENT_VERSION",
    "document",
    "emit",
    "emit_line",
    "job_document",
    "jobs_table",
    "print_ids",
    "queue_document",
    "queues_table",
    "stderr_console",
    "stdout_console",
    "worker_document",
    "workers_table",
]

DOCUMENT_VERSION: Final = 2
"""2 since named queues (issue 17): jobs, workers and counts belong to queues, so
``counts.queued`` no longer means "what any worker will run next". 1 before."""

QUEUE_STATES: Final = ("queued", "scheduled", "retry", "running", "dead")


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
    }
    if envelope:
        try:
            doc["envelope"] = json.loads(job.raw)
        except (ValueError, RecursionError):
            doc["envelope"] = None
    return doc


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


def _short(text: str | None, width: int) -> Text:
    # Text objects, never markup strings: job names and errors are user data and may
    # contain square brackets.
    if text is None:
        return Text("-", style="dim")
    flat = " ".join(text.split())
    return Text(flat if len(flat) <= width else flat[: width - 1] + "…")


def _payload_preview(job: JobInfo, width: int = 40) -> Text:
    if job.envelope is None:
        return Text("(undecodable)", style="red")
    return _short(json.dumps(job.payload, ensure_ascii=False, separators=(",", ":")), width)


_TIME_COLUMN: Final = {
    "queued": ("enqueued", "updated_at"),
    "scheduled": ("due", "due_at"),
    "retry": ("retry due", "due_at"),
    "running": ("lease until", "lease_until"),
    "dead": ("died", "updated_at"),
}


def jobs_table(
    jobs: Iterable[JobInfo],
    state: str,
    *,
    title: str | None = None,
    width: int = 120,
    queue_known: bool = False,
) -> RenderableType:
    """Jobs of one state for people, fitted to ``width``: one line per job, or two on a
    narrow terminal when there is an error to show (ids are never cut: people copy them).

    A ``queue`` column appears when some job is outside the queue ``default`` (not when
    ``queue_known``: the listing was filtered to one queue), a ``prio`` column when some
    job has a priority: a namespace that uses neither reads as before.
    """
    now = time.time()
    label, attribute = _TIME_COLUMN[state]
    rows = list(jobs)
    with_error = state in ("retry", "dead")
    with_queue = not queue_known and any(job.queue != DEFAULT_QUEUE for job in rows)
    with_priority = any(job.priority for job in rows)
    longest_name = max((len(job.job_name or "-") for job in rows), default=3)
    fixed = {"id": 36, "job": max(3, min(longest_name, 20))}
    if with_queue:
        fixed["queue"] = max(5, min(max(len(job.queue) for job in rows), 16))
    if with_priority:
        fixed["prio"] = 5
    fixed["runs"] = 5
    fixed[label] = max(len(label), 10)
    if state == "running":
        fixed["worker"] = 20
    # Columns are separated by two spaces (no vertical borders); one more for the
    # separator of each free column.
    left = width - sum(fixed.values()) - 2 * len(fixed) - 1
    if with_error and left < 40:
        return _jobs_two_lines(rows, label, attribute, title, now, with_queue, with_priority)
    error_width = min(left, 80) if with_error else 0
    payload_width = left - error_width - (2 if with_error else 0)
    table = Table(
        title=title,
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )
    for name, size in fixed.items():
        justify: Literal["left", "right"] = "right" if name in ("runs", "prio") else "left"
        table.add_column(name, width=size, no_wrap=True, overflow="ellipsis", justify=justify)
    if with_error:
        table.add_column("last error", width=error_width, no_wrap=True, overflow="ellipsis")
    with_payload = payload_width >= 12
    if with_payload:
        table.add_column("payload", width=payload_width, no_wrap=True, overflow="ellipsis")
    for job in rows:
        row: list[Text] = [Text(job.job_id, style="cyan"), _short(job.job_name, 200)]
        if with_queue:
            row.append(_short(job.queue, 200))
        if with_priority:
            row.append(Text(str(job.priority)))
        row.append(Text(_runs(job)))
        row.append(Text(format_age(getattr(job, attribute), now)))
        if state == "running":
            row.append(_short(job.worker_id, 200))
        if with_error:
            row.append(_short(job.last_error, 500))
        if with_payload:
            row.append(_payload_preview(job, 500))
        table.add_row(*row)
    return table


def _jobs_two_lines(
    rows: list[JobInfo],
    label: str,
    attribute: str,
    title: str | None,
    now: float,
    with_queue: bool,
    with_priority: bool,
) -> RenderableType:
    lines: list[RenderableType] = [Text(title, style="bold")] if title else []
    for job in rows:
        line = Text.assemble((job.job_id, "cyan"), "  ", job.job_name or "-")
        if with_queue:
            line.append_text(Text.assemble(("  queue ", "dim"), job.queue))
        if with_priority:
            line.append_text(Text.assemble(("  prio ", "dim"), str(job.priority)))
        line.append_text(
            Text.assemble(
                ("  runs ", "dim"),
                _runs(job),
                (f"  {label} ", "dim"),
                format_age(getattr(job, attribute), now),
            )
        )
        lines.append(line)
        error = Text("    ") + _short(job.last_error, 500)
        error.no_wrap = True
        error.overflow = "ellipsis"
        lines.append(error)
    return Group(*lines)


def _runs(job: JobInfo) -> str:
    # Runs so far of runs allowed (JobInfo.runs: a fatal run and a running one count).
    return "-" if job.runs is None else f"{job.runs}/{job.runs_allowed}"


def workers_table(workers: Iterable[WorkerInfo]) -> Table:
    """A table of registered worker pools, for people."""
    now = time.time()
    table = Table(header_style="bold")
    columns = ("worker", "host", "pid", "state", "busy", "up", "last seen", "queues", "jobs")
    for column in columns:
        table.add_column(column, no_wrap=column not in ("jobs", "queues"))
    for worker in workers:
        state = worker.state + (" (stop requested)" if worker.stop_requested else "")
        table.add_row(
            Text(worker.worker_id, style="cyan"),
            Text(worker.host),
            Text(str(worker.pid)),
            Text(state, style="yellow" if worker.state != "running" else "green"),
            Text(f"{worker.running}/{worker.concurrency}"),
            Text(format_duration(now - worker.started_at) if worker.started_at else "-"),
            Text(format_age(worker.last_seen, now)),
            Text(", ".join(worker.queues)),
            Text(", ".join(worker.job_names) or "all"),
        )
    return table


def queue_document(queue: QueueInfo) -> dict[str, Any]:
    """One named queue as JSON: its jobs per state, pause flag and totals."""
    counts = {state: getattr(queue.counts, state) for state in QUEUE_STATES}
    return {
        "name": queue.name,
        "counts": {**counts, "total": queue.counts.total},
        "paused": queue.paused,
        "processed": queue.counters.processed,
        "failed": queue.counters.failed,
    }


def queues_table(queues: Iterable[QueueInfo], *, namespace_paused: bool = False) -> Table:
    """One row per queue: jobs per state, paused, processed/failed totals.

    ``namespace_paused``: the whole namespace is paused, which stops every queue
    whatever its own flag says (shown, so that "no" does not read as "claiming").
    """
    # No borders and two spaces between columns, as the counts above it: the whole
    # table fits 80 columns with a queue name of 20 characters.
    table = Table(header_style="bold", box=None, padding=(0, 2, 0, 0), show_edge=False)
    table.add_column("queue", no_wrap=True, overflow="ellipsis")
    styles = {"retry": "yellow", "dead": "red", "running": "green"}
    for state in QUEUE_STATES:
        table.add_column(
            state, justify="right", style=styles.get(state), no_wrap=True, min_width=len(state)
        )
    for title in ("paused", "processed", "failed"):
        justify: Literal["left", "right"] = "left" if title == "paused" else "right"
        table.add_column(title, justify=justify, no_wrap=True, min_width=len(title))
    for queue in queues:
        if queue.paused:
            paused = Text("yes", style="bold yellow")
        elif namespace_paused:
            paused = Text("(namespace)", style="yellow")
        else:
            paused = Text("no", style="dim")
        table.add_row(
            Text(queue.name, style="cyan"),
            *(Text(f"{getattr(queue.counts, state):,}") for state in QUEUE_STATES),
            paused,
            Text(f"{queue.counters.processed:,}"),
            Text(f"{queue.counters.failed:,}"),
        )
    return table


def print_ids(ids: Iterable[str]) -> None:
    """One id per line (``-o id``)."""
    for job_id in ids:
        typer.echo(job_id)
