"""streaq 7.2 (Redis streams, coredis): ``task.enqueue`` / ``Worker.enqueue_many`` and
``Worker.run_async`` at ``concurrency=10``. Consumer groups with XREADGROUP (blocking),
acknowledgement with XACK, idle-timeout redelivery; pickle serialisation by default.
"""

from __future__ import annotations

from typing import Any

from benchmarks.adapters.base import Adapter, Job, Servers
from benchmarks.recorder import run_job


async def bench(t: float) -> None:
    await run_job(t)


class StreaqAdapter(Adapter):
    label = "streaq"
    worker_model = "anyio worker, concurrency=10"

    def _worker(self, concurrency: int = 10) -> Any:
        from streaq import Worker

        worker = Worker(redis_url=self.redis_url, concurrency=concurrency, handle_signals=False)
        self.task = worker.task(bench)
        return worker

    async def open(self) -> None:
        self.worker = self._worker()
        await self.worker.__aenter__()

    async def close(self) -> None:
        await self.worker.__aexit__(None, None, None)

    async def enqueue(self, job: Job) -> None:
        await self.task.enqueue(job["t"])

    async def enqueue_many(self, jobs: list[Job]) -> None:
        await self.worker.enqueue_many([self.task.enqueue(j["t"]) for j in jobs])

    def run_worker(self, concurrency: int) -> None:
        self._worker(concurrency).run_sync()

    def version(self) -> str:
        from importlib.metadata import version

        return f"streaq {version('streaq')}"


def make(key: str, backend: str, variant: str, servers: Servers) -> Adapter:
    return StreaqAdapter(key, backend, variant, servers)
