"""``python -m benchmarks.middleware_cost [URL]``: worker CPU per job with and without
middleware (issue 22), in-process: on the memory backend by default (no I/O: the
harshest ratio), or on the backend at ``URL`` (``sqlite:///tmp/cost.db``,
``redis://127.0.0.1:6379/7``; namespace ``cost``, wiped before each drain).

A ``WorkerPool`` (10 slots, ``keep_finished=0``) drains ``JOBS`` no-op jobs; the process's
CPU time (``time.process_time``, every thread) from the first job's start to the last
one's acknowledgement, per job, is the figure (the pool's start-up, and the metrics'
first queue count in ``started``, are not the drain's); median of ``ROUNDS`` rounds of
four variants taken in turn: no middleware, one no-op middleware (``before``,
``on_error``, ``after``), ``PrometheusMetrics`` alone, both. docs/benchmarks.md
("Observability") reports it.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from typing import Any

from wg_core import Backend, Client, MemoryBackend, WorkerPool
from wg_core.urls import backend_from_url

JOBS = 20_000
ROUNDS = 6


async def drain(middleware: list[Any] | None, url: str | None = None) -> float:
    """Worker CPU µs per job of one drain."""
    if url is None:
        backend: Backend = MemoryBackend("cost")
    else:
        backend = backend_from_url(url, "cost")
        await backend.open()
        await backend.destroy()  # what an earlier drain left
        await backend.close()
        backend = backend_from_url(url, "cost")
        await backend.open()
    client = Client(backend)
    for _ in range(JOBS // 1000):
        await client.enqueue_many([{"i": i} for i in range(1000)], job_name="bench")

    first: list[float] = []

    async def handle(job: Any) -> None:
        if not first:
            first.append(time.process_time())

    settings: dict[str, Any] = {"middleware": middleware} if middleware else {}
    pool = WorkerPool(handle, backend=backend, workers=10, keep_finished=0, **settings)
    await pool.start()
    while pool.stats.processed < JOBS:  # noqa: ASYNC110 - the pool has no "drained" event
        await asyncio.sleep(0.005)
    spent = time.process_time() - first[0]
    pool.shutdown()
    await pool.wait_closed()
    if url is not None:
        await backend.close()
    return spent / JOBS * 1e6


def variants() -> dict[str, Any]:
    """What each variant's pool gets (a factory: each round fresh instances; the
    middleware of the benchmark's ``observed`` rows)."""
    from benchmarks.adapters.wg_adapter import observers

    return {
        "none": lambda: None,
        "no-op middleware": lambda: observers()[1:],
        "metrics": lambda: observers()[:1],
        "metrics + no-op": observers,
    }


async def main(url: str | None) -> None:
    made = variants()
    samples: dict[str, list[float]] = {name: [] for name in made}
    for _ in range(ROUNDS):
        for name, make in made.items():
            samples[name].append(await drain(make(), url))
    for name, values in samples.items():
        print(f"{name:<18} {statistics.median(values):6.1f} µs/job")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else None))
