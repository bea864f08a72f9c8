"""Named queues and priorities as users meet them, through ``WorkerPool`` and
``Client``, on every backend: strict queue order, priority order, pools that serve some
queues only, per-queue pause, retries that keep their queue, the worker registry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.helpers import wait_until
from wg_core import Backend, Client, JobContext, JobError, JobOptions, JobState, WorkerPool

FAST = {
    "fetch_timeout": 0.2,
    "scheduler_interval": 0.05,
    "retrier_interval": 0.05,
    "reaper_interval": 0.1,
    "heartbeat_interval": 0.2,
    "lease": 2.0,
    "shutdown_timeout": 5.0,
    "retry_jitter": 0.0,
}
QUICK_RETRY = JobOptions(max_retries=3, retry_delay=0.05, timeout=10)

Job = dict[str, Any]


@pytest.fixture
async def client(backend: Backend) -> Client:
    return Client(backend)


@pytest.fixture
async def start_pool(backend: Backend) -> AsyncIterator[Callable[..., Awaitable[WorkerPool]]]:
    """Start pools on the test's backend; every one is shut down at the end."""
    pools: list[WorkerPool] = []

    async def start(handler: Any, **kwargs: Any) -> WorkerPool:
        pool = WorkerPool(handler, backend=backend, **{**FAST, **kwargs})
        await pool.start()
        pools.append(pool)
        return pool

    yield start
    for pool in pools:
        pool.shutdown()
    for pool in pools:
        await asyncio.wait_for(pool.wait_closed(), timeout=30)


