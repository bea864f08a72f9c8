"""What a run's hooks see in ``RunningJob`` (its fields are read from the envelope when
asked): every documented field, ``state`` kept between the hooks of one run and fresh
for the next, metadata read-only."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conformance.test_middleware import holds
from tests.conformance.test_pool import FAST, QUICK_RETRY
from tests.helpers import wait_until
from wg_core import (
    Client,
    JobContext,
    MemoryBackend,
    Middleware,
    Outcome,
    OutgoingJob,
    RunningJob,
    WorkerPool,
)


class Seen(Middleware):
    def __init__(self) -> None:
        self.started_runs: list[dict[str, Any]] = []
        self.ended_runs: list[tuple[dict[str, Any], Outcome]] = []

    async def before_enqueue(self, job: OutgoingJob) -> None:
        job.metadata["tenant"] = "acme"

    async def before(self, job: RunningJob) -> None:
        assert job.state == {}  # fresh for each run
        job.state["run"] = job.attempt
        self.started_runs.append(
            {
                "job_id": job.job_id,
                "job_name": job.job_name,
                "queue": job.queue,
                "attempt": job.attempt,
                "max_retries": job.max_retries,
                "namespace": job.namespace,
                "worker_id": job.worker_id,
                "enqueued_at": job.enqueued_at,
                "due_at": job.due_at,
                "started_at": job.started_at,
                "started_monotonic": job.started_monotonic,
                "metadata": dict(job.metadata),
            }
        )
        with pytest.raises(TypeError):
            job.metadata["tenant"] = "other"  # type: ignore[index]

    async def after(self, job: RunningJob, outcome: Outcome) -> None:
        self.ended_runs.append((dict(job.state), outcome))


async def test_hooks_see_every_field_of_each_run() -> None:
    seen = Seen()
    backend = MemoryBackend("fields")
    client = Client(backend, middleware=[seen])
    before_enqueue = time.time()
    job_id = await client.enqueue({}, job_name="flaky", queue="mail", options=QUICK_RETRY)

    async def flaky(job: Any, ctx: JobContext) -> None:
        if ctx.attempt == 1:
            raise ValueError("once")

    pool = WorkerPool(
        handlers={"flaky": flaky}, backend=backend, middleware=[seen], queues=["mail"], **FAST
    )
    async with pool:
        await wait_until(holds(lambda: len(seen.ended_runs) == 2), timeout=15)
    first, second = seen.started_runs
    for number, run in enumerate((first, second), start=1):
        assert run["job_id"] == job_id
        assert run["job_name"] == "flaky"
        assert run["queue"] == "mail"
        assert run["attempt"] == number
        assert run["max_retries"] == QUICK_RETRY.max_retries
        assert run["namespace"] == "fields"
        assert run["worker_id"] == pool.worker_id
        assert run["metadata"] == {"tenant": "acme"}
        assert int(before_enqueue) <= run["enqueued_at"] <= run["started_at"]
        assert run["started_at"] <= time.time()
    assert first["due_at"] == first["enqueued_at"]  # enqueued to run now
    assert second["due_at"] >= first["enqueued_at"]  # the retry's due time
    assert second["started_monotonic"] > first["started_monotonic"]
    assert seen.ended_runs == [({"run": 1}, Outcome.RETRIED), ({"run": 2}, Outcome.COMPLETED)]
