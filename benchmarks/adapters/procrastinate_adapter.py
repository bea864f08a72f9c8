"""procrastinate 3.10 (PostgreSQL, psycopg 3): ``task.defer_async`` /
``batch_defer_async`` and ``App.run_worker_async(concurrency=10)``.

Claims one job per slot through its ``procrastinate_fetch_job`` SQL function (``FOR
UPDATE SKIP LOCKED``) and waits on LISTEN/NOTIFY (polling every 5 s as a fallback);
finished jobs are kept with status ``succeeded`` (its default ``delete_jobs="never"``).
"""

from __future__ import annotations

from typing import Any

from benchmarks.adapters.base import Adapter, Job, Servers
from benchmarks.recorder import run_job


class ProcrastinateAdapter(Adapter):
    label = "procrastinate"
    worker_model = "asyncio worker, concurrency=10"

    def _app(self) -> Any:
        import procrastinate

        app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(conninfo=self.postgres_url)
        )

        @app.task(name="bench")
        async def bench(t: float) -> None:
            await run_job(t)

        self.task = bench
        return app

    async def setup(self) -> None:
        app = self._app()
        async with app.open_async():
            await app.schema_manager.apply_schema_async()

    async def open(self) -> None:
        self.app = self._app()
        await self.app.open_async()

    async def close(self) -> None:
        await self.app.close_async()

    async def enqueue(self, job: Job) -> None:
        await self.task.defer_async(t=job["t"])

    async def enqueue_many(self, jobs: list[Job]) -> None:
        await self.task.batch_defer_async(*({"t": j["t"]} for j in jobs))

    def run_worker(self, concurrency: int) -> None:
        import asyncio

        async def main() -> None:
            app = self._app()
            async with app.open_async():
                await app.run_worker_async(concurrency=concurrency)

        asyncio.run(main())

    def version(self) -> str:
        from importlib.metadata import version

        return f"procrastinate {version('procrastinate')}"


def make(key: str, backend: str, variant: str, servers: Servers) -> Adapter:
    return ProcrastinateAdapter(key, backend, variant, servers)
