"""Client + WorkerPool behaviour (the spec's features), on every backend."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.helpers import wait_until
from wg_core import Backend, Client, JobContext, JobError, JobOptions, JobState, WorkerPool
from wg_core.backend import NewJob
from wg_core.envelope import Envelope
from wg_core.failures import MALFORMED_JOB_NAME

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
QUICK_RETRY = JobOptions(max_retries=3, retry_delay=0.05, timeout=10)


@dataclass
class EmailJob:
    to: str
    subject: str = "Hello"
    body: str = "World"


@pytest.fixture
async def client(backend: Backend) -> Client:
    return Client(backend)


@pytest.fixture
async def start_pool(backend: Backend) -> AsyncIterator[Callable[..., Any]]:
    """Start pools on the test's backend; every one is shut down at the end."""
    pools: list[WorkerPool] = []

    async def start(handler: Any = None, **kwargs: Any) -> WorkerPool:
        settings = {**FAST, **kwargs}
        pool = WorkerPool(handler, backend=backend, **settings)
        await pool.start()
        pools.append(pool)
        return pool

    yield start
    for pool in pools:
        pool.shutdown()
    for pool in pools:
        await asyncio.wait_for(pool.wait_closed(), timeout=30)


async def settled(client: Client) -> bool:
    counts = await client.counts()
    return counts.queued + counts.scheduled + counts.retry + counts.running == 0


def processed(pool: WorkerPool, n: int) -> Callable[[], Awaitable[bool]]:
    """The pool counts a job once its acknowledgement returns, a moment after the
    storage is already empty: wait for that rather than race it."""

    async def check() -> bool:
        return pool.stats.processed == n

    return check


async def test_jobs_run_in_fifo_order_and_are_deleted(client: Client, start_pool: Any) -> None:
    seen: list[str] = []

    async def handle(job: EmailJob) -> None:
        seen.append(job.to)

    ids = [await client.enqueue(EmailJob(to=f"u{n}@example.com")) for n in range(20)]
    assert len(set(ids)) == 20
    pool = await start_pool(handle, workers=1)
    await wait_until(lambda: settled(client))
    assert seen == [f"u{n}@example.com" for n in range(20)]
    assert (await client.counts()).total == 0
    assert (await client.counters()).processed == 20
    await wait_until(processed(pool, 20))


async def test_enqueue_many_and_second_context_parameter(client: Client, start_pool: Any) -> None:
    contexts: list[JobContext] = []

    def handle(job: dict[str, int], ctx: JobContext) -> None:  # sync: runs in a thread
        contexts.append(ctx)

    ids = await client.enqueue_many([{"n": n} for n in range(30)], job_name="count")
    await start_pool(handle, workers=3)
    await wait_until(lambda: settled(client))
    assert sorted(c.job_id for c in contexts) == sorted(ids)
    assert {(c.job_name, c.attempt) for c in contexts} == {("count", 1)}


async def test_retryable_failures_back_off_then_succeed(client: Client, start_pool: Any) -> None:
    runs: list[tuple[int, float]] = []

    async def handle(job: EmailJob, ctx: JobContext) -> None:
        runs.append((ctx.attempt, time.monotonic()))
        if ctx.attempt == 1:
            raise JobError.retryable("Service unavailable")
        if ctx.attempt == 2:
            raise ConnectionError("reset by peer")  # any exception retries too

    await client.enqueue(EmailJob(to="a@b.c"), options=JobOptions(retry_delay=0.2))
    pool = await start_pool(handle)
    await wait_until(lambda: settled(client))
    assert [attempt for attempt, _ in runs] == [1, 2, 3]
    # retry_delay × 2^retry_count: 0.2 s, then 0.4 s.
    assert runs[1][1] - runs[0][1] >= 0.2
    assert runs[2][1] - runs[1][1] >= 0.4
    assert pool.stats.retried == 2
    assert (await client.counters()).failed == 2


