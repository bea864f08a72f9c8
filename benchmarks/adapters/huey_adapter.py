"""Huey 3.5: ``RedisHuey`` and ``SqliteHuey``; calling the task enqueues it; the consumer
with 10 worker threads (``huey_consumer -w 10 -k thread``). No bulk enqueue API.

On Redis the consumer blocks on BRPOP. On SQLite it polls: default ``-d 0.1`` initial
delay growing by ``-b 1.15`` up to ``-m 10`` seconds when idle; the tuned row polls
every 10 ms (``initial_delay=0.01, backoff=1, max_delay=0.01``), like the raw loop.
"""

from __future__ import annotations

from typing import Any

from benchmarks.adapters.base import Adapter, Job, Servers
from benchmarks.recorder import run_job_sync


class HueyAdapter(Adapter):
    worker_model = "consumer, 10 threads"

    @property
    def label(self) -> str:  # type: ignore[override]
        if self.variant == "tuned":
            return "huey (sqlite, tuned: poll every 10 ms)"
        return f"huey ({self.backend}, -w 10 -k thread)"

    def _huey(self) -> Any:
        from huey import RedisHuey, SqliteHuey  # type: ignore[import-untyped]

        if self.backend == "redis":
            huey = RedisHuey("bench", url=self.redis_url)
        else:
            huey = SqliteHuey("bench", filename=self.sqlite_path)

        @huey.task(name="bench")  # type: ignore[untyped-decorator]
        def bench(t: float) -> None:
            run_job_sync(t)

        self.task = bench
        return huey

    async def open(self) -> None:
        self.huey = self._huey()

    async def enqueue(self, job: Job) -> None:
        self.task(job["t"])

    def run_worker(self, concurrency: int) -> None:
        huey = self._huey()
        options: dict[str, Any] = {"workers": concurrency, "worker_type": "thread"}
        if self.variant == "tuned":
            options.update(initial_delay=0.01, backoff=1.0, max_delay=0.01)
        huey.create_consumer(**options).run()

    def version(self) -> str:
        from importlib.metadata import version

        return f"huey {version('huey')}"


def make(key: str, backend: str, variant: str, servers: Servers) -> Adapter:
    return HueyAdapter(key, backend, variant, servers)
