"""wg, through its public API only: ``Client.enqueue`` / ``enqueue_many`` and ``WorkerPool``.

Measured with its full guarantees on: leased claims, acknowledgement by compare-and-set,
heartbeats, the scheduler/retrier/reaper running — whatever ``WorkerPool`` does by
default. Only ``workers`` (the concurrency) is set; every other setting is the default.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from benchmarks.adapters.base import Adapter, Job, Servers
from benchmarks.recorder import run_job

NAMESPACE = "bench"
JOB_NAME = "bench"


async def handle(job: dict[str, Any]) -> None:
    """The no-op (or sleep) job."""
    await run_job(job["t"])


class WgAdapter(Adapter):
    label = "wg"
    worker_model = "asyncio WorkerPool, workers=10"

    @property
    def url(self) -> str:
        if self.backend == "redis":
            return self.redis_url
        if self.backend == "postgres":
            return self.postgres_url
        if self.backend == "mysql":
            return self.mysql_url
        return f"sqlite://{os.path.abspath(self.sqlite_path)}"

    async def setup(self) -> None:
        # Opening creates the schema, so the first measured call does not pay for it.
        from wg_core import Client

        client = await Client.connect(self.url, NAMESPACE)
        await client.close()

    async def open(self) -> None:
        from wg_core import Client

        self.client = await Client.connect(self.url, NAMESPACE)

    async def close(self) -> None:
        await self.client.close()

    async def enqueue(self, job: Job) -> None:
        await self.client.enqueue(job, job_name=JOB_NAME)

    async def enqueue_many(self, jobs: list[Job]) -> None:
        await self.client.enqueue_many(jobs, job_name=JOB_NAME)

    def run_worker(self, concurrency: int) -> None:
        from wg_core import WorkerPool

        pool = WorkerPool(handler=handle, url=self.url, namespace=NAMESPACE, workers=concurrency)
        asyncio.run(pool.run())

    def version(self) -> str:
        import subprocess

        import wg_core

        try:
            commit = subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                cwd=os.path.dirname(wg_core.__file__), check=True,
            ).stdout.strip()  # fmt: skip
        except (OSError, subprocess.CalledProcessError):
            commit = "?"
        return f"wg {wg_core.__version__} ({commit})"


def make(key: str, backend: str, variant: str, servers: Servers) -> Adapter:
    adapter = WgAdapter(key, backend, variant, servers)
    adapter.label = f"**wg** ({backend})"
    return adapter