async def test_exhausted_retries_go_dead_with_the_last_error(
    client: Client, start_pool: Any
) -> None:
    attempts: list[int] = []

    async def handle(job: EmailJob, ctx: JobContext) -> None:
        attempts.append(ctx.attempt)
        raise ValueError(f"attempt {ctx.attempt} failed")

    job_id = await client.enqueue(
        EmailJob(to="a@b.c"), options=JobOptions(max_retries=2, retry_delay=0.05)
    )
    await start_pool(handle)
    await wait_until(lambda: settled(client))
    assert attempts == [1, 2, 3]
    job = await client.get_job(job_id)
    assert job is not None
    assert job.state is JobState.DEAD
    assert job.last_error == "ValueError: attempt 3 failed"
    assert job.retry_count == 3
    assert job.envelope is not None
    assert job.envelope.status == "Dead"
    assert "Traceback" in job.envelope.extra["traceback"]


async def test_fatal_errors_go_straight_to_dead(client: Client, start_pool: Any) -> None:
    calls = 0

    async def handle(job: EmailJob) -> None:
        nonlocal calls
        calls += 1
        if not job.to:
            raise JobError.fatal("Invalid email address")

    job_id = await client.enqueue(EmailJob(to=""), options=QUICK_RETRY)
    await start_pool(handle)
    await wait_until(lambda: settled(client))
    assert calls == 1
    [dead] = await client.list_jobs(JobState.DEAD)
    assert (dead.job_id, dead.last_error, dead.retry_count) == (
        job_id,
        "Invalid email address",
        0,
    )


async def test_timeouts_are_enforced_and_retried(client: Client, start_pool: Any) -> None:
    attempts: list[int] = []

    async def handle(job: EmailJob, ctx: JobContext) -> None:
        attempts.append(ctx.attempt)
        if ctx.attempt == 1:
            await asyncio.sleep(60)

    await client.enqueue(EmailJob(to="a@b.c"), options=JobOptions(timeout=0.2, retry_delay=0.05))
    await start_pool(handle)
    await wait_until(lambda: settled(client))
    assert attempts == [1, 2]
    assert (await client.counters()).processed == 1


async def test_scheduled_jobs_never_run_early(client: Client, start_pool: Any) -> None:
    started: dict[str, float] = {}

    async def handle(job: EmailJob) -> None:
        started[job.to] = time.time()

    enqueued_at = time.time()
    await client.schedule(EmailJob(to="later"), 0.6)
    await client.enqueue(EmailJob(to="now"))
    await start_pool(handle)
    await wait_until(lambda: settled(client))
    assert started["now"] < started["later"]
    assert started["later"] >= enqueued_at + 0.6 - 0.05  # second-granularity clocks aside


async def test_workers_run_jobs_concurrently(client: Client, start_pool: Any) -> None:
    running = 0
    peak = 0
    gate = asyncio.Event()

    async def handle(job: dict[str, int]) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await gate.wait()
        running -= 1

    await client.enqueue_many([{"n": n} for n in range(8)])
    await start_pool(handle, workers=5)

    async def five_running() -> bool:
        return peak == 5

    await wait_until(five_running)
    gate.set()
    await wait_until(lambda: settled(client))
    assert peak == 5


async def test_sync_handlers_do_not_block_the_event_loop(client: Client, start_pool: Any) -> None:
    release = threading.Event()
    done: list[str] = []

    def blocking(job: dict[str, str]) -> None:
        release.wait(timeout=20)
        done.append("blocking")

    async def quick(job: dict[str, str]) -> None:
        done.append("quick")

    await client.enqueue({"k": "b"}, job_name="blocking")
    await client.enqueue({"k": "q"}, job_name="quick")
    pool = WorkerPool(
        handlers={"blocking": blocking, "quick": quick}, backend=client.backend, **FAST
    )
    await pool.start()
    try:

        async def quick_done() -> bool:
            return "quick" in done

        await wait_until(quick_done)
        assert done == ["quick"]
        release.set()
        await wait_until(lambda: settled(client))
        assert sorted(done) == ["blocking", "quick"]
    finally:
        release.set()
        pool.shutdown()
        await pool.wait_closed()


