"""taskiq 0.13 with taskiq-redis 1.2's ``ListQueueBroker`` (LPUSH / BRPOP), no result
backend: ``task.kiq`` to enqueue (no bulk API), and taskiq's programmatic receiver
(``run_receiver_task``) with ``max_async_tasks=10`` as the worker. taskiq-redis 1.2
declares redis-py >= 8; it is installed without its dependencies and runs on the
redis-py 6.4 every Redis row uses (see ``requirements-nodeps.txt``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from benchmarks.adapters.base import Adapter, Job, Servers
from benchmarks.recorder import run_job


def _broker(url: str) -> tuple[Any, Any]:
    from taskiq_redis import ListQueueBroker

    broker = ListQueueBroker(url, queue_name="bench")

    @broker.task(task_name="bench")
    async def bench(i: int, t: float) -> None:
        await run_job(t)

    return broker, bench


class TaskiqAdapter(Adapter):
    label = "taskiq (taskiq-redis ListQueueBroker)"
    worker_model = "asyncio receiver, max_async_tasks=10"

    async def open(self) -> None:
        self.broker, self.task = _broker(self.redis_url)
        await self.broker.startup()

    async def close(self) -> None:
        await self.broker.shutdown()

    async def enqueue(self, job: Job) -> None:
        await self.task.kiq(**job)

    def run_worker(self, concurrency: int) -> None:
        from taskiq.api import run_receiver_task

        async def main() -> None:
            broker, _ = _broker(self.redis_url)
            broker.is_worker_process = True
            await broker.startup()
            await run_receiver_task(broker, max_async_tasks=concurrency, run_startup=False)

        asyncio.run(main())

    def version(self) -> str:
        from importlib.metadata import version

        return f"taskiq {version('taskiq')} + taskiq-redis {version('taskiq-redis')}"


def make(key: str, backend: str, variant: str, servers: Servers) -> Adapter:
    return TaskiqAdapter(key, backend, variant, servers)
