"""``python -m benchmarks.drain_cpu``: the worker's CPU per job of one drain, in-process.

A ``WorkerPool`` (10 slots) drains no-op jobs on the in-memory backend (or ``--url``);
the figure is the process's CPU time (``time.process_time``) per job of the second of
two drains (the first warms the process up). CPU time, not wall time: it holds up on
a loaded machine. To compare two versions of wg, run it under each (``PYTHONPATH``
pointing at each one's source), alternating, and take medians (docs/benchmarks.md,
"hotpath2").

    python -m benchmarks.drain_cpu --keep default --annotation dict
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from wg_core import Client, JobState, MemoryBackend, WorkerPool
from wg_core.urls import backend_from_url


async def _handle_any(job: Any) -> None:
    return None


async def _handle_dict(job: dict[str, Any]) -> None:
    return None


async def drain(args: argparse.Namespace) -> float:
    """Worker CPU µs per job of one drain."""
    backend = MemoryBackend("cpu") if args.url is None else backend_from_url(args.url, "hp_cpu")
    client = Client(backend)
    for _ in range(args.jobs // 1000):
        await client.enqueue_many([{"i": i} for i in range(1000)], job_name="bench")
    settings: dict[str, Any] = {}
    if args.keep != "default":
        settings["keep_finished"] = float(args.keep)
    handler = _handle_any if args.annotation == "any" else _handle_dict
    pool = WorkerPool(handler, backend=backend, workers=10, **settings)
    started = time.process_time()
    await pool.start()
    while pool.stats.processed < args.jobs // 1000 * 1000:  # noqa: ASYNC110 - no "drained" event
        await asyncio.sleep(0.005)
    spent = time.process_time() - started
    pool.shutdown()
    await pool.wait_closed()
    await backend.purge(JobState.COMPLETED)
    await backend.close()
    return spent / args.jobs * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--keep", default="0", help="keep_finished seconds, or 'default'")
    parser.add_argument("--annotation", choices=["any", "dict"], default="any")
    parser.add_argument("--url", help="a backend URL instead of the in-memory backend")
    args = parser.parse_args()
    await drain(args)
    print(f"{await drain(args):.1f} µs/job")


if __name__ == "__main__":
    asyncio.run(main())