async def test_handlers_route_by_job_name_and_unknown_names_go_dead(
    client: Client, start_pool: Any
) -> None:
    seen: list[str] = []

    async def send_email(job: EmailJob) -> None:
        seen.append("email:" + job.to)

    async def resize(job: dict[str, int]) -> None:
        seen.append(f"resize:{job['w']}")

    await client.enqueue(EmailJob(to="a@b.c"), job_name="send_email")
    await client.enqueue({"w": 640}, job_name="resize")
    unknown = await client.enqueue({"x": 1}, job_name="nobody_handles_this")
    pool = WorkerPool(
        handlers={"send_email": send_email, "resize": resize}, backend=client.backend, **FAST
    )
    await pool.start()
    try:
        await wait_until(lambda: settled(client))
    finally:
        pool.shutdown()
        await pool.wait_closed()
    assert sorted(seen) == ["email:a@b.c", "resize:640"]
    dead = await client.get_job(unknown)
    assert dead is not None
    assert dead.state is JobState.DEAD
    assert "unknown job name 'nobody_handles_this'" in (dead.last_error or "")


async def test_bad_data_goes_dead_and_the_worker_stays_up(
    client: Client, backend: Backend, start_pool: Any
) -> None:
    seen: list[str] = []

    async def handle(job: EmailJob) -> None:
        seen.append(job.to)

    deep = "[" * 100_000 + "]" * 100_000
    garbage = [
        NewJob(job_id="bad-1", job_name="x", raw="this is not json"),
        NewJob(job_id="bad-2", job_name="x", raw='{"id": "bad-2", "payload": {}}'),
        NewJob(job_id="bad-3", job_name="x", raw=deep),
    ]
    await backend.enqueue(garbage)
    wrong_shape = await client.enqueue({"recipient": "a@b.c"}, job_name="email_job")
    await client.enqueue(EmailJob(to="good@example.com"))
    pool = await start_pool(handle)
    await wait_until(lambda: settled(client))
    assert seen == ["good@example.com"]
    assert pool.running
    dead = {job.job_id: job for job in await client.list_jobs(JobState.DEAD, limit=10)}
    assert len(dead) == 4
    shape = await client.get_job(wrong_shape)
    assert shape is not None
    assert shape.state is JobState.DEAD
    assert "EmailJob" in (shape.last_error or "")
    malformed = [job for job in dead.values() if job.job_name == MALFORMED_JOB_NAME]
    assert len(malformed) == 3
    kept = {job.envelope.extra["raw"] for job in malformed if job.envelope}
    assert "this is not json" in kept
    reasons = " | ".join(job.last_error or "" for job in malformed)
    assert "not JSON" in reasons
    assert "options" in reasons
    assert "nested too deeply" in reasons


async def test_shutdown_drains_running_jobs(client: Client, start_pool: Any) -> None:
    finished: list[int] = []
    started = asyncio.Event()

    async def handle(job: dict[str, int]) -> None:
        started.set()
        await asyncio.sleep(0.3)
        finished.append(job["n"])

    await client.enqueue_many([{"n": n} for n in range(3)])
    pool = await start_pool(handle, workers=3)
    await asyncio.wait_for(started.wait(), 10)
    pool.shutdown()
    await asyncio.wait_for(pool.wait_closed(), 10)
    assert sorted(finished) == [0, 1, 2]
    assert (await client.counts()).total == 0
    assert await client.workers() == []


async def test_shutdown_timeout_releases_jobs_without_using_an_attempt(
    client: Client, start_pool: Any
) -> None:
    started = asyncio.Event()

    async def stuck(job: dict[str, int]) -> None:
        started.set()
        await asyncio.sleep(3600)

    first = await client.enqueue({"n": 1})
    second = await client.enqueue({"n": 2})
    # prefetch=0: the second job stays queued (claimed-ahead jobs have their own tests)
    pool = await start_pool(stuck, workers=1, shutdown_timeout=0.2, prefetch=0)
    await asyncio.wait_for(started.wait(), 10)
    pool.shutdown()
    await asyncio.wait_for(pool.wait_closed(), 10)
    assert pool.stats.released == 1
    queued = await client.list_jobs(JobState.QUEUED)
    assert [job.job_id for job in queued] == [first, second]  # back at the front
    assert queued[0].retry_count == 0
    assert (await client.counters()).failed == 0


