"""``python -m benchmarks profile KEY``: where a worker's time goes while draining.

Pre-queues N jobs, runs the system's worker under cProfile (``BENCH_PROFILE``), and once
the last job is recorded asks it (SIGUSR1) to write its stats; prints the functions with
the most own time and a few cumulative views (claim, ack, JSON, event loop, driver).
cProfile slows pure-Python code more than C code, so read shares, not absolute times.
"""

from __future__ import annotations

import io
import os
import pstats
import signal
import time
from pathlib import Path

from benchmarks.harness import Harness


def profile(harness: Harness, key: str, n: int, concurrency: int, top: int) -> str:
    """Profile ``key``'s worker draining ``n`` jobs; returns the report text."""
    harness.reset(key)
    harness.prefill(key, n)
    stats_path = harness.logs / f"{key}-profile.prof"
    stats_path.unlink(missing_ok=True)
    harness._env["BENCH_PROFILE"] = str(stats_path)
    try:
        with harness.worker(key, f"{key}-profile", concurrency) as (proc, record):
            started = time.monotonic()
            done = harness.wait_lines(proc, record, n, started + 300)
            elapsed = time.monotonic() - started
            os.kill(proc.pid, signal.SIGUSR1)
            deadline = time.monotonic() + 30
            while not stats_path.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        del harness._env["BENCH_PROFILE"]
    out = io.StringIO()
    out.write(f"{key}: {done}/{n} jobs in {elapsed:.1f} s under cProfile\n")
    stats = pstats.Stats(str(stats_path), stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def write(text: str, path: Path) -> None:
    path.write_text(text)
