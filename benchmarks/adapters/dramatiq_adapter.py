"""Dramatiq 2.2 (Redis broker): ``actor.send`` and ``dramatiq.Worker`` with 10 threads in
one process (the CLI's default is one process per core with 8 threads each; one process
at concurrency 10 is the comparison asked for). Default middleware; messages are
acknowledged after the actor returns. No bulk enqueue API.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.adapters.base import Adapter, Job, Servers
from benchmarks.recorder import run_job_sync


class DramatiqAdapter(Adapter):
    label = "dramatiq (1 process × 10 threads)"
    worker_model = "threads"

    def _actor(self) -> Any:
        import dramatiq
        from dramatiq.brokers.redis import RedisBroker

        self.broker = RedisBroker(url=self.redis_url)  # type: ignore[no-untyped-call]
        dramatiq.set_broker(self.broker)

        def bench(t: float) -> None:
            run_job_sync(t)

        return dramatiq.actor(actor_name="bench", broker=self.broker)(bench)

    async def open(self) -> None:
        self.actor = self._actor()

    async def close(self) -> None:
        self.broker.close()

    async def enqueue(self, job: Job) -> None:
        self.actor.send(job["t"])

    def run_worker(self, concurrency: int) -> None:
        import dramatiq

        self._actor()
        worker = dramatiq.Worker(self.broker, worker_threads=concurrency)
        worker.start()
        while True:
            time.sleep(3600)

    def version(self) -> str:
        from importlib.metadata import version

        return f"dramatiq {version('dramatiq')}"


def make(key: str, backend: str, variant: str, servers: Servers) -> Adapter:
    return DramatiqAdapter(key, backend, variant, servers)
