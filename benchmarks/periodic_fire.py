"""What a periodic tick costs on each backend: ``fire_periodic`` when it stores the run's
job, when the tick is taken already (what the other pools pay), when it re-creates its
missing entry (another service's pool deleted it), and a plain one-job ``enqueue``
beside them, sequentially from one connection. Fires carry the entry's definition, as
a pool's do.

    .venv/bin/python -m benchmarks.periodic_fire [BACKEND ...]   # default: all five

A pool pays one fire per entry per tick, so these are per-period costs, not per-job
hot-path costs (docs/periodic.md).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from tests.backends import ALL_BACKENDS, fresh_namespace, make_backend
from tests.helpers import new_job
from wg_core.backend import PeriodicEntry

ROUNDS = 300


async def measure(name: str) -> str:
    """One line of milliseconds per call for backend ``name``."""
    backend = make_backend(name, fresh_namespace(), Path(tempfile.mkdtemp()))
    await backend.open()
    try:
        entry = PeriodicEntry(name="e", schedule="every 1s", job_name="j", baseline=0.0)
        await backend.register_periodic([entry], now=0.0)
        timings = []
        for expected in (True, False):
            started = time.perf_counter()
            for tick in range(1, ROUNDS + 1):
                fired = await backend.fire_periodic(
                    "e",
                    tick=float(tick),
                    job=new_job(),
                    now=float(tick),
                    next_run=None,
                    entry=entry,
                )
                assert fired is expected
            timings.append((time.perf_counter() - started) / ROUNDS * 1e3)
        missing = [replace(entry, name=f"missing{index}") for index in range(ROUNDS)]
        started = time.perf_counter()
        for revived in missing:
            assert await backend.fire_periodic(
                revived.name, tick=1.0, job=new_job(), now=1.0, next_run=None, entry=revived
            )
        timings.append((time.perf_counter() - started) / ROUNDS * 1e3)
        started = time.perf_counter()
        for _ in range(ROUNDS):
            await backend.enqueue([new_job()])
        timings.append((time.perf_counter() - started) / ROUNDS * 1e3)
    finally:
        await backend.destroy()
        await backend.close()
    stores, taken, recreates, enqueue = timings
    return f"| {name} | {stores:.2f} | {taken:.2f} | {recreates:.2f} | {enqueue:.2f} |"


def main() -> None:
    """Print a markdown table for the backends named on the command line (or all)."""
    print(
        "| backend | fire, stores (ms) | fire, tick taken (ms) | fire, re-creates (ms) "
        "| plain enqueue (ms) |"
    )
    print("|---|---:|---:|---:|---:|")
    for name in sys.argv[1:] or ALL_BACKENDS:
        print(asyncio.run(measure(name)), flush=True)


if __name__ == "__main__":
    main()
