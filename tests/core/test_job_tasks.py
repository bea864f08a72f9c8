"""Each job runs in its own task (hotpath2 made the runner's path flat, not shared):
what a handler does to its task's context, or its task's cancel count, stays its own;
a loop's task factory is still used; and a timeout still hits only its own job."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

from tests.helpers import wait_until
from wg_core import Client, JobOptions, JobState, MemoryBackend, WorkerPool

_SEEN: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="fresh")


async def _drained(client: Client, count: int) -> None:
    async def done() -> bool:
        counts = await client.counts()
        return counts.get(JobState.PENDING, 0) + counts.get(JobState.RUNNING, 0) == 0 and (
            sum(counts.values()) >= count
        )

    await wait_until(done)


async def test_a_context_variable_a_handler_sets_does_not_reach_the_next_job() -> None:
    backend = MemoryBackend("ctxvars")
    client = Client(backend)
    seen: list[str] = []

    async def handle(job: Any) -> None:
        seen.append(_SEEN.get())
        _SEEN.set(f"set by job {job['n']}")

    for n in range(5):
        await client.enqueue({"n": n}, job_name="ctx")
    # One slot: every job runs after the previous one, in the same pool.
    async with WorkerPool(handle, backend=backend, workers=1, keep_finished=60) as pool:
        await wait_until(lambda: _true(pool.stats.processed >= 5))
    assert seen == ["fresh"] * 5


async def test_jobs_run_in_tasks_of_the_loops_task_factory() -> None:
    backend = MemoryBackend("factory")
    client = Client(backend)
    made: list[asyncio.Task[Any]] = []
    loop = asyncio.get_running_loop()

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        task = asyncio.Task(coro, loop=loop, **kwargs)
        made.append(task)
        return task

    ran: list[asyncio.Task[Any]] = []

    async def handle(job: Any) -> None:
        task = asyncio.current_task()
        assert task is not None
        ran.append(task)

    job_ids = [await client.enqueue({"n": n}, job_name="f") for n in range(3)]
    loop.set_task_factory(factory)  # type: ignore[arg-type]
    try:
        async with WorkerPool(handle, backend=backend, workers=2, keep_finished=60) as pool:
            await wait_until(lambda: _true(pool.stats.processed >= 3))
    finally:
        loop.set_task_factory(None)
    assert sorted(t.get_name() for t in ran) == sorted(f"wg-job-{i}" for i in job_ids)
    assert all(any(t is m for m in made) for t in ran)


async def test_a_timeout_fails_only_its_own_job_and_the_next_job_in_its_slot_runs() -> None:
    backend = MemoryBackend("timeouts")
    client = Client(backend)

    async def handle(job: Any) -> str:
        if job["slow"]:
            await asyncio.Event().wait()  # never set: only the timeout ends it
        return "ok"

    slow = await client.enqueue(
        {"slow": True}, job_name="t", options=JobOptions(timeout=0.05, max_retries=0)
    )
    quick = await client.enqueue({"slow": False}, job_name="t")
    async with WorkerPool(handle, backend=backend, workers=1, keep_finished=60) as pool:
        await wait_until(lambda: _true(pool.stats.processed + pool.stats.dead >= 2))
        stats = pool.stats
    assert (stats.processed, stats.dead) == (1, 1)
    slow_info = await client.get_job(slow)
    quick_info = await client.get_job(quick)
    assert slow_info is not None
    assert quick_info is not None
    assert slow_info.state is JobState.DEAD
    assert slow_info.last_error is not None
    assert "timed out" in slow_info.last_error
    assert quick_info.state is JobState.COMPLETED


async def _true(value: bool) -> bool:
    return value
