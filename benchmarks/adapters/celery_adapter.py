"""Celery 5.7 (Redis broker via kombu, JSON serialiser, no result backend): ``task.delay``
and ``celery worker -c 10`` with the thread pool (default row) or prefork (labelled).
Default prefetch (4 × concurrency) and late-ack off (Celery's defaults: a job is
acknowledged when it starts, so a crash loses it). No bulk enqueue API.
"""

from __future__ import annotations

from typing import Any

from benchmarks.adapters.base import Adapter, Job, Servers
from benchmarks.recorder import run_job_sync


class CeleryAdapter(Adapter):
    worker_model = "celery worker"

    @property
    def label(self) -> str:  # type: ignore[override]
        if self.variant == "prefork":
            return "celery (--pool prefork -c 10)"
        return "celery (--pool threads -c 10)"

    def _app(self) -> Any:
        from celery import Celery  # type: ignore[import-untyped]

        app = Celery("bench", broker=self.redis_url)

        @app.task(name="bench")  # type: ignore[untyped-decorator]
        def bench(t: float) -> None:
            run_job_sync(t)

        self.task = bench
        return app

    async def open(self) -> None:
        self.app = self._app()

    async def close(self) -> None:
        self.app.close()

    async def enqueue(self, job: Job) -> None:
        self.task.delay(job["t"])

    def run_worker(self, concurrency: int) -> None:
        pool = "prefork" if self.variant == "prefork" else "threads"
        self._app().worker_main(
            ["worker", f"--pool={pool}", f"--concurrency={concurrency}", "--loglevel=WARNING"]
        )

    def version(self) -> str:
        from importlib.metadata import version

        return f"celery {version('celery')} (kombu {version('kombu')})"


def make(key: str, backend: str, variant: str, servers: Servers) -> Adapter:
    return CeleryAdapter(key, backend, variant, servers)