async def test_a_crashed_workers_job_is_recovered_as_a_failed_attempt(
    client: Client, backend: Backend, start_pool: Any
) -> None:
    seen: list[int] = []

    async def handle(job: dict[str, int], ctx: JobContext) -> None:
        seen.append(ctx.attempt)

    job_id = await client.enqueue({"n": 1}, options=QUICK_RETRY)
    # A worker claims it and dies: nobody renews the lease.
    [_] = await backend.claim(limit=1, lease=0.3, worker_id="dead-worker")
    await start_pool(handle)
    await wait_until(lambda: settled(client))
    assert seen == [2]
    assert (await client.counters()).failed == 1
    info = await client.get_job(job_id)
    assert info is not None
    assert info.state is JobState.COMPLETED


async def test_a_job_that_keeps_killing_its_worker_ends_dead(
    client: Client, start_pool: Any
) -> None:
    started = asyncio.Event()

    async def hang(job: dict[str, int]) -> None:
        started.set()
        await asyncio.sleep(3600)

    short_lease = {"workers": 1, "lease": 0.3, "heartbeat_interval": 0.1}
    job_id = await client.enqueue({"n": 1}, options=JobOptions(max_retries=1, retry_delay=0.01))
    for _crash in range(2):
        started.clear()
        pool = await start_pool(hang, **short_lease)
        await asyncio.wait_for(started.wait(), 10)
        pool.shutdown(now=True)  # like SIGKILL: nothing is released or recorded
        await pool.wait_closed()
    await start_pool(hang, **short_lease)  # reaps it: the second crash used up the retries

    async def dead() -> bool:
        job = await client.get_job(job_id)
        return job is not None and job.state is JobState.DEAD

    await wait_until(dead)
    job = await client.get_job(job_id)
    assert job is not None
    assert "lease expired" in (job.last_error or "")
    assert job.retry_count == 2


async def test_pause_stops_the_pool_and_resume_restarts_it(client: Client, start_pool: Any) -> None:
    seen: list[int] = []

    async def handle(job: dict[str, int]) -> None:
        seen.append(job["n"])

    await client.pause()
    await start_pool(handle)
    await client.enqueue({"n": 1})
    await asyncio.sleep(0.3)
    assert seen == []
    assert (await client.counts()).queued == 1
    await client.resume()
    await wait_until(lambda: settled(client))
    assert seen == [1]


async def test_workers_register_and_an_operator_can_stop_one(
    client: Client, start_pool: Any
) -> None:
    pool = await start_pool(lambda job: None, workers=3)

    async def registered() -> bool:
        return [w.worker_id for w in await client.workers()] == [pool.worker_id]

    await wait_until(registered)
    [info] = await client.workers()
    assert info.concurrency == 3
    assert await client.stop_worker(pool.worker_id)
    await asyncio.wait_for(pool.wait_closed(), 10)
    assert not pool.running
    assert await client.workers() == []


async def test_admin_requeue_run_now_delete_purge(client: Client, start_pool: Any) -> None:
    async def handle(job: EmailJob) -> None:
        if job.to == "bad":
            raise JobError.fatal("nope")

    dead_ids = [await client.enqueue(EmailJob(to="bad"), options=QUICK_RETRY) for _ in range(3)]
    pool = await start_pool(handle, workers=1)  # one at a time: burial order is known
    await wait_until(lambda: settled(client))
    pool.shutdown()
    await pool.wait_closed()
    assert [j.job_id for j in await client.list_jobs("dead", newest_first=False)] == dead_ids
    assert await client.retry_jobs([dead_ids[0], "missing"]) == 1
    requeued = await client.get_job(dead_ids[0])
    assert requeued is not None
    assert (requeued.state, requeued.retry_count) == (JobState.QUEUED, 0)
    assert requeued.envelope is not None
    assert requeued.envelope.status == "Pending"
    assert await client.retry_all("dead", error_contains="NOPE") == 2
    assert (await client.counts()).queued == 3
    later = await client.schedule(EmailJob(to="x"), 3600)
    assert await client.run_now([later]) == 1
    assert (await client.counts()).queued == 4
    assert await client.delete_jobs([later]) == 1
    assert await client.purge("queued") == 3
    assert (await client.counts()).total == 0