def processed(pool: WorkerPool, n: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return pool.stats.processed >= n

    return check


async def test_a_pool_runs_every_job_of_an_earlier_queue_before_a_later_ones(
    client: Client, start_pool: Any
) -> None:
    seen: list[str] = []

    async def handle(job: Job) -> None:
        seen.append(job["tag"])

    # Default jobs first, so FIFO alone would run them first.
    for n in range(4):
        await client.enqueue({"tag": f"default-{n}"}, job_name="work")
    for n in range(4):
        await client.enqueue({"tag": f"critical-{n}"}, job_name="work", queue="critical")
    pool = await start_pool(handle, workers=1, queues=["critical", "default"])
    await wait_until(processed(pool, 8))
    assert seen == [f"critical-{n}" for n in range(4)] + [f"default-{n}" for n in range(4)]
    assert (await client.counts()).total == 0


async def test_higher_priorities_run_first_and_equal_ones_in_fifo_order(
    client: Client, start_pool: Any
) -> None:
    seen: list[str] = []

    async def handle(job: Job) -> None:
        seen.append(job["tag"])

    for tag, priority in [("a", 0), ("b", 5), ("c", -1), ("d", 10), ("e", 5), ("f", 0)]:
        await client.enqueue({"tag": tag}, job_name="work", priority=priority)
    pool = await start_pool(handle, workers=1)
    await wait_until(processed(pool, 6))
    assert seen == ["d", "b", "e", "a", "f", "c"]


async def test_queue_order_comes_before_priority(client: Client, start_pool: Any) -> None:
    seen: list[str] = []

    async def handle(job: Job) -> None:
        seen.append(job["tag"])

    await client.enqueue({"tag": "later-high"}, job_name="work", queue="later", priority=1000)
    await client.enqueue({"tag": "first-low"}, job_name="work", queue="first", priority=-1000)
    await client.enqueue({"tag": "first-high"}, job_name="work", queue="first", priority=3)
    pool = await start_pool(handle, workers=1, queues=["first", "later"])
    await wait_until(processed(pool, 3))
    assert seen == ["first-high", "first-low", "later-high"]


async def test_a_pool_serving_other_queues_leaves_default_jobs_alone(
    client: Client, start_pool: Any
) -> None:
    seen: list[str] = []

    async def handle(job: Job) -> None:
        seen.append(job["tag"])

    for n in range(3):
        await client.enqueue({"tag": f"default-{n}"}, job_name="work")
        await client.enqueue({"tag": f"email-{n}"}, job_name="work", queue="emails")
    pool = await start_pool(handle, workers=2, queues=["emails"])
    await wait_until(processed(pool, 3))
    await asyncio.sleep(FAST["fetch_timeout"])  # another claim round: still nothing else
    assert sorted(seen) == ["email-0", "email-1", "email-2"]
    assert (await client.counts(queue="default")).queued == 3
    assert (await client.counts(queue="emails")).total == 0
    assert (await client.counters(queue="emails")).processed == 3
    assert (await client.counters(queue="default")).processed == 0


async def test_pausing_one_queue_stops_its_jobs_while_others_keep_running(
    client: Client, start_pool: Any
) -> None:
    seen: list[str] = []

    async def handle(job: Job) -> None:
        seen.append(job["tag"])

    pool = await start_pool(handle, workers=2, queues=["emails", "default"])
    await client.pause(queue="emails")
    assert await client.is_paused(queue="emails")
    assert not await client.is_paused()
    assert not await client.is_paused(queue="default")
    for n in range(3):
        await client.enqueue({"tag": f"email-{n}"}, job_name="work", queue="emails")
        await client.enqueue({"tag": f"default-{n}"}, job_name="work")
    await wait_until(processed(pool, 3))
    await asyncio.sleep(FAST["fetch_timeout"])  # another claim round: still paused
    assert sorted(seen) == ["default-0", "default-1", "default-2"]
    assert (await client.counts(queue="emails")).queued == 3
    [emails] = [q for q in await client.queues() if q.name == "emails"]
    assert emails.paused
    assert emails.counts.queued == 3

    await client.resume(queue="emails")
    assert not await client.is_paused(queue="emails")
    await wait_until(processed(pool, 6))
    assert sorted(seen[3:]) == ["email-0", "email-1", "email-2"]
    assert (await client.counts()).total == 0


async def test_resuming_a_queue_does_not_resume_a_paused_namespace(
    client: Client, start_pool: Any
) -> None:
    seen: list[str] = []

    async def handle(job: Job) -> None:
        seen.append(job["tag"])

    await client.pause()
    await client.pause(queue="emails")
    pool = await start_pool(handle, workers=1, queues=["emails"])
    await client.enqueue({"tag": "email"}, job_name="work", queue="emails")
    await client.resume(queue="emails")
    await asyncio.sleep(FAST["fetch_timeout"] * 2)
    assert seen == []
    assert await client.is_paused()
    await client.resume()
    await wait_until(processed(pool, 1))
    assert seen == ["email"]


async def test_a_retried_job_keeps_its_queue_and_priority(client: Client, start_pool: Any) -> None:
    runs: list[tuple[int, str, int, JobState]] = []

    async def handle(job: Job, ctx: JobContext) -> None:
        info = await client.get_job(ctx.job_id)
        assert info is not None
        runs.append((ctx.attempt, info.queue, info.priority, info.state))
        if ctx.attempt == 1:
            raise JobError.retryable("try again")

    job_id = await client.enqueue(
        {"n": 1}, job_name="work", queue="emails", priority=7, options=QUICK_RETRY
    )
    # Only a pool serving "emails" can run the retry: it must go back to that queue.
    pool = await start_pool(handle, workers=1, queues=["emails"])
    await wait_until(processed(pool, 1))
    assert runs == [(1, "emails", 7, JobState.RUNNING), (2, "emails", 7, JobState.RUNNING)]
    info = await client.get_job(job_id)
    assert info is not None
    assert info.state is JobState.COMPLETED
    assert (await client.counters(queue="emails")).failed == 1


async def test_a_dead_job_requeued_from_its_queue_keeps_queue_and_priority(
    client: Client, start_pool: Any
) -> None:
    runs: list[int] = []

    async def handle(job: Job, ctx: JobContext) -> None:
        runs.append(ctx.attempt)
        if len(runs) == 1:
            raise JobError.fatal("broken")

    job_id = await client.enqueue({"n": 1}, job_name="work", queue="emails", priority=-5)
    other = await client.enqueue({"n": 2}, job_name="work")
    await client.pause(queue="default")  # keep the default job where it is
    pool = await start_pool(handle, workers=1, queues=["emails", "default"])

    async def buried() -> bool:
        return (await client.counts(queue="emails")).dead == 1

    await wait_until(buried)
    [dead] = await client.list_jobs(JobState.DEAD, queue="emails")
    assert (dead.job_id, dead.queue, dead.priority) == (job_id, "emails", -5)
    assert await client.list_jobs(JobState.DEAD, queue="default") == []
    # The default queue's job is not dead, so retry_all of "emails" moves just one.
    assert await client.retry_all(JobState.DEAD, queue="emails") == 1
    await wait_until(processed(pool, 1))
    assert runs == [1, 1]  # a requeued dead job starts over
    assert [j.job_id for j in await client.list_jobs(JobState.QUEUED)] == [other]


async def test_a_scheduled_job_runs_in_its_queue_at_its_priority(
    client: Client, start_pool: Any
) -> None:
    seen: list[tuple[str, str, int]] = []

    async def handle(job: Job, ctx: JobContext) -> None:
        info = await client.get_job(ctx.job_id)
        assert info is not None
        seen.append((job["tag"], info.queue, info.priority))

    await client.schedule({"tag": "later"}, 0.1, job_name="work", queue="reports", priority=2)
    [scheduled] = await client.list_jobs(JobState.SCHEDULED, queue="reports")
    assert (scheduled.queue, scheduled.priority) == ("reports", 2)
    pool = await start_pool(handle, workers=1, queues=["reports"])
    await wait_until(processed(pool, 1))
    assert seen == [("later", "reports", 2)]


async def test_the_worker_registry_lists_each_pools_queues_in_order(
    client: Client, start_pool: Any
) -> None:
    pool = await start_pool(lambda job: None, queues=["critical", "emails", "default"])
    plain = await start_pool(lambda job: None)

    async def registered() -> bool:
        return {w.worker_id for w in await client.workers()} == {pool.worker_id, plain.worker_id}

    await wait_until(registered)
    queues = {w.worker_id: w.queues for w in await client.workers()}
    assert queues[pool.worker_id] == ("critical", "emails", "default")
    assert queues[plain.worker_id] == ("default",)


async def test_queues_lists_every_queue_with_counts(client: Client) -> None:
    await client.enqueue({}, job_name="work", queue="emails")
    await client.enqueue({}, job_name="work", queue="emails", priority=3)
    await client.schedule({}, 3600, job_name="work", queue="reports")
    listed = {q.name: q for q in await client.queues()}
    assert sorted(listed) == ["default", "emails", "reports"]
    assert listed["emails"].counts.queued == 2
    assert listed["reports"].counts.scheduled == 1
    assert listed["default"].counts.total == 0
    assert (await client.counts()).total == 3
    assert await client.purge(JobState.QUEUED, queue="emails") == 2
    assert (await client.counts()).total == 1


async def test_a_paused_queue_starts_nothing_its_pool_claimed_ahead(
    client: Client, start_pool: Any
) -> None:
    """Jobs a pool holds claimed ahead (leased, waiting for a slot) go back to their
    queue when it is paused, as they do for a paused namespace."""
    started: list[int] = []
    go = asyncio.Event()

    async def handle(job: Job) -> None:
        started.append(job["n"])
        if job["n"] < 3:
            await go.wait()

    await client.enqueue_many([{"n": n} for n in range(7)], job_name="work", queue="emails")
    pool = await start_pool(
        handle, queues=["emails"], workers=3, prefetch=3, lease=30.0, prefetch_hold=30.0
    )

    async def buffered() -> bool:
        return sorted(started) == [0, 1, 2] and pool.stats.buffered == 3

    await wait_until(buffered)
    await client.pause(queue="emails")  # the pool learns it at its next heartbeat

    async def given_back() -> bool:
        return pool.stats.buffered == 0 and (await client.counts(queue="emails")).queued == 4

    await wait_until(given_back)
    go.set()
    await wait_until(processed(pool, 3))
    await asyncio.sleep(FAST["heartbeat_interval"] * 2)  # a few heartbeats and claims
    assert sorted(started) == [0, 1, 2]
    await client.resume(queue="emails")
    await wait_until(processed(pool, 7))
    assert sorted(started) == list(range(7))
