"""Tasks (issue 21): ``@app.task`` functions enqueued, stored and run, on every backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from wg_core import (
    App,
    Backend,
    Client,
    JobContext,
    JobFailedError,
    JobState,
    Task,
    TaskArgumentError,
    WorkerPool,
)

FAST = {
    "fetch_timeout": 0.5,
    "scheduler_interval": 0.05,
    "retrier_interval": 0.05,
    "heartbeat_interval": 0.2,
    "shutdown_timeout": 5.0,
    "retry_jitter": 0.0,
}
WAIT = 20.0
"""A generous bound on waiting for a result: never a timing assertion."""


@dataclass
class Point:
    x: int
    y: int


# Module-level functions, registered on each test's app by the fixture (a task's
# default name is its module-qualified name, so they must not be nested).


async def add(a: int, b: int = 10) -> int:
    return a + b


def norm(p: Point, ctx: JobContext, *scales: int, **labels: str) -> dict[str, Any]:
    return {"l1": abs(p.x) + abs(p.y), "attempt": ctx.attempt, "scales": list(scales), **labels}


async def flaky(ctx: JobContext, fail_until: int) -> int:
    if ctx.attempt < fail_until:
        raise RuntimeError(f"attempt {ctx.attempt} fails")
    return ctx.attempt


@dataclass
class Tasks:
    app: App
    add: Task[Any, Any]
    norm: Task[Any, Any]
    flaky: Task[Any, Any]


@pytest.fixture
async def tasks(backend: Backend) -> Tasks:
    app = App(backend=backend)
    return Tasks(
        app=app,
        add=app.task(add),
        norm=app.task(name="geometry.norm", queue="geometry", max_retries=0)(norm),
        flaky=app.task(retry_delay=0.05)(flaky),
    )


@pytest.fixture
async def pool(tasks: Tasks) -> AsyncIterator[WorkerPool]:
    pool = tasks.app.pool(workers=4, **FAST)
    await pool.start()
    yield pool
    pool.shutdown()
    await asyncio.wait_for(pool.wait_closed(), timeout=30)


async def test_async_and_sync_tasks_run_with_their_arguments(
    tasks: Tasks, pool: WorkerPool
) -> None:
    app = tasks.app
    assert tasks.add.name == "tests.conformance.test_tasks.add"
    assert app.queues == ("default", "geometry")
    first = await tasks.add.enqueue(2, b=3)
    defaulted = await tasks.add.enqueue(a=5)
    geometry = await tasks.norm.enqueue(Point(3, -4), 2, 5, unit="m")
    assert await app.result(first, timeout=WAIT) == 5
    assert await app.result(defaulted, timeout=WAIT) == 15
    assert await app.result(geometry, timeout=WAIT) == {
        "l1": 7,
        "attempt": 1,
        "scales": [2, 5],
        "unit": "m",
    }
    # Stored as a JSON object of the given arguments, by parameter name (no defaults).
    info = await app.client().get_job(defaulted)
    assert info is not None
    assert info.envelope is not None
    assert info.envelope.job_name == "tests.conformance.test_tasks.add"
    assert info.envelope.payload == {"a": 5}
    norm_info = await app.client().get_job(geometry)
    assert norm_info is not None
    assert norm_info.queue == "geometry"
    assert norm_info.envelope is not None
    assert norm_info.envelope.payload == {
        "p": {"x": 3, "y": -4},
        "scales": [2, 5],
        "labels": {"unit": "m"},
    }
    assert norm_info.envelope.max_retries == 0


async def test_a_task_gets_its_context_and_retries(tasks: Tasks, pool: WorkerPool) -> None:
    job_id = await tasks.flaky.enqueue(fail_until=2)
    assert await tasks.app.result(job_id, timeout=WAIT) == 2


async def test_wrong_arguments_store_nothing(tasks: Tasks, backend: Backend) -> None:
    client = tasks.app.client()
    for args, kwargs in [
        ((), {}),  # a missing argument
        (("2",), {}),  # a str where the annotation says int
        ((1,), {"c": 2}),  # an unknown keyword
        ((1, 2, 3), {}),  # too many
    ]:
        with pytest.raises(TaskArgumentError, match=r"tests\.conformance\.test_tasks\.add"):
            await tasks.add.enqueue(*args, **kwargs)
    with pytest.raises(TaskArgumentError, match="'p'"):
        await tasks.norm.enqueue({"x": "not an int"})  # checked as the worker decodes it
    with pytest.raises(TaskArgumentError, match="'scales'"):
        await tasks.norm.enqueue(Point(1, 1), "big")
    with pytest.raises(ValueError, match="queue"):
        tasks.add.with_options(queue="Not A Queue")
    counts = await client.counts()
    assert counts.total == 0


async def test_with_options_for_one_call(tasks: Tasks) -> None:
    client = tasks.app.client()
    later = await tasks.add.with_options(delay=3600, queue="urgent", priority=7).enqueue(1)
    now = await tasks.add.enqueue(1)
    info = await client.get_job(later)
    assert info is not None
    assert (info.state, info.queue, info.priority) == (JobState.SCHEDULED, "urgent", 7)
    plain = await client.get_job(now)
    assert plain is not None
    assert (plain.state, plain.queue, plain.priority) == (JobState.QUEUED, "default", 0)


async def test_a_stored_payload_that_does_not_fit_goes_dead(
    tasks: Tasks, pool: WorkerPool, backend: Backend
) -> None:
    # Another producer (or an older version of the task) stored arguments the
    # function does not take: a fatal error, not a retry loop.
    client = Client(backend)
    job_id = await client.enqueue({"a": 1, "z": 2}, job_name=tasks.add.name)
    with pytest.raises(JobFailedError) as failed:
        await client.result(job_id, timeout=WAIT)
    assert failed.value.state is JobState.DEAD
    assert "no parameter z" in (failed.value.last_error or "")
    info = await client.get_job(job_id)
    assert info is not None
    assert info.envelope is not None
    assert info.envelope.retry_count == 0


# -- burst mode ----------------------------------------------------------------------------


async def test_burst_runs_what_is_ready_and_stops(tasks: Tasks, backend: Backend) -> None:
    app, client = tasks.app, tasks.app.client()
    ready = [await tasks.add.enqueue(n) for n in range(8)]
    due = await tasks.add.with_options(delay=0.01).enqueue(100)  # due, not yet promoted
    # Fails once, due again 0.05 s later: under the 0.1 s between two idle looks.
    retried = await tasks.flaky.enqueue(fail_until=2)
    later = await tasks.add.with_options(delay=3600).enqueue(1)
    paused = await tasks.add.with_options(queue="held").enqueue(1)
    await client.pause(queue="held")
    await asyncio.sleep(0.05)  # the delayed job is due now
    # Its own scheduler and retrier are slow: burst mode promotes due jobs itself.
    slow = {**FAST, "scheduler_interval": 3600.0, "retrier_interval": 3600.0}
    pool = app.pool(workers=2, queues=[*app.queues, "held"], **slow)
    await asyncio.wait_for(pool.run(burst=True), timeout=60)
    for job_id in [*ready, due]:
        assert (await client.get_job(job_id)).state is JobState.COMPLETED  # type: ignore[union-attr]
    assert await app.result(retried, timeout=1) == 2
    assert (await client.get_job(later)).state is JobState.SCHEDULED  # type: ignore[union-attr]
    assert (await client.get_job(paused)).state is JobState.QUEUED  # type: ignore[union-attr]
