"""``python -m benchmarks.limits [BACKEND...]``: what queue limits cost a queue that has
none (issue 20); ``python -m benchmarks.limits busy [BACKEND...]``: whether limited
queues keep their slots busy across processes (``limits_busy.py``).

Drains N no-op jobs of the queue ``default`` with one pool (16 workers) on a fresh
namespace, with no limit anywhere ("none") and with limits set on two *other* queues
("others limited": the fast claims then probe ``{ns}_limits`` / ``{ns}:limits`` and find
nothing for ``default``). Alternates the two, ``ROUNDS`` times each, and prints the
median drain rate (jobs/s, first job's claim to last completion) and the process CPU per
job. The same script measures another checkout side by side (the "none" rows only, if
that checkout has no limits): ``PYTHONPATH=/other/checkout python benchmarks/limits.py``.
Backends: memory, sqlite, redis, postgres, mysql (the servers of tests/backends).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from wg_core import Client, WorkerPool
from wg_core.urls import backend_from_url

N = 3000
ROUNDS = 3
URLS = {
    "memory": "memory:",
    "redis": "redis://127.0.0.1:6379/0",
    "postgres": "postgresql://postgres@127.0.0.1:5432/test",
    "mysql": "mysql://root@127.0.0.1:3306/test",
}


async def drain(url: str, limited: bool) -> tuple[float, float]:
    """(jobs/s, CPU µs/job) of one drain."""
    namespace = "b" + uuid.uuid4().hex[:12]
    backend = backend_from_url(url, namespace)
    client = Client(backend)
    await client.open()
    try:
        if limited:
            await client.set_limit("api", concurrency=3)
            await client.set_limit("cust", rate=10, per=1, per_key=True)
        for start in range(0, N, 1000):
            batch = [{"n": n} for n in range(start, start + 1000)]
            await client.enqueue_many(batch, job_name="noop")
        done = asyncio.Event()
        count = 0
        first: list[float] = []

        async def handle(job: dict[str, Any]) -> None:
            nonlocal count
            if not first:
                first.append(time.perf_counter())
            count += 1
            if count >= N:
                done.set()

        pool = WorkerPool(handle, backend=backend, workers=16, fetch_timeout=0.5)
        cpu = time.process_time()
        await pool.start()
        await asyncio.wait_for(done.wait(), timeout=600)
        elapsed = time.perf_counter() - first[0]
        cpu = time.process_time() - cpu
        pool.shutdown()
        await pool.wait_closed()
        return N / elapsed, cpu / N * 1e6
    finally:
        await backend.destroy()
        await client.close()


SCRATCH = "/dev/shm" if Path("/dev/shm").exists() else None


async def main(names: list[str]) -> None:
    has_limits = hasattr(Client, "set_limit")
    with tempfile.TemporaryDirectory(dir=SCRATCH) as d:
        urls = {**URLS, "sqlite": f"sqlite:{d}/bench.db"}
        for name in names or ["memory", "sqlite", "redis", "postgres", "mysql"]:
            samples: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
            for _ in range(ROUNDS):
                for limited in (False, True) if has_limits else (False,):
                    samples[limited].append(await drain(urls[name], limited))
            for limited, runs in samples.items():
                if not runs:
                    continue
                rate = statistics.median(r for r, _ in runs)
                cpu = statistics.median(c for _, c in runs)
                label = "others limited" if limited else "none"
                print(f"{name:9} {label:15} {rate:9,.0f} jobs/s {cpu:7,.0f} CPU µs/job", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["busy"]:
        from benchmarks.limits_busy import main as busy

        busy(sys.argv[2:])
    else:
        asyncio.run(main(sys.argv[1:]))
