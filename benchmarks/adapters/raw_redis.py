"""The Redis ceiling: LPUSH to enqueue, BRPOP to take, nothing else.

No guarantees at all: a worker killed mid-job loses it (the Rust wg's original design).
This is the floor of round trips any Redis queue pays, measured with the same driver
(redis-py asyncio, hiredis parser) the other Redis rows use.
"""

from __future__ import annotations

import asyncio
import json

from benchmarks.adapters.base import Adapter, Job, Servers
from benchmarks.recorder import run_job

QUEUE = "raw:jobs"
_CHUNK = 1000


class RawRedis(Adapter):
    label = "raw loop (LPUSH / BRPOP)"
    worker_model = "asyncio, one BRPOP loop per slot"

    async def open(self) -> None:
        import redis.asyncio as aioredis

        self.redis = aioredis.Redis.from_url(self.redis_url)

    async def close(self) -> None:
        await self.redis.aclose()

    async def enqueue(self, job: Job) -> None:
        await self.redis.lpush(QUEUE, json.dumps(job))

    async def enqueue_many(self, jobs: list[Job]) -> None:
        for start in range(0, len(jobs), _CHUNK):
            await self.redis.lpush(QUEUE, *(json.dumps(j) for j in jobs[start : start + _CHUNK]))

    def run_worker(self, concurrency: int) -> None:
        asyncio.run(self._work(concurrency))

    async def _work(self, concurrency: int) -> None:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(self.redis_url, max_connections=concurrency + 2)

        async def slot() -> None:
            while True:
                item = await client.brpop([QUEUE], timeout=1)
                if item is not None:
                    await run_job(json.loads(item[1])["t"])

        await asyncio.gather(*(slot() for _ in range(concurrency)))

    def version(self) -> str:
        import redis

        return f"redis-py {redis.__version__}"


def make(key: str, backend: str, variant: str, servers: Servers) -> Adapter:
    return RawRedis(key, backend, variant, servers)
