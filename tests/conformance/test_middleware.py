"""Middleware (issue 22) on every backend: enqueue hooks store metadata the run reads,
every run reports one outcome, and a raising middleware loses neither job nor worker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.conformance.test_pool import FAST, QUICK_RETRY, processed
from tests.helpers import wait_until
from wg_core import (
    Backend,
    Client,
    JobContext,
    JobOptions,
    JobState,
    Middleware,
    Outcome,
    OutgoingJob,
    RunningJob,
    WorkerPool,
)
from wg_core.envelope import Envelope


def holds(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    """``check`` as the async condition ``wait_until`` polls."""

    async def condition() -> bool:
        return check()

    return condition


class Recorder(Middleware):
    """Stamps a request id at enqueue; records what each run hook saw."""

    def __init__(self) -> None:
        self.enqueued: list[tuple[str, BaseException | None]] = []
        self.runs: list[tuple[str, str, str, int, dict[str, Any]]] = []
        self.errors: list[tuple[str, str]] = []
        self.outcomes: dict[str, list[Outcome]] = {}
        self.lifecycle: list[str] = []

    async def started(self, pool: Any) -> None:
        self.lifecycle.append(f"started {pool.config.namespace}")

    async def stopped(self, pool: Any) -> None:
        self.lifecycle.append("stopped")

    async def before_enqueue(self, job: OutgoingJob) -> None:
        job.metadata["request_id"] = f"req-{job.job_name}"
        job.state["seen"] = True

    async def after_enqueue(self, job: OutgoingJob, error: BaseException | None) -> None:
        assert job.state["seen"]
        self.enqueued.append((job.job_id, error))

    async def before(self, job: RunningJob) -> None:
        self.runs.append((job.job_id, job.job_name, job.queue, job.attempt, dict(job.metadata)))

    async def on_error(self, job: RunningJob, exc: BaseException) -> None:
        self.errors.append((job.job_id, str(exc)))

    async def after(self, job: RunningJob, outcome: Outcome) -> None:
        self.outcomes.setdefault(job.job_id, []).append(outcome)


class Exploding(Middleware):
    """Every hook raises."""

    async def before_enqueue(self, job: OutgoingJob) -> None:
        raise RuntimeError("boom at enqueue")

    async def after_enqueue(self, job: OutgoingJob, error: BaseException | None) -> None:
        raise RuntimeError("boom after enqueue")

    async def before(self, job: RunningJob) -> None:
        raise RuntimeError("boom before")

    async def on_error(self, job: RunningJob, exc: BaseException) -> None:
        raise RuntimeError("boom on error")

    async def after(self, job: RunningJob, outcome: Outcome) -> None:
        raise RuntimeError("boom after")


async def _pool(backend: Backend, handlers: dict[str, Any], middleware: list[Any]) -> WorkerPool:
    pool = WorkerPool(handlers=handlers, backend=backend, middleware=middleware, **FAST)
    await pool.start()
    return pool


async def _stop(pool: WorkerPool) -> None:
    pool.shutdown()
    await asyncio.wait_for(pool.wait_closed(), timeout=30)


async def test_metadata_reaches_the_run_and_each_run_reports_its_outcome(
    backend: Backend,
) -> None:
    recorder = Recorder()
    client = Client(backend, middleware=[recorder])
    seen: dict[str, dict[str, Any]] = {}
    calls: dict[str, int] = {}

    async def ok(job: Any, ctx: JobContext) -> str:
        seen[ctx.job_id] = dict(ctx.metadata)
        return "done"

    async def flaky(job: Any, ctx: JobContext) -> None:
        calls[ctx.job_id] = calls.get(ctx.job_id, 0) + 1
        if ctx.attempt == 1:
            raise ValueError("first try fails")

    async def doomed(job: Any) -> None:
        raise ValueError("always fails")

    ok_id = await client.enqueue({"n": 1}, job_name="ok", queue="mail")
    flaky_id = await client.enqueue({"n": 2}, job_name="flaky", options=QUICK_RETRY)
    [doomed_id] = await client.enqueue_many(
        [{"n": 3}], job_name="doomed", options=JobOptions(max_retries=0)
    )
    assert [job_id for job_id, _ in recorder.enqueued] == [ok_id, flaky_id, doomed_id]
    assert all(error is None for _, error in recorder.enqueued)
    pool = WorkerPool(
        handlers={"ok": ok, "flaky": flaky, "doomed": doomed},
        backend=backend,
        middleware=[recorder],
        queues=["mail", "default"],
        **FAST,
    )
    await pool.start()
    try:
        await wait_until(holds(lambda: len(recorder.outcomes.get(flaky_id, [])) == 2), timeout=15)
        await wait_until(holds(lambda: doomed_id in recorder.outcomes), timeout=15)
        await wait_until(holds(lambda: ok_id in recorder.outcomes), timeout=15)
    finally:
        await _stop(pool)
    assert seen[ok_id] == {"request_id": "req-ok"}
    assert recorder.outcomes == {
        ok_id: [Outcome.COMPLETED],
        flaky_id: [Outcome.RETRIED, Outcome.COMPLETED],
        doomed_id: [Outcome.DEAD],
    }
    runs = {(job_id, attempt): rest for job_id, *rest, attempt, _ in recorder.runs}
    assert runs[(ok_id, 1)] == ["ok", "mail"]
    assert runs[(flaky_id, 2)] == ["flaky", "default"]  # attempt counted from 1
    assert all(
        metadata == {"request_id": f"req-{name}"} for _, name, _, _, metadata in recorder.runs
    )
    assert sorted(msg for _, msg in recorder.errors) == ["always fails", "first try fails"]
    assert recorder.lifecycle == [f"started {backend.namespace}", "stopped"]


async def test_metadata_is_an_added_envelope_key_kept_through_retries(backend: Backend) -> None:
    client = Client(backend, middleware=[Recorder()])
    job_id = await client.enqueue({"n": 1}, job_name="later", delay=3600)
    stored = await backend.get_job(job_id)
    assert stored is not None
    assert stored.state is JobState.SCHEDULED
    document = Envelope.decode(stored.raw)
    assert document.id == job_id
    assert document.extra == {"metadata": {"request_id": "req-later"}}
    # The known keys are exactly the Rust wg's, in its order; metadata comes last.
    assert stored.raw.index('"last_error"') < stored.raw.index('"metadata"')
    # An admin move rewrites the envelope: the metadata goes with it.
    assert await client.run_now([job_id]) == 1
    moved = await backend.get_job(job_id)
    assert moved is not None
    assert moved.state is JobState.QUEUED
    assert Envelope.decode(moved.raw).extra == {"metadata": {"request_id": "req-later"}}


async def test_bad_metadata_is_refused_before_anything_is_stored(backend: Backend) -> None:
    class Bad(Middleware):
        async def before_enqueue(self, job: OutgoingJob) -> None:
            job.metadata["when"] = object()

    client = Client(backend, middleware=[Bad()])
    with pytest.raises(ValueError, match=r"metadata of job .* is not JSON"):
        await client.enqueue({"n": 1}, job_name="bad")
    assert (await client.counts()).queued == 0


async def test_a_raising_middleware_loses_no_job_and_no_worker(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()
    client = Client(backend, middleware=[Exploding(), recorder])

    async def ok(job: Any) -> None:
        return None

    async def doomed(job: Any) -> None:
        raise ValueError("handler says no")

    with caplog.at_level(logging.ERROR, logger="wg.middleware"):
        ok_id = await client.enqueue({}, job_name="ok")
        dead_id = await client.enqueue({}, job_name="doomed", options=JobOptions(max_retries=0))
        pool = await _pool(backend, {"ok": ok, "doomed": doomed}, [Exploding(), recorder])
        try:
            await wait_until(processed(pool, 1), timeout=15)
            await wait_until(holds(lambda: dead_id in recorder.outcomes), timeout=15)
            assert pool.running
        finally:
            await _stop(pool)
    assert recorder.outcomes == {ok_id: [Outcome.COMPLETED], dead_id: [Outcome.DEAD]}
    counts = await client.counts()
    assert (counts.queued, counts.running, counts.dead) == (0, 0, 1)
    failures = {r.getMessage() for r in caplog.records if r.name == "wg.middleware"}
    assert {
        "middleware Exploding.before_enqueue failed",
        "middleware Exploding.after_enqueue failed",
        "middleware Exploding.before failed",
        "middleware Exploding.on_error failed",
        "middleware Exploding.after failed",
    } <= failures