async def test_a_job_finishing_during_shutdown_is_acknowledged_once(
    client: Client, start_pool: Any
) -> None:
    started = asyncio.Event()

    async def handle(job: dict[str, int]) -> None:
        started.set()
        await asyncio.sleep(0.3)

    await client.enqueue({"n": 1})
    pool = await start_pool(handle)
    await asyncio.wait_for(started.wait(), 10)
    pool.shutdown()
    await asyncio.wait_for(pool.wait_closed(), 10)
    assert (pool.stats.processed, pool.stats.released) == (1, 0)
    assert (await client.counters()).processed == 1
    assert (await client.counts()).total == 0


# -- claiming ahead (prefetch) ------------------------------------------------------------

# A long lease and hold, so that only what a test does releases claimed-ahead jobs.
# Without a measured pace the pool claims ``workers`` ahead once its claims come back full.
PREFETCH = {"workers": 3, "prefetch": 3, "lease": 30.0, "prefetch_hold": 30.0}


async def _blocked_with_a_full_buffer(
    client: Client, start_pool: Any, **kwargs: Any
) -> tuple[WorkerPool, list[int], asyncio.Event]:
    """A three-slot pool running jobs 0-2 (blocked until the event is set) with jobs
    3-5 claimed ahead; job 6 stays queued."""
    started: list[int] = []
    go = asyncio.Event()

    async def handle(job: dict[str, int]) -> None:
        started.append(job["n"])
        if job["n"] < 3:
            await go.wait()

    await client.enqueue_many([{"n": n} for n in range(7)])
    pool = await start_pool(handle, **{**PREFETCH, **kwargs})

    async def buffered() -> bool:
        return sorted(started) == [0, 1, 2] and pool.stats.buffered == 3

    await wait_until(buffered)
    assert (await client.counts()).running == 6  # claimed ahead = leased to this worker
    return pool, started, go


async def test_claimed_ahead_jobs_go_back_at_once_when_a_pool_drains(
    client: Client, backend: Backend, start_pool: Any
) -> None:
    pool, started, go = await _blocked_with_a_full_buffer(client, start_pool)
    pool.shutdown()  # graceful: job 0 may finish, the buffer must not wait for it

    async def given_back() -> bool:
        return (await client.counts()).queued == 4

    await wait_until(given_back)
    # Another worker gets them at once (no lease to wait out), oldest first.
    others = await backend.claim(limit=10, lease=30.0, worker_id="other")
    assert [Envelope.decode(a.raw).payload["n"] for a in others] == [3, 4, 5, 6]
    assert Envelope.decode(others[0].raw).retry_count == 0  # no attempt used
    go.set()
    await asyncio.wait_for(pool.wait_closed(), 10)
    assert sorted(started) == [0, 1, 2]
    assert pool.stats.released == 3
    assert pool.stats.processed == 3
    assert await backend.complete(others) == 4


async def test_claimed_ahead_jobs_go_back_when_a_pool_stops_now(
    client: Client, start_pool: Any
) -> None:
    pool, started, _ = await _blocked_with_a_full_buffer(client, start_pool)
    pool.shutdown(now=True)
    await asyncio.wait_for(pool.wait_closed(), 10)
    counts = await client.counts()
    assert counts.queued == 4  # the buffer went back; jobs 0-2 come back with their leases
    assert counts.running == 3
    assert pool.stats.released == 3
    assert sorted(started) == [0, 1, 2]


async def test_a_paused_namespace_starts_nothing_from_the_buffer(
    client: Client, start_pool: Any
) -> None:
    pool, started, go = await _blocked_with_a_full_buffer(client, start_pool)
    await client.pause()  # by an operator: the pool learns it at its next heartbeat

    async def given_back() -> bool:
        return pool.stats.buffered == 0 and (await client.counts()).queued == 4

    await wait_until(given_back)
    go.set()

    async def first_jobs_done() -> bool:
        return pool.stats.processed == 3

    await wait_until(first_jobs_done)
    await asyncio.sleep(0.3)  # a few heartbeats and claim attempts
    assert sorted(started) == [0, 1, 2]
    assert (await client.counts()).queued == 4
    await client.resume()
    await wait_until(lambda: settled(client))
    assert sorted(started) == list(range(7))


