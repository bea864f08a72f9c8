"""How workers, queues and error groups read as table rows, and how times, ages and
errors read as text (jobs: ``wg_tui.job_rows``).

Plain strings only (no Textual, no Rich): widgets decide the styling. Every function
takes ``now`` explicitly so the output depends on the injected clock alone. Times are
shown in UTC, so that screenshots and operators in different zones read the same thing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from wg_core import PeriodicInfo, QueueInfo, QueueLimit, WorkerInfo
from wg_tui.error_groups import ErrorGroup
from wg_tui.snapshot import worker_is_stale

__all__ = [
    "GROUP_COLUMNS",
    "PERIODIC_COLUMNS",
    "QUEUE_COLUMNS",
    "SHORT_ID_LENGTH",
    "TREND_WIDTH",
    "WORKER_COLUMNS",
    "GroupRow",
    "PeriodicRow",
    "QueueRow",
    "WorkerRow",
    "describe_error",
    "format_age",
    "format_clock",
    "format_duration",
    "format_relative",
    "format_time",
    "group_row",
    "limit_text",
    "one_line",
    "periodic_row",
    "plural",
    "pretty_json",
    "queue_row",
    "short_id",
    "sparkline",
    "worker_row",
]

QUEUE_COLUMNS: Final = (
    "queue",
    "pending",
    "scheduled",
    "retry",
    "running",
    "dead",
    "paused",
    "processed/s",
    "processed",
    "failed",
    "rate trend",
    "depth trend",
    "limit",
)
"""Column titles of the queues tab (``pending``: queued, ready to be claimed; the
trends: sparklines of processed/s and of pending jobs over the last ``TREND_WIDTH``
refreshes of the tab; the limit last, as its text is the longest)."""

TREND_WIDTH: Final = 10
"""Refreshes a queue's trend columns show (one character each, newest on the right)."""

GROUP_COLUMNS: Final = ("jobs", "error (type and message)", "job names", "last died")
"""Column titles of the dead tab grouped by error."""

PERIODIC_COLUMNS: Final = (
    "periodic entry",
    "schedule",
    "queue",
    "job",
    "next run",
    "last run",
    "last job",
)
"""Column titles of the periodic entries, under the scheduled jobs."""

WORKER_COLUMNS: Final = (
    "id",
    "host",
    "pid",
    "concurrency",
    "running",
    "started",
    "heartbeat",
    "state",
    "queues",
)


SHORT_ID_LENGTH: Final = 8


def short_id(job_id: str) -> str:
    """The last eight characters of an id: the part that tells jobs apart.

    wg's ids are time-ordered UUIDs (version 7): their first eight hex digits are the
    creation time, the same for every job of one run (and jobs enqueued together
    count up in the last digits). The tail is random, or that count, in every UUID
    version; search (``/``) finds a job by this fragment.
    """
    return job_id[-SHORT_ID_LENGTH:]


def format_duration(seconds: float) -> str:
    """A compact, rounded-down duration: ``45s``, ``5m``, ``2h 5m``, ``3d 4h``."""
    total = int(max(0.0, seconds))
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m {secs}s" if secs and minutes < 10 else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


def format_age(then: float | None, now: float) -> str:
    """How long ago ``then`` was (``—`` if unknown)."""
    if then is None:
        return "—"
    return format_duration(now - then)


def format_relative(when: float | None, now: float) -> str:
    """``in 5m`` for the future, ``5m ago`` for the past, ``now`` within a second."""
    if when is None:
        return "—"
    delta = when - now
    if abs(delta) < 1:
        return "now"
    if delta > 0:
        return f"in {format_duration(delta)}"
    return f"{format_duration(-delta)} ago"


def format_time(when: float | None) -> str:
    """``2026-01-01 12:00:00`` in UTC (``—`` if unknown)."""
    if when is None:
        return "—"
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d %H:%M:%S")


def format_clock(when: float) -> str:
    """``12:00:00``: the time of day in UTC."""
    return datetime.fromtimestamp(when, UTC).strftime("%H:%M:%S")


def plural(count: int, noun: str) -> str:
    """``1 job``, ``2 jobs``, ``1,200 jobs``."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def one_line(text: str | None, width: int) -> str:
    """``text`` on one line (first line, whitespace collapsed), cut to ``width`` with …."""
    if not text:
        return ""
    first = " ".join(text.strip().splitlines()[0].split()) if text.strip() else ""
    return first if len(first) <= width else first[: width - 1] + "…"


def pretty_json(value: Any) -> str:
    """``value`` as indented JSON (what the payload looks like to a person)."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


@dataclass(frozen=True, slots=True)
class GroupRow:
    """One error group as a table row, keyed by the error's first line."""

    key: str
    cells: tuple[str, ...]


