"""RQ 2.12 (Redis): ``Queue.enqueue`` / ``Queue.enqueue_many`` and ``rq worker-pool -n 10``
(``rq.worker_pool.WorkerPool``: 10 worker processes).

Default row: the pool's default ``Worker`` class, which forks a work horse per job
(RQ's documented model). Tuned row: ``SimpleWorker`` (runs jobs in the worker process,
no fork per job). Jobs are sync functions; results kept 500 s (default).
"""

from __future__ import annotations

from typing import Any

from benchmarks.adapters.base import Adapter, Job, Servers
from benchmarks.recorder import run_job_sync


def bench(t: float) -> None:
    run_job_sync(t)


class RqAdapter(Adapter):
    worker_model = "10 processes (worker-pool)"

    @property
    def label(self) -> str:  # type: ignore[override]
        if self.variant == "tuned":
            return "rq (tuned: worker-pool -n 10, SimpleWorker)"
        return "rq (worker-pool -n 10, fork per job)"

    def _queue(self) -> Any:
        from redis import Redis
        from rq import Queue

        return Queue("bench", connection=Redis.from_url(self.redis_url))

    async def open(self) -> None:
        self.queue = self._queue()

    async def enqueue(self, job: Job) -> None:
        self.queue.enqueue(bench, job["t"])

    async def enqueue_many(self, jobs: list[Job]) -> None:
        from rq import Queue

        self.queue.enqueue_many([Queue.prepare_data(bench, (j["t"],)) for j in jobs])

    def run_worker(self, concurrency: int) -> None:
        from redis import Redis
        from rq.worker import SimpleWorker, Worker
        from rq.worker_pool import WorkerPool

        worker_class = SimpleWorker if self.variant == "tuned" else Worker
        pool = WorkerPool(
            ["bench"], connection=Redis.from_url(self.redis_url), num_workers=concurrency,
            worker_class=worker_class,
        )  # fmt: skip
        pool.start(burst=False)

    def version(self) -> str:
        from importlib.metadata import version

        return f"rq {version('rq')}"


def make(key: str, backend: str, variant: str, servers: Servers) -> Adapter:
    return RqAdapter(key, backend, variant, servers)