async def test_claimed_ahead_jobs_unstarted_after_the_hold_are_given_back(
    client: Client, start_pool: Any
) -> None:
    pool, started, go = await _blocked_with_a_full_buffer(client, start_pool, prefetch_hold=0.2)

    async def given_back() -> bool:
        return pool.stats.released == 3 and (await client.counts()).queued == 4

    await wait_until(given_back)
    go.set()
    await wait_until(lambda: settled(client))
    assert sorted(started) == list(range(7))


async def test_the_heartbeat_renews_claimed_ahead_jobs_leases(
    client: Client, start_pool: Any
) -> None:
    # lease 4 s: the hold is capped at half the lease (2 s), heartbeats every 0.2 s.
    pool, _, go = await _blocked_with_a_full_buffer(client, start_pool, lease=4.0)
    (buffered,) = [
        job
        for job in await client.list_jobs(JobState.RUNNING)
        if Envelope.decode(job.raw).payload["n"] == 3
    ]
    assert buffered.lease_until is not None

    async def renewed() -> bool:
        job = await client.get_job(buffered.job_id)
        assert job is not None
        assert job.lease_until is not None
        return job.state is JobState.RUNNING and job.lease_until > buffered.lease_until

    await wait_until(renewed, timeout=1.5)  # before the hold gives it back
    assert pool.stats.buffered == 3
    go.set()


async def test_with_claiming_ahead_every_job_runs_once(client: Client, start_pool: Any) -> None:
    runs: dict[int, int] = {}

    async def handle(job: dict[str, int]) -> None:
        runs[job["n"]] = runs.get(job["n"], 0) + 1
        await asyncio.sleep(0)

    await client.enqueue_many([{"n": n} for n in range(300)])
    pool = await start_pool(handle, workers=4, prefetch=8)
    await wait_until(lambda: settled(client))
    assert runs == dict.fromkeys(range(300), 1)
    await wait_until(processed(pool, 300))
    assert (await client.counters()).processed == 300


async def test_prefetch_0_claims_only_for_free_slots(client: Client, start_pool: Any) -> None:
    go = asyncio.Event()

    async def handle(job: dict[str, int]) -> None:
        await go.wait()

    await client.enqueue_many([{"n": n} for n in range(4)])
    pool = await start_pool(handle, workers=2, prefetch=0)

    async def running() -> bool:
        return pool.stats.running == 2

    await wait_until(running)
    await asyncio.sleep(0.1)  # a claimer that claimed ahead would have done so by now
    assert pool.stats.buffered == 0
    assert (await client.counts()).queued == 2
    go.set()
    await wait_until(lambda: settled(client))


# -- reliability: every claimed job ends recorded, whatever raises ----------------------


def _raise(kind: str) -> None:
    if kind == "SystemExit":
        raise SystemExit(3)
    if kind == "KeyboardInterrupt":
        raise KeyboardInterrupt
    if kind == "BaseException":
        raise BaseException("boom")
    if kind == "CancelledError":
        raise asyncio.CancelledError
    if kind == "GeneratorExit":
        raise GeneratorExit
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "sync"),
    [
        ("SystemExit", False),
        ("SystemExit", True),
        ("KeyboardInterrupt", False),
        ("KeyboardInterrupt", True),
        ("BaseException", False),
        ("CancelledError", False),
        ("GeneratorExit", False),
    ],
)
async def test_a_handler_raising_any_exception_class_fails_only_its_job(
    client: Client, start_pool: Any, kind: str, sync: bool
) -> None:
    attempts: list[int] = []

    async def async_handler(job: dict[str, int], ctx: JobContext) -> None:
        attempts.append(ctx.attempt)
        if job["n"] == 1:
            _raise(kind)

    def sync_handler(job: dict[str, int], ctx: JobContext) -> None:
        attempts.append(ctx.attempt)
        if job["n"] == 1:
            _raise(kind)

    bad = await client.enqueue({"n": 1}, options=JobOptions(max_retries=1, retry_delay=0.05))
    pool = await start_pool(sync_handler if sync else async_handler)

    async def dead() -> bool:
        job = await client.get_job(bad)
        return job is not None and job.state is JobState.DEAD

    await wait_until(dead)
    job = await client.get_job(bad)
    assert job is not None
    assert kind in (job.last_error or "")
    assert job.retry_count == 2  # retried once, then dead: two failed attempts
    assert pool.running
    await client.enqueue({"n": 2})  # the pool is still working
    await wait_until(lambda: settled(client))
    assert attempts == [1, 2, 1]
    assert (await client.counts()).running == 0