def group_row(group: ErrorGroup, now: float) -> GroupRow:
    """The row for ``group`` (cells in ``GROUP_COLUMNS`` order)."""
    names = ", ".join(group.job_names[:3]) + (" …" if len(group.job_names) > 3 else "")
    died = "—" if group.last_died is None else format_relative(group.last_died, now)
    return GroupRow(
        key=group.key,
        cells=(
            f"{group.count:,}",
            one_line(group.key, 80) or "(no error recorded)",
            names,
            died,
        ),
    )


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One named queue as a table row, keyed by its name."""

    key: str
    cells: tuple[str, ...]
    paused: bool
    """The queue is paused on its own (highlighted)."""


def limit_text(limit: QueueLimit | None) -> str:
    """A queue's limit and its use: ``2/3 running``, ``7/10 per 1s``, both, with ``per
    key`` (the counts are over every key); ``—`` without a limit."""
    if limit is None:
        return "—"
    parts = []
    if limit.concurrency is not None:
        parts.append(f"{limit.running}/{limit.concurrency} running")
    if limit.rate is not None and limit.per is not None:
        parts.append(f"{limit.started}/{limit.rate} per {format_duration(limit.per)}")
    text = ", ".join(parts)
    return f"{text}, per key" if limit.per_key else text


def queue_row(
    queue: QueueInfo,
    rate: float | None,
    limit: QueueLimit | None = None,
    rates: Sequence[float] = (),
    depths: Sequence[int] = (),
) -> QueueRow:
    """The row for ``queue`` (cells in ``QUEUE_COLUMNS`` order); ``rate``: processed per
    second over the last refresh interval (``—`` until two refreshes have seen it);
    ``limit``: its limit with its use, if it has one; ``rates`` and ``depths``: its
    history, drawn as the trend sparklines."""
    counts = queue.counts
    return QueueRow(
        key=queue.name,
        cells=(
            queue.name,
            f"{counts.queued:,}",
            f"{counts.scheduled:,}",
            f"{counts.retry:,}",
            f"{counts.running:,}",
            f"{counts.dead:,}",
            "paused" if queue.paused else "—",
            "—" if rate is None else f"{rate:,.1f}",
            f"{queue.counters.processed:,}",
            f"{queue.counters.failed:,}",
            sparkline(rates, TREND_WIDTH),
            sparkline(depths, TREND_WIDTH),
            limit_text(limit),
        ),
        paused=queue.paused,
    )


@dataclass(frozen=True, slots=True)
class WorkerRow:
    """One worker pool as a table row, keyed by its id."""

    key: str
    cells: tuple[str, ...]
    stale: bool
    """No heartbeat for longer than ``STALE_AFTER``: highlighted."""


def worker_row(worker: WorkerInfo, now: float) -> WorkerRow:
    """The row for ``worker`` (cells in ``WORKER_COLUMNS`` order)."""
    stale = worker_is_stale(worker, now)
    if worker.stop_requested and worker.state != "draining":
        state = "stop requested"
    else:
        state = worker.state
    heartbeat = format_age(worker.last_seen, now) + " ago"
    if stale:
        heartbeat += " (stale)"
    return WorkerRow(
        key=worker.worker_id,
        cells=(
            worker.worker_id,
            worker.host,
            str(worker.pid),
            str(worker.concurrency),
            str(worker.running),
            format_time(worker.started_at),
            heartbeat,
            state,
            ", ".join(worker.queues),
        ),
        stale=stale,
    )


def describe_error(exc: BaseException) -> str:
    """An exception as one short line for the status bar or a notification."""
    message = one_line(str(exc), 160)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


_BARS: Final = " ▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], width: int) -> str:
    """The last ``width`` values as bars scaled from zero to the largest (newest right).

    Zero is a blank and any non-zero value shows at least the lowest bar, so a quiet
    interval never looks like a busy one, and a trickle never looks like nothing.
    """
    shown = values[-width:] if width > 0 else []
    peak = max(shown, default=0)
    if peak <= 0:
        return " " * width
    top = len(_BARS) - 1
    bars = "".join(
        _BARS[0] if value <= 0 else _BARS[max(1, round(value / peak * top))] for value in shown
    )
    return bars.rjust(width)


@dataclass(frozen=True, slots=True)
class PeriodicRow:
    """One periodic entry as a table row, keyed by its name."""

    key: str
    cells: tuple[str, ...]


def periodic_row(entry: PeriodicInfo, now: float) -> PeriodicRow:
    """The row for ``entry`` (cells in ``PERIODIC_COLUMNS`` order)."""
    queue = entry.queue if not entry.priority else f"{entry.queue} ({entry.priority:+d})"
    return PeriodicRow(
        key=entry.name,
        cells=(
            entry.name,
            entry.schedule,
            queue,
            entry.job_name,
            format_relative(entry.next_run, now),
            "never" if entry.last_run_at is None else format_relative(entry.last_run_at, now),
            "—" if entry.last_job_id is None else short_id(entry.last_job_id),
        ),
    )
