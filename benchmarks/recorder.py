"""What every benchmarked handler does: note when it ran, in a file the harness reads.

Each system's handler calls :func:`record` (or awaits :func:`run_job`) with the job's
``t`` (the producer's ``time.time()`` at enqueue). One line per job is appended to the
file named by ``BENCH_RECORD``: ``enqueued started finished``. ``O_APPEND`` writes of one
short line are atomic, so forked and threaded workers (RQ, Celery, Dramatiq, Huey) can
share the file; the cost is one ``write`` syscall per job, the same for every system.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Final

_SLEEP: Final = float(os.environ.get("BENCH_SLEEP", "0") or 0)
_PATH: Final = os.environ.get("BENCH_RECORD", "")

_fd: int | None = None
_fd_pid: int | None = None
_lock = threading.Lock()


def _file() -> int:
    # Opened lazily and per process: a forked child must not share its parent's offset
    # state assumptions (O_APPEND makes that safe anyway), and importing this module in
    # the producer must not create the file.
    global _fd, _fd_pid
    pid = os.getpid()
    if _fd is None or _fd_pid != pid:
        with _lock:
            if _fd is None or _fd_pid != pid:
                _fd = os.open(_PATH, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                _fd_pid = pid
    return _fd


def record(enqueued: float, started: float) -> None:
    """Append one completion line (called at the end of the handler)."""
    if _PATH:
        os.write(_file(), f"{enqueued:.6f} {started:.6f} {time.time():.6f}\n".encode())


async def run_job(enqueued: float) -> None:
    """The async benchmark job: optionally ``await asyncio.sleep`` then record."""
    started = time.time()
    if _SLEEP:
        await asyncio.sleep(_SLEEP)
    record(enqueued, started)


def run_job_sync(enqueued: float) -> None:
    """The same job for thread/process workers (RQ, Dramatiq, Huey, Celery)."""
    started = time.time()
    if _SLEEP:
        time.sleep(_SLEEP)
    record(enqueued, started)
