"""The lease keeper: leases renewed from a thread of its own, so an async handler that
blocks the event loop costs no other job its lease; loop stalls are reported."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import pytest

from tests.helpers import wait_until
from wg_core import Client, JobContext, JobOptions, JobState, MemoryBackend, WorkerPool

SHORT = {
    "lease": 0.5,
    "heartbeat_interval": 0.1,
    "silent_after": 0.3,
    "reaper_interval": 0.05,
    "retrier_interval": 0.05,
    "fetch_timeout": 0.2,
    "loop_stall_after": 0.2,
    "retry_jitter": 0.0,
}


def _reaper_thread(backend: MemoryBackend, stop: threading.Event, taken: list[str]) -> None:
    """Another worker's reaper, on its own thread: it would take over any lapsed lease,
    or the jobs of a worker gone silent, while the pool's loop is blocked."""

    async def reap() -> None:
        clone = backend.clone()
        while not stop.is_set():
            found = await clone.reclaim_expired(
                limit=100, lease=30, worker_id="other-reaper", silent_after=0.3
            )
            taken.extend(a.raw for a in found)
            await asyncio.sleep(0.05)

    asyncio.run(reap())


async def test_a_handler_blocking_the_loop_costs_no_other_job_its_lease(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="wg")
    backend = MemoryBackend("blocked")
    client = Client(backend)
    runs: list[tuple[str, int]] = []
    others_started = asyncio.Event()
    started = 0

    async def handle(job: dict[str, str], ctx: JobContext) -> None:
        nonlocal started
        runs.append((job["kind"], ctx.attempt))
        if job["kind"] == "blocker":
            await others_started.wait()
            time.sleep(1.2)  # noqa: ASYNC251 - blocks the loop: the mistake guarded against
            return
        started += 1
        if started == 4:
            others_started.set()
        await asyncio.sleep(1.5)  # still running when the loop comes back

    blocker = await client.enqueue(
        {"kind": "blocker"}, options=JobOptions(max_retries=0, timeout=0.3)
    )
    for _ in range(4):
        await client.enqueue({"kind": "other"}, options=JobOptions(max_retries=0, timeout=10))
    stop = threading.Event()
    taken: list[str] = []
    reaper = threading.Thread(target=_reaper_thread, args=(backend, stop, taken))
    pool = WorkerPool(handle, backend=backend, workers=5, **SHORT)
    await pool.start()
    reaper.start()
    try:
        await wait_until(lambda: _settled(client), timeout=20)
    finally:
        stop.set()
        reaper.join()
        pool.shutdown()
        await pool.wait_closed()
    assert taken == []
    assert sorted(runs) == [("blocker", 1)] + [("other", 1)] * 4
    assert pool.stats.processed == 4
    assert pool.stats.stale_writes == 0
    # The blocker overran its timeout: recorded as timed out, not as a success.
    [dead] = await client.list_jobs(JobState.DEAD)
    assert dead.job_id == blocker
    assert "timed out" in (dead.last_error or "")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("event loop has been blocked" in w and blocker in w for w in warnings)
    assert any(blocker in w and "past its 0.3s timeout" in w for w in warnings)


async def test_shutdown_leaves_no_lease_keeper_thread_behind() -> None:
    backend = MemoryBackend("threads")
    before = {t.ident for t in threading.enumerate()}
    for now in (False, True):
        pool = WorkerPool(lambda job: None, backend=backend, **SHORT)
        await pool.start()
        await asyncio.sleep(0.2)
        assert any(t.name == "wg-lease-keeper" for t in threading.enumerate())
        pool.shutdown(now=now)
        await pool.wait_closed()
        left = [
            t
            for t in threading.enumerate()
            if t.ident not in before and t.name == "wg-lease-keeper"
        ]
        assert left == []
    assert await backend.list_workers() != []  # the forced stop left its entry, as a crash
    assert [w.worker_id for w in await backend.list_workers()] == [pool.worker_id]


async def test_an_operator_stop_request_reaches_the_pool_through_the_keeper() -> None:
    backend = MemoryBackend("stopme")
    pool = WorkerPool(lambda job: None, backend=backend, **SHORT)
    await pool.start()

    async def registered() -> bool:
        return bool(await backend.list_workers())

    await wait_until(registered)
    assert await backend.request_worker_stop(pool.worker_id)
    await asyncio.wait_for(pool.wait_closed(), 10)
    assert await backend.list_workers() == []  # unregistered after its last heartbeat


class _NoClone(MemoryBackend):
    def clone(self) -> Any:
        raise NotImplementedError("not yet")


async def test_a_backend_that_cannot_be_cloned_heartbeats_on_the_loop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="wg")
    backend = _NoClone("noclone")
    client = Client(backend)
    done: list[int] = []

    async def handle(job: dict[str, int]) -> None:
        await asyncio.sleep(0.8)  # longer than the lease: renewals keep it
        done.append(job["n"])

    await client.enqueue({"n": 1})
    pool = WorkerPool(handle, backend=backend, **SHORT)
    await pool.start()
    await wait_until(lambda: _settled(client))
    pool.shutdown()
    await pool.wait_closed()
    assert done == [1]
    assert pool.stats.stale_writes == 0
    assert any("cannot be cloned" in r.getMessage() for r in caplog.records)


async def _settled(client: Client) -> bool:
    counts = await client.counts()
    return counts.queued + counts.scheduled + counts.retry + counts.running == 0


class _SlowReplies(MemoryBackend):
    """A backend whose retry writes land at once but whose replies come late, so the
    lease keeper's heartbeats meanwhile see the job moved and report its lease lost."""

    async def retry(self, attempt: Any, *, raw: str, delay: float, error: str | None) -> bool:
        moved = await super().retry(attempt, raw=raw, delay=delay, error=error)
        await asyncio.sleep(0.4)  # several heartbeat intervals
        return moved


async def test_a_heartbeat_racing_an_outcome_write_does_not_cancel_it() -> None:
    backend = _SlowReplies("racing")
    client = Client(backend)
    attempts: list[int] = []

    async def handle(job: dict[str, int], ctx: JobContext) -> None:
        attempts.append(ctx.attempt)
        if ctx.attempt == 1:
            raise ConnectionError("reset by peer")

    await client.enqueue({"n": 1}, options=JobOptions(retry_delay=0.01))
    pool = WorkerPool(handle, backend=backend, **SHORT)
    await pool.start()
    try:

        async def done() -> bool:
            return pool.stats.processed == 1

        await wait_until(done)
    finally:
        pool.shutdown()
        await pool.wait_closed()
    assert attempts == [1, 2]
    # The retry was written and counted once, not cut short by the "lost" report.
    assert (pool.stats.retried, pool.stats.failed, pool.stats.stale_writes) == (1, 1, 0)


async def test_an_idle_pool_reports_no_loop_stall(caplog: pytest.LogCaptureFixture) -> None:
    # The keeper's first stall check once compared against a tick of 0.0 and reported
    # the machine's uptime as a stall.
    caplog.set_level(logging.WARNING, logger="wg")
    pool = WorkerPool(lambda job: None, backend=MemoryBackend("idle"), **SHORT)
    await pool.start()
    await asyncio.sleep(0.3)
    pool.shutdown()
    await pool.wait_closed()
    assert not [r for r in caplog.records if "blocked" in r.getMessage()]
