"""pgqueuer 1.6 (PostgreSQL, asyncpg driver as in its docs): ``Queries.enqueue`` (a list
is one batch insert) and ``PgQueuer.run`` with one entrypoint limited to 10 concurrent
jobs (``concurrency_limit``, enforced in SQL). Claims ``batch_size=10`` (default) with
``FOR UPDATE SKIP LOCKED``; LISTEN/NOTIFY wakes the worker. Jobs are deleted on success.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from benchmarks.adapters.base import Adapter, Job, Servers
from benchmarks.recorder import run_job


class PgqueuerAdapter(Adapter):
    label = "pgqueuer"
    worker_model = "asyncio QueueManager, entrypoint concurrency_limit=10"

    async def _driver(self) -> Any:
        import asyncpg  # type: ignore[import-untyped]
        from pgqueuer import AsyncpgDriver

        self.conn = await asyncpg.connect(self.postgres_url)
        return AsyncpgDriver(self.conn)

    async def setup(self) -> None:
        from pgqueuer import Queries

        await Queries(await self._driver()).install()
        await self.conn.close()

    async def open(self) -> None:
        from pgqueuer import Queries

        self.queries = Queries(await self._driver())

    async def close(self) -> None:
        await self.conn.close()

    async def enqueue(self, job: Job) -> None:
        await self.queries.enqueue("bench", json.dumps(job).encode())

    async def enqueue_many(self, jobs: list[Job]) -> None:
        n = len(jobs)
        await self.queries.enqueue(["bench"] * n, [json.dumps(j).encode() for j in jobs], [0] * n)

    def run_worker(self, concurrency: int) -> None:
        from pgqueuer import PgQueuer
        from pgqueuer.models import Job as PgJob

        async def main() -> None:
            pgq = PgQueuer(await self._driver())

            @pgq.entrypoint("bench", concurrency_limit=concurrency)
            async def bench(job: PgJob) -> None:
                assert job.payload is not None
                await run_job(json.loads(job.payload)["t"])

            await pgq.run()

        asyncio.run(main())

    def version(self) -> str:
        from importlib.metadata import version

        return f"pgqueuer {version('pgqueuer')} (asyncpg {version('asyncpg')})"


def make(key: str, backend: str, variant: str, servers: Servers) -> Adapter:
    return PgqueuerAdapter(key, backend, variant, servers)
