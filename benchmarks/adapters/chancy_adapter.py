"""chancy 0.26 (PostgreSQL, psycopg 3): ``Chancy.push`` / ``push_many`` and a ``Worker``.

The queue runs chancy's ``AsyncExecutor`` (the handler is a coroutine, like wg's) at
concurrency 10. chancy's default executor forks a process per job and its queues poll
every 5 s, fetching up to ``concurrency`` jobs: the row sets ``eager_polling=True``
(fetch again as soon as a job finishes, a documented queue option) so a pre-queued
drain is not measured at 2 jobs/s. Finished jobs are kept (chancy's default).
"""

from __future__ import annotations

import asyncio
from typing import Any

from benchmarks.adapters.base import Adapter, Job, Servers
from benchmarks.recorder import run_job

QUEUE = "bench"


async def bench_job(*, i: int, t: float) -> None:
    """The no-op (or sleep) job, importable by chancy's worker."""
    await run_job(t)


class ChancyAdapter(Adapter):
    label = "chancy (AsyncExecutor, eager_polling)"
    worker_model = "asyncio Worker, AsyncExecutor, queue concurrency=10"

    def _app(self) -> Any:
        from chancy import Chancy

        return Chancy(self.postgres_url, max_connection_pool_size=4)

    def _job(self, job: Job) -> Any:
        from chancy import Job as ChancyJob

        return ChancyJob.from_func(bench_job, queue=QUEUE).with_kwargs(**job)

    async def setup(self) -> None:
        from chancy import Queue

        async with self._app() as app:
            await app.migrate()
            await app.declare(
                Queue(QUEUE, concurrency=10, executor="chancy.executors.asyncex.AsyncExecutor",
                      eager_polling=True),
                upsert=True,
            )  # fmt: skip

    async def open(self) -> None:
        self.app = self._app()
        await self.app.__aenter__()

    async def close(self) -> None:
        await self.app.__aexit__(None, None, None)

    async def enqueue(self, job: Job) -> None:
        await self.app.push(self._job(job))

    async def enqueue_many(self, jobs: list[Job]) -> None:
        async for _ in self.app.push_many([self._job(job) for job in jobs]):
            pass

    def run_worker(self, concurrency: int) -> None:
        from chancy import Worker

        async def main() -> None:
            async with self._app() as app, Worker(app) as worker:
                await worker.wait_for_shutdown()

        asyncio.run(main())

    def version(self) -> str:
        from importlib.metadata import version

        return f"chancy {version('chancy')}"


def make(key: str, backend: str, variant: str, servers: Servers) -> Adapter:
    return ChancyAdapter(key, backend, variant, servers)