def _stored(job_id: str, *, payload: str = "{}", timeout: str = "300000") -> str:
    return (
        f'{{"id":"{job_id}","job_name":"job","payload":{payload},'
        f'"options":{{"max_retries":3,"retry_count":0,"timeout":{timeout},'
        f'"retry_delay":10000}},"status":"Pending","created_at":1767225600,'
        '"scheduled_at":null,"last_error":null}'
    )


@pytest.mark.parametrize(
    ("name", "fields", "reason"),
    [
        ("nan-payload", {"payload": '{"x":NaN}'}, "NaN"),
        ("minus-infinity-payload", {"payload": '{"x":-Infinity}'}, "-Infinity"),
        ("infinite-timeout", {"timeout": "1e999"}, "timeout"),
        # JSON, but read as infinity: the job runs, and its failure cannot be written.
        ("overflowing-payload", {"payload": '{"x":1e999}'}, "cannot be written back"),
    ],
)
async def test_an_envelope_that_cannot_be_written_back_goes_dead_with_its_text(
    client: Client, backend: Backend, start_pool: Any, name: str, fields: Any, reason: str
) -> None:
    async def fail(job: Any) -> None:
        raise ValueError("the handler failed")

    job_id = str(uuid.uuid4())
    raw = _stored(job_id, **fields)
    await backend.enqueue([NewJob(job_id=job_id, job_name="job", raw=raw)])
    pool = await start_pool(fail)
    await wait_until(lambda: settled(client))
    [dead] = await client.list_jobs(JobState.DEAD)
    assert dead.envelope is not None
    assert dead.envelope.extra["raw"] == raw
    assert reason in (dead.last_error or "")
    assert dead.job_id == job_id
    assert pool.running

    async def counted() -> bool:  # the pool counts once the bury's write has returned
        return pool.stats.dead == 1

    await wait_until(counted)


async def test_a_silent_workers_jobs_are_taken_over_before_their_lease_expires(
    client: Client, backend: Backend, start_pool: Any
) -> None:
    from wg_core import WorkerInfo

    seen: list[int] = []

    async def handle(job: dict[str, int], ctx: JobContext) -> None:
        seen.append(ctx.attempt)

    job_id = await client.enqueue({"n": 1}, options=QUICK_RETRY)
    # A worker registers, claims it under a long lease, and dies (SIGKILL).
    [attempt] = await backend.claim(limit=1, lease=600, worker_id="killed")
    await backend.heartbeat(
        WorkerInfo(worker_id="killed", host="h", pid=1, concurrency=1),
        attempts=[attempt],
        lease=600,
    )
    await start_pool(handle, heartbeat_interval=0.1, silent_after=0.3)
    await wait_until(lambda: settled(client))
    assert seen == [2]  # the crash counted as a failed attempt
    info = await client.get_job(job_id)
    assert info is not None
    assert info.state is JobState.COMPLETED


async def test_a_worker_busy_in_a_long_sync_handler_is_not_reaped(
    client: Client, start_pool: Any
) -> None:
    runs: list[int] = []

    def slow(job: dict[str, int], ctx: JobContext) -> None:
        runs.append(ctx.attempt)
        time.sleep(2.0)  # a thread: the lease keeper keeps heartbeating

    # The run outlasts both the lease and silent_after; each is still several
    # heartbeats long, so a loaded machine's scheduling delays do not look like a death.
    await client.enqueue({"n": 1}, options=QUICK_RETRY)
    pool = await start_pool(slow, heartbeat_interval=0.1, silent_after=0.8, lease=1.2)
    other = await start_pool(slow, heartbeat_interval=0.1, silent_after=0.8, lease=1.2)
    await wait_until(lambda: settled(client))

    # Either pool may have run it: wait for the one acknowledgement, whichever wrote it.
    async def acknowledged() -> bool:
        return pool.stats.processed + other.stats.processed == 1

    await wait_until(acknowledged)
    assert runs == [1]
    assert pool.stats.stale_writes == other.stats.stale_writes == 0
    assert (await client.counters()).failed == 0
