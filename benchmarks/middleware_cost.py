"""``python -m benchmarks.middleware_cost``: worker CPU per job with and without
middleware (issue 22), in-process, on the memory backend (no I/O: the harshest ratio).

A ``WorkerPool`` (10 slots, ``keep_finished=0``) drains 20 000 no-op jobs; the process's
CPU time (``time.process_time``) per job is the figure, median of 6 rounds of four
variants taken in turn: no middleware, one no-op middleware (``before``, ``on_error``,
``after``), ``PrometheusMetrics`` alone, both. docs/benchmarks.md ("Observability")
reports it.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from wg_core import Client, MemoryBackend, WorkerPool

JOBS = 20_000
ROUNDS = 6


async def drain(middleware: list[Any] | None) -> float:
    """Worker CPU µs per job of one drain."""
    backend = MemoryBackend("cost")
    client = Client(backend)
    for _ in range(JOBS // 1000):
        await client.enqueue_many([{"i": i} for i in range(1000)], job_name="bench")

    async def handle(job: Any) -> None:
        return None

    settings: dict[str, Any] = {"middleware": middleware} if middleware else {}
    pool = WorkerPool(handle, backend=backend, workers=10, keep_finished=0, **settings)
    started = time.process_time()
    await pool.start()
    while pool.stats.processed < JOBS:  # noqa: ASYNC110 - the pool has no "drained" event
        await asyncio.sleep(0.005)
    spent = time.process_time() - started
    pool.shutdown()
    await pool.wait_closed()
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


async def main() -> None:
    made = variants()
    samples: dict[str, list[float]] = {name: [] for name in made}
    for _ in range(ROUNDS):
        for name, make in made.items():
            samples[name].append(await drain(make()))
    for name, values in samples.items():
        print(f"{name:<18} {statistics.median(values):6.1f} µs/job")


if __name__ == "__main__":
    asyncio.run(main())
