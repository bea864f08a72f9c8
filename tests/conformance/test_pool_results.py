"""Results, waiting, retention, cancellation and progress through ``WorkerPool`` and
``Client`` (issue 18), on every backend."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.helpers import wait_until
from wg_core import (
    MAX_RESULT_BYTES,
    Backend,
    Client,
    JobContext,
    JobFailedError,
    JobInfo,
    JobNotFoundError,
    JobOptions,
    JobState,
    WorkerPool,
)

FAST = {
    "fetch_timeout": 0.5,
    "scheduler_interval": 0.05,
    "retrier_interval": 0.05,
    "reaper_interval": 0.1,
    "heartbeat_interval": 0.2,
    "lease": 2.0,
    "shutdown_timeout": 5.0,
    "retry_jitter": 0.0,
}
WAIT = 20.0
"""A generous bound on waiting for a result: never a timing assertion."""


@dataclass
class Report:
    day: str
    rows: int


@pytest.fixture
async def client(backend: Backend) -> Client:
    return Client(backend)


@pytest.fixture
async def start_pool(backend: Backend) -> AsyncIterator[Callable[..., Any]]:
    """Start pools on the test's backend (``FAST`` settings unless ``fast=False``);
    every one is shut down at the end."""
    pools: list[WorkerPool] = []

    async def start(handler: Any = None, *, fast: bool = True, **kwargs: Any) -> WorkerPool:
        settings = {**FAST, **kwargs} if fast else {"shutdown_timeout": 5.0, **kwargs}
        pool = WorkerPool(handler, backend=backend, **settings)
        await pool.start()
        pools.append(pool)
        return pool

    yield start
    for pool in pools:
        pool.shutdown()
    for pool in pools:
        await asyncio.wait_for(pool.wait_closed(), timeout=30)


async def job(client: Client, job_id: str) -> JobInfo:
    info = await client.get_job(job_id)
    assert info is not None, f"job {job_id} is gone"
    return info


# -- results -------------------------------------------------------------------------------


async def test_result_of_async_and_sync_handlers(client: Client, start_pool: Any) -> None:
    async def report(payload: dict[str, Any]) -> Report:
        return Report(day=payload["day"], rows=3)

    def total(numbers: list[int]) -> int:
        return sum(numbers)

    def nothing(payload: Any) -> None:
        return None

    await start_pool(handlers={"report": report, "total": total, "nothing": nothing})
    a = await client.enqueue({"day": "2026-01-01"}, job_name="report")
    b = await client.enqueue([1, 2, 3], job_name="total")
    c = await client.enqueue({}, job_name="nothing")
    assert await client.result(a, timeout=WAIT) == {"day": "2026-01-01", "rows": 3}
    assert await client.result(b, timeout=WAIT) == 6
    assert await client.result(c, timeout=WAIT) is None
    info = await job(client, b)
    assert info.state is JobState.COMPLETED
    assert info.result == 6
    assert info.finished_at is not None
    assert info.expires_at is not None
    assert info.expires_at == pytest.approx(info.finished_at + 3600.0, abs=2.0)
    assert info.run_time is not None
    assert info.run_time >= 0.0


async def test_result_of_a_retried_job_is_the_final_attempts(
    client: Client, start_pool: Any
) -> None:
    async def flaky(payload: Any, ctx: JobContext) -> int:
        if ctx.attempt == 1:
            raise RuntimeError("first try fails")
        return ctx.attempt

    await start_pool(flaky)
    job_id = await client.enqueue({}, options=JobOptions(retry_delay=0.05))
    assert await client.result(job_id, timeout=WAIT) == 2


async def test_result_of_a_dead_job_raises_job_failed(client: Client, start_pool: Any) -> None:
    async def broken(payload: Any) -> None:
        raise RuntimeError("smtp down")

    await start_pool(broken)
    job_id = await client.enqueue({}, options=JobOptions(max_retries=0))
    with pytest.raises(JobFailedError) as caught:
        await client.result(job_id, timeout=WAIT)
    assert (caught.value.job_id, caught.value.state) == (job_id, JobState.DEAD)
    assert caught.value.last_error == "RuntimeError: smtp down"
    assert "dead" in str(caught.value)
    assert "smtp down" in str(caught.value)


async def test_result_times_out_and_unknown_ids_are_not_found(client: Client) -> None:
    job_id = await client.enqueue({})  # no pool: it stays queued
    with pytest.raises(TimeoutError):
        await client.result(job_id, timeout=0.2)
    with pytest.raises(JobNotFoundError):
        await client.result(str(uuid.uuid4()), timeout=0.2)
    with pytest.raises(JobNotFoundError):
        await client.result("not-a-job-id", timeout=0.2)


async def test_a_result_that_is_not_json_kills_the_job_not_the_worker(
    client: Client, start_pool: Any
) -> None:
    async def handle(payload: dict[str, Any]) -> Any:
        if payload["kind"] == "object":
            return object()
        if payload["kind"] == "nan":
            return float("nan")
        if payload["kind"] == "big":
            return "x" * (MAX_RESULT_BYTES + 1)
        return "fine"

    pool = await start_pool(handle)
    bad = await client.enqueue({"kind": "object"})
    nan = await client.enqueue({"kind": "nan"})
    big = await client.enqueue({"kind": "big"})
    for job_id in (bad, nan, big):
        with pytest.raises(JobFailedError) as caught:
            await client.result(job_id, timeout=WAIT)
        assert caught.value.state is JobState.DEAD
    assert "not JSON" in ((await job(client, bad)).last_error or "")
    assert "not JSON" in ((await job(client, nan)).last_error or "")
    error = (await job(client, big)).last_error or ""
    assert f"over the {MAX_RESULT_BYTES}-byte limit" in error
    assert (await job(client, big)).retry_count == 0  # fatal: not retried
    assert pool.running
    assert await client.result(await client.enqueue({"kind": "ok"}), timeout=WAIT) == "fine"


# -- retention -----------------------------------------------------------------------------


async def test_keep_finished_zero_keeps_nothing(client: Client, start_pool: Any) -> None:
    async def handle(payload: Any) -> int:
        return 1

    pool = await start_pool(handle, keep_finished=0)
    gone = await client.enqueue({})
    kept = await client.enqueue({}, options=JobOptions(keep_finished=60))

    async def both_done() -> bool:
        return pool.stats.processed == 2

    await wait_until(both_done, timeout=WAIT)
    assert await client.get_job(gone) is None
    with pytest.raises(JobNotFoundError):
        await client.result(gone, timeout=0.1)
    info = await job(client, kept)  # its own keep_finished wins over the pool's
    assert info.state is JobState.COMPLETED
    assert info.result == 1
    assert info.expires_at is not None
    assert info.finished_at is not None
    assert info.expires_at == pytest.approx(info.finished_at + 60, abs=2.0)


async def test_a_jobs_keep_finished_zero_wins_over_the_pools(
    client: Client, start_pool: Any
) -> None:
    async def handle(payload: Any) -> int:
        return 1

    pool = await start_pool(handle)
    job_id = await client.enqueue({}, options=JobOptions(keep_finished=0))
    await wait_until(lambda: _processed(pool, 1), timeout=WAIT)
    assert await client.get_job(job_id) is None


async def _processed(pool: WorkerPool, n: int) -> bool:
    return pool.stats.processed >= n


async def test_the_pruner_deletes_expired_jobs(client: Client, start_pool: Any) -> None:
    async def handle(payload: Any) -> str:
        return "done"

    await start_pool(handle, keep_finished=0.3, prune_interval=0.1, batch_size=2)
    ids = [await client.enqueue({"n": n}) for n in range(5)]
    for job_id in ids:
        assert await client.result(job_id, timeout=WAIT) == "done"

    async def all_pruned() -> bool:
        return all([await client.get_job(job_id) is None for job_id in ids])

    await wait_until(all_pruned, timeout=WAIT)
    assert (await client.counts()).completed == 0
    assert (await client.counters()).processed == 5


# -- cancellation --------------------------------------------------------------------------


async def test_a_cancelled_queued_job_never_runs(client: Client, start_pool: Any) -> None:
    ran: list[str] = []

    async def handle(payload: dict[str, str]) -> None:
        ran.append(payload["name"])

    cancelled = await client.enqueue({"name": "cancelled"})
    scheduled = await client.enqueue({"name": "scheduled"}, delay=0.3)
    assert await client.cancel(cancelled) is True
    assert await client.cancel_jobs([scheduled, str(uuid.uuid4())]) == 1
    assert await client.cancel(cancelled) is False  # cancelled already
    await start_pool(handle)
    after = await client.enqueue({"name": "after"})
    await client.result(after, timeout=WAIT)
    await asyncio.sleep(0.5)  # past the scheduled job's due time, with promotion running
    assert ran == ["after"]
    for job_id in (cancelled, scheduled):
        with pytest.raises(JobFailedError) as caught:
            await client.result(job_id, timeout=WAIT)
        assert caught.value.state is JobState.CANCELLED
        assert (await job(client, job_id)).state is JobState.CANCELLED
    assert await client.cancel(after) is False  # completed


async def test_cancel_a_running_async_handler(client: Client, start_pool: Any) -> None:
    started = asyncio.Event()
    seen: list[str] = []

    async def slow(payload: Any, ctx: JobContext) -> str:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            seen.append(f"CancelledError, ctx.cancelled={ctx.cancelled}")
            raise
        return "finished"

    pool = await start_pool(slow, fast=False)  # the default settings: heartbeat every 2 s
    job_id = await client.enqueue({}, options=JobOptions(retry_delay=0.05))
    await asyncio.wait_for(started.wait(), WAIT)
    assert await client.cancel(job_id) is True
    with pytest.raises(JobFailedError) as caught:
        await client.result(job_id, timeout=WAIT)
    assert caught.value.state is JobState.CANCELLED
    assert caught.value.last_error == "cancelled"
    assert seen == ["CancelledError, ctx.cancelled=True"]
    info = await job(client, job_id)
    assert (info.state, info.retry_count) == (JobState.CANCELLED, 0)  # not retried
    await asyncio.sleep(0.3)
    assert seen == ["CancelledError, ctx.cancelled=True"]  # ran once
    assert pool.stats.cancelled == 1
    assert (pool.stats.failed, pool.stats.processed) == (0, 0)


async def test_a_sync_handler_sees_ctx_cancelled(client: Client, start_pool: Any) -> None:
    started = threading.Event()
    steps: list[int] = []

    def long_loop(payload: Any, ctx: JobContext) -> str:
        started.set()
        deadline = time.monotonic() + WAIT
        while not ctx.cancelled and time.monotonic() < deadline:
            steps.append(1)
            time.sleep(0.01)
        return "stopped early" if ctx.cancelled else "ran to the end"

    pool = await start_pool(long_loop)
    job_id = await client.enqueue({})
    await asyncio.to_thread(started.wait, WAIT)
    assert await client.cancel(job_id) is True
    with pytest.raises(JobFailedError) as caught:
        await client.result(job_id, timeout=WAIT)
    assert caught.value.state is JobState.CANCELLED  # not completed, though it returned

    # The pool counts the cancel once finish_cancelled has returned, which a waiter may
    # see before the pool does (it raced that on MySQL under load).
    async def counted() -> bool:
        return pool.stats.cancelled == 1

    await wait_until(counted, timeout=WAIT)


async def test_cancel_a_claimed_ahead_job_that_never_started(
    client: Client, start_pool: Any
) -> None:
    release = asyncio.Event()
    ran: list[int] = []

    async def handle(payload: dict[str, int]) -> int:
        ran.append(payload["n"])
        await release.wait()
        return payload["n"]

    ids = [await client.enqueue({"n": n}) for n in range(6)]
    pool = await start_pool(handle, workers=1, prefetch=4, prefetch_hold=30)

    async def holding() -> bool:
        return pool.stats.buffered >= 1

    await wait_until(holding, timeout=WAIT)
    # The last claimed-ahead job: buffered (or still queued if the claim was short).
    target = ids[2]
    assert await client.cancel(target) is True
    with pytest.raises(JobFailedError):
        await client.result(target, timeout=WAIT)
    release.set()
    for job_id in ids:
        if job_id != target:
            await client.result(job_id, timeout=WAIT)
    assert 2 not in ran


# -- progress ------------------------------------------------------------------------------


async def test_progress_is_visible_while_running(client: Client, start_pool: Any) -> None:
    release = asyncio.Event()
    done_sync = threading.Event()

    async def resize(payload: Any, ctx: JobContext) -> None:
        await ctx.progress(0.1, "starting")
        await ctx.progress(0.4, "resized 40 of 100")  # the latest wins
        await release.wait()

    def crunch(payload: Any, ctx: JobContext) -> None:
        ctx.progress_sync(0.75, "x" * 2000)  # cut to 1000 characters
        done_sync.wait(WAIT)

    await start_pool(handlers={"resize": resize, "crunch": crunch})
    a = await client.enqueue({}, job_name="resize")
    b = await client.enqueue({}, job_name="crunch")

    async def reported(job_id: str, fraction: float) -> bool:
        info = await client.get_job(job_id)
        return info is not None and info.progress is not None and info.progress.fraction == fraction

    await wait_until(lambda: reported(a, 0.4), timeout=WAIT)
    await wait_until(lambda: reported(b, 0.75), timeout=WAIT)
    info = await job(client, a)
    assert info.state is JobState.RUNNING
    assert info.progress is not None
    assert info.progress.message == "resized 40 of 100"
    sync_info = await job(client, b)
    assert sync_info.progress is not None
    assert sync_info.progress.message == "x" * 1000
    release.set()
    done_sync.set()
    await client.result(a, timeout=WAIT)
    await client.result(b, timeout=WAIT)


async def test_progress_refuses_a_fraction_out_of_range(client: Client, start_pool: Any) -> None:
    async def handle(payload: Any, ctx: JobContext) -> str:
        try:
            await ctx.progress(1.5)
        except ValueError as exc:
            return str(exc)
        return "accepted"

    await start_pool(handle)
    job_id = await client.enqueue({})
    assert "from 0 to 1" in await client.result(job_id, timeout=WAIT)
