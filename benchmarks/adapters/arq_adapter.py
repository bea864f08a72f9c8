"""arq 0.28 (Redis): ``ArqRedis.enqueue_job`` and ``arq.worker.Worker``.

arq polls the queue ZSET every ``poll_delay`` (default 0.5 s) and takes up to
``max_jobs`` free slots per poll, so the default row is capped by the poll; the tuned
row sets ``poll_delay=0.01``. No bulk enqueue API. Results are kept (default 3600 s).
"""

from __future__ import annotations

import asyncio
from typing import Any

from benchmarks.adapters.base import Adapter, Job, Servers
from benchmarks.recorder import run_job

TUNED_POLL = 0.01


async def bench(ctx: dict[str, Any], t: float) -> None:
    await run_job(t)


class ArqAdapter(Adapter):
    worker_model = "asyncio Worker, max_jobs=10"

    @property
    def label(self) -> str:  # type: ignore[override]
        return "arq (tuned: poll_delay=0.01)" if self.variant == "tuned" else "arq"

    def _settings(self) -> Any:
        from arq.connections import RedisSettings

        return RedisSettings.from_dsn(self.redis_url)

    async def open(self) -> None:
        from arq import create_pool

        self.redis = await create_pool(self._settings())

    async def close(self) -> None:
        await self.redis.aclose()

    async def enqueue(self, job: Job) -> None:
        await self.redis.enqueue_job("bench", job["t"])

    def run_worker(self, concurrency: int) -> None:
        from arq.worker import Worker, func

        async def main() -> None:
            extra: dict[str, Any] = {}
            if self.variant == "tuned":
                extra["poll_delay"] = TUNED_POLL
            worker = Worker(
                functions=[func(bench, name="bench")],
                redis_settings=self._settings(),
                max_jobs=concurrency,
                handle_signals=False,
                **extra,
            )
            await worker.async_run()

        asyncio.run(main())

    def version(self) -> str:
        from importlib.metadata import version

        return f"arq {version('arq')}"


def make(key: str, backend: str, variant: str, servers: Servers) -> Adapter:
    return ArqAdapter(key, backend, variant, servers)
