"""The tables people read: jobs of one state, worker pools, named queues (Rich).

Every cell is a ``Text`` object, never a markup string: job names, errors, payloads
and results are user data and may contain square brackets. JSON documents for scripts
are in ``wg_cli.output``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Final, Literal

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from wg_cli.durations import format_age, format_duration
from wg_cli.output import COUNTED_STATES
from wg_core import DEFAULT_QUEUE, JobInfo, QueueInfo, WorkerInfo

__all__ = ["jobs_table", "queues_table", "workers_table"]


def _short(text: str | None, width: int) -> Text:
    # Text objects, never markup strings: job names and errors are user data and may
    # contain square brackets.
    if text is None:
        return Text("-", style="dim")
    flat = " ".join(text.split())
    return Text(flat if len(flat) <= width else flat[: width - 1] + "…")


def _json_preview(value: object, width: int) -> Text:
    return _short(json.dumps(value, ensure_ascii=False, separators=(",", ":")), width)


def _payload_preview(job: JobInfo, width: int = 40) -> Text:
    if job.envelope is None:
        return Text("(undecodable)", style="red")
    return _json_preview(job.payload, width)


_TIME_COLUMN: Final = {
    "queued": ("enqueued", "updated_at"),
    "scheduled": ("due", "due_at"),
    "retry": ("retry due", "due_at"),
    "running": ("lease until", "lease_until"),
    "dead": ("died", "updated_at"),
    "completed": ("finished", "finished_at"),
    "cancelled": ("cancelled", "finished_at"),
}

_DETAIL_COLUMN: Final = {"retry": "last error", "dead": "last error", "completed": "result"}
"""The column a state's rows are read for, before the payload."""


def _detail(job: JobInfo, column: str) -> Text:
    if column == "result":
        # Cut like the payload: `wg result ID` or `-o json` print the whole value.
        return _json_preview(job.result, 500)
    return _short(job.last_error, 500)


def _progress(job: JobInfo) -> Text:
    progress = job.progress
    return Text("-", style="dim") if progress is None else Text(f"{progress.fraction:.0%}")


def _run_time(job: JobInfo) -> Text:
    run_time = job.run_time
    return Text("-", style="dim") if run_time is None else Text(format_duration(run_time))


def jobs_table(
    jobs: Iterable[JobInfo],
    state: str,
    *,
    title: str | None = None,
    width: int = 120,
    queue_known: bool = False,
) -> RenderableType:
    """Jobs of one state for people, fitted to ``width``: one line per job, or two on a
    narrow terminal when there is an error or a result to show (ids are never cut: people
    copy them).

    A ``queue`` column appears when some job is outside the queue ``default`` (not when
    ``queue_known``: the listing was filtered to one queue), a ``prio`` column when some
    job has a priority: a namespace that uses neither reads as before. Running jobs
    get a ``progress`` column when one of them reported progress; completed jobs their
    run time and result (cut to fit: ``wg result ID`` prints it whole).
    """
    now = time.time()
    label, attribute = _TIME_COLUMN[state]
    rows = list(jobs)
    detail = _DETAIL_COLUMN.get(state)
    with_queue = not queue_known and any(job.queue != DEFAULT_QUEUE for job in rows)
    with_priority = any(job.priority for job in rows)
    with_progress = state == "running" and any(job.progress is not None for job in rows)
    longest_name = max((len(job.job_name or "-") for job in rows), default=3)
    fixed = {"id": 36, "job": max(3, min(longest_name, 20))}
    if with_queue:
        fixed["queue"] = max(5, min(max(len(job.queue) for job in rows), 16))
    if with_priority:
        fixed["prio"] = 5
    fixed["runs"] = 5
    fixed[label] = max(len(label), 10)
    if state == "running":
        # Worker ids are long; on a narrow terminal the column gives way, not the job id.
        room = width - sum(fixed.values()) - 2 * (len(fixed) + 1)
        fixed["worker"] = max(8, min(20, room))
    if with_progress and width - sum(fixed.values()) - 2 * len(fixed) < 10:
        with_progress = False  # a narrow terminal: the id and the worker matter more
    if with_progress:
        fixed["progress"] = 8
    if state == "completed":
        fixed["run time"] = 8
    # Columns are separated by two spaces (no vertical borders); one more for the
    # separator of each free column.
    left = width - sum(fixed.values()) - 2 * len(fixed) - 1
    if detail and left < 40:
        return _jobs_two_lines(
            rows, label, attribute, title, now, with_queue, with_priority, detail=detail
        )
    detail_width = min(left, 80) if detail else 0
    payload_width = left - detail_width - (2 if detail else 0)
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
        right = name in ("runs", "prio", "progress", "run time")
        justify: Literal["left", "right"] = "right" if right else "left"
        table.add_column(name, width=size, no_wrap=True, overflow="ellipsis", justify=justify)
    if detail:
        table.add_column(detail, width=detail_width, no_wrap=True, overflow="ellipsis")
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
        if with_progress:
            row.append(_progress(job))
        if state == "completed":
            row.append(_run_time(job))
        if detail:
            row.append(_detail(job, detail))
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
    *,
    detail: str,
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
        if detail == "result":
            line.append_text(Text.assemble(("  ran ", "dim"), _run_time(job)))
        lines.append(line)
        second = Text("    ") + _detail(job, detail)
        second.no_wrap = True
        second.overflow = "ellipsis"
        lines.append(second)
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


_HISTORY: Final = frozenset({"completed", "cancelled"})


def queues_table(queues: Iterable[QueueInfo], *, namespace_paused: bool = False) -> Table:
    """One row per queue: jobs per state, paused, processed/failed totals.

    The ``completed`` and ``cancelled`` columns appear when some queue keeps such jobs
    (a namespace that keeps no history reads as before). ``namespace_paused``: the
    whole namespace is paused, which stops every queue whatever its own flag says
    (shown, so that "no" does not read as "claiming").
    """
    # No borders and two spaces between columns, as the counts above it.
    queues = list(queues)
    states = [
        state
        for state in COUNTED_STATES
        if state not in _HISTORY or any(getattr(queue.counts, state) for queue in queues)
    ]
    table = Table(header_style="bold", box=None, padding=(0, 2, 0, 0), show_edge=False)
    table.add_column("queue", no_wrap=True, overflow="ellipsis")
    styles = {"retry": "yellow", "dead": "red", "running": "green"}
    for state in states:
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
            *(Text(f"{getattr(queue.counts, state):,}") for state in states),
            paused,
            Text(f"{queue.counters.processed:,}"),
            Text(f"{queue.counters.failed:,}"),
        )
    return table
