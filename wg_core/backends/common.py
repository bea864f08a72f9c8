"""Small pieces every backend adapter shares: wake-ups, filters, worker expiry, driver
errors without secrets."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence
from typing import Any, Final

from wg_core.backend import ImportedJob, JobState, NewJob, WorkerInfo
from wg_core.envelope import peek_envelope
from wg_core.urls import scrub_secrets

__all__ = [
    "WORKER_FORGET_AFTER_LEASES",
    "Waiters",
    "error_matches",
    "grouped_by_class",
    "import_hold",
    "registry_fields",
    "scrub_exception",
    "text_matches",
]

WORKER_FORGET_AFTER_LEASES: Final = 10
"""A worker silent for this many lease durations is dropped from the registry."""


_IMPORT_HOLDING: Final = frozenset({JobState.QUEUED, JobState.SCHEDULED, JobState.RETRY})
"""The states in which an imported job takes its unique key's hold (``ImportedJob``)."""


def import_hold(job: ImportedJob) -> str | None:
    """The unique key whose hold an imported job takes with it, if any: its key, when
    the job waits (a dead or finished job holds none; a running one is not imported)."""
    return job.unique_key if JobState(job.state) in _IMPORT_HOLDING else None


class Waiters:
    """Idle claimers waiting for work in this process, woken by local enqueues.

    Waiters may sit on different event loops (the blocking facade runs its own), so
    each is woken through its own loop, thread-safely.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = set()

    async def wait(self, timeout: float) -> bool:
        """Wait until woken or ``timeout`` seconds pass; True if woken."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        entry = (loop, future)
        with self._lock:
            self._waiting.add(entry)
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            with self._lock:
                self._waiting.discard(entry)

    def wake_all(self) -> None:
        """Wake every waiter (they re-check for work; spurious wake-ups are harmless)."""
        with self._lock:
            waiting = list(self._waiting)
            self._waiting.clear()
        for loop, future in waiting:
            if loop.is_closed():
                continue
            loop.call_soon_threadsafe(_resolve, future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def error_matches(raw: str, needle: str) -> bool:
    """Whether the envelope's ``last_error`` contains ``needle`` (case-insensitive)."""
    error = peek_envelope(raw).last_error
    return error is not None and needle.casefold() in error.casefold()


def text_matches(raw: str, needle: str) -> bool:
    """Whether the stored text contains ``needle``, ASCII case folded (as SQL's
    ``LOWER``/``LIKE`` fold it, so every backend matches the same jobs)."""
    return _ascii_lower(needle) in _ascii_lower(raw)


_ASCII_LOWER: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _ascii_lower(text: str) -> str:
    return text.translate(_ASCII_LOWER)


def scrub_exception(exc: BaseException, url: str) -> str:
    """``exc``'s text without ``url``'s password (``scrub_secrets``), after removing it
    in place from the arguments of ``exc`` and of every exception chained to it: wg
    raises its own errors *from* the driver's, and a traceback prints the driver's
    text too (libpq quotes a malformed URI, password and all)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        with contextlib.suppress(TypeError, AttributeError):  # args fixed by the class
            current.args = tuple(
                scrub_secrets(arg, url) if isinstance(arg, str) else arg for arg in current.args
            )
        current = current.__cause__ or current.__context__
    return scrub_secrets(str(exc), url)


def registry_fields(worker: WorkerInfo) -> dict[str, Any]:
    """What a worker's registry entry stores besides its id and stop flag: the same
    fields on every backend (``last_seen`` is the backend's clock, not the caller's)."""
    return {
        "host": worker.host,
        "pid": worker.pid,
        "concurrency": worker.concurrency,
        "running": worker.running,
        "started_at": worker.started_at,
        "state": worker.state,
        "job_names": list(worker.job_names),
    }


def grouped_by_class(jobs: Sequence[NewJob]) -> Sequence[NewJob]:
    """``jobs`` in stored order for one insert: grouped by queue and priority, each
    group in the batch's order (a stable sort), so FIFO within a priority is kept.

    Why: a claim takes one queue's highest priority first, and an acknowledgement
    deletes what it took. Rows of nine interleaved classes put every class on every
    table page, so each claim and delete rewrites pages shared with the others (SQLite
    measured 1.36 WAL pages per job against 0.35 for one queue; benchmarks/queue_layout.py).
    Order across classes is never observable: claims order by queue, then priority."""
    first = jobs[0] if jobs else None
    if first is None or all(j.queue == first.queue and j.priority == first.priority for j in jobs):
        return jobs
    return sorted(jobs, key=lambda job: (job.queue, -job.priority))
