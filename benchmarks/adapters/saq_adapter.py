"""SAQ 0.26 on Redis and on PostgreSQL: ``Queue.from_url``, ``queue.enqueue``, ``Worker``.

On Redis SAQ dequeues with a blocking BLMOVE; on PostgreSQL it claims with ``FOR UPDATE
SKIP LOCKED`` and waits on LISTEN/NOTIFY — sensible defaults, so no tuned row. No bulk
enqueue API (``Queue.map`` enqueues many but waits for their results).
"""

from __future__ import annotations

import asyncio
from typing import Any

from benchmarks.adapters.base import Adapter, Job, Servers
from benchmarks.recorder import run_job


async def bench(ctx: Any, *, t: float) -> None:
    await run_job(t)


class SaqAdapter(Adapter):
    worker_model = "asyncio Worker, concurrency=10"

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"saq ({self.backend})"

    def _queue(self) -> Any:
        from saq import Queue

        url = self.redis_url if self.backend == "redis" else self.postgres_url
        return Queue.from_url(url, name="bench")

    async def setup(self) -> None:
        # Connecting creates SAQ's PostgreSQL tables; doing it here keeps a worker and a
        # producer that start together from racing to create them.
        queue = self._queue()
        await queue.connect()
        await queue.disconnect()

    async def open(self) -> None:
        self.queue = self._queue()
        await self.queue.connect()

    async def close(self) -> None:
        await self.queue.disconnect()

    async def enqueue(self, job: Job) -> None:
        await self.queue.enqueue("bench", t=job["t"])

    def run_worker(self, concurrency: int) -> None:
        from saq import Worker

        async def main() -> None:
            queue = self._queue()
            worker = Worker(queue, functions=[("bench", bench)], concurrency=concurrency)
            # What `saq.worker.start` (the CLI) does: connect the queue, then start.
            await queue.connect()
            await worker.start()

        asyncio.run(main())

    def version(self) -> str:
        from importlib.metadata import version

        return f"saq {version('saq')}"


def make(key: str, backend: str, variant: str, servers: Servers) -> Adapter:
    return SaqAdapter(key, backend, variant, servers)
