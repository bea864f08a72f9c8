"""Queue limits as users meet them, through ``WorkerPool`` and ``Client`` on every
backend (issue 20): pools of one namespace together never run more of a limited
queue's jobs at once than its limit, by the handlers' own log, keep its slots busy,
and keep serving their other queues meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.conformance.test_pool_queues import FAST, processed
from tests.helpers import wait_until
from wg_core import Backend, Client, WorkerPool

Job = dict[str, Any]


@pytest.fixture
async def client(backend: Backend) -> Client:
    return Client(backend)


@pytest.fixture
async def start_pool(
    backend: Backend, twin: Backend
) -> AsyncIterator[Callable[..., Awaitable[WorkerPool]]]:
    """Start pools, alternately on the test's backend and on its twin (another
    instance of the same namespace); every one is shut down at the end."""
    pools: list[WorkerPool] = []

    async def start(handler: Any, **kwargs: Any) -> WorkerPool:
        on = backend if len(pools) % 2 == 0 else twin
        pool = WorkerPool(handler, backend=on, **{**FAST, **kwargs})
        await pool.start()
        pools.append(pool)
        return pool

    yield start
    for pool in pools:
        pool.shutdown()
    for pool in pools:
        await asyncio.wait_for(pool.wait_closed(), timeout=30)


class Log:
    """The handlers' own log: how many run at once, at most, and when each started."""

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0
        self.starts: list[float] = []
        self.by_key: dict[str, int] = {}
        self.key_peak = 0

    async def handle(self, job: Job) -> None:
        self.running += 1
        self.peak = max(self.peak, self.running)
        self.starts.append(time.monotonic())
        key = job.get("key")
        if key is not None:
            self.by_key[key] = self.by_key.get(key, 0) + 1
            self.key_peak = max(self.key_peak, self.by_key[key])
        try:
            await asyncio.sleep(float(job.get("sleep", 0.1)))
        finally:
            self.running -= 1
            if key is not None:
                self.by_key[key] -= 1


def total(pools: list[WorkerPool], n: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return sum(pool.stats.processed for pool in pools) >= n

    return check


async def test_pools_together_keep_within_the_concurrency_and_busy(
    client: Client, start_pool: Any, backend_name: str
) -> None:
    """60 jobs of 0.1 s at concurrency 3 across 3 pools of 4 workers: never more than 3
    at once, and (measured, printed, not asserted) close to 2 s from first to last."""
    await client.set_limit("api", concurrency=3)
    log = Log()
    await client.enqueue_many([{"n": n} for n in range(60)], job_name="call", queue="api")
    started = time.monotonic()
    pools = [await start_pool(log.handle, workers=4, queues=["api"]) for _ in range(3)]
    await wait_until(total(pools, 60), timeout=60)
    elapsed = time.monotonic() - started
    print(f"\n[limits] {backend_name}: 60 jobs x 0.1 s at concurrency 3, 3 pools: {elapsed:.2f} s")
    assert log.peak <= 3
    assert (await client.counts(queue="api")).total == 0


async def test_per_key_limits_across_pools(client: Client, start_pool: Any) -> None:
    await client.set_limit("cust", concurrency=1, per_key=True)
    log = Log()
    for n in range(12):
        key = f"customer:{n % 3}"
        await client.enqueue(
            {"key": key, "sleep": 0.05}, job_name="call", queue="cust", limit_key=key
        )
    pools = [await start_pool(log.handle, workers=4, queues=["cust"]) for _ in range(2)]
    await wait_until(total(pools, 12), timeout=60)
    assert log.key_peak == 1  # one job of a key at a time
    assert log.peak > 1  # keys side by side


async def test_a_pool_blocked_by_a_limit_serves_its_other_queues(
    client: Client, start_pool: Any
) -> None:
    await client.set_limit("api", concurrency=1)
    log = Log()
    for n in range(3):
        await client.enqueue({"sleep": 1.0, "n": n}, job_name="call", queue="api")
    for n in range(6):
        await client.enqueue({"sleep": 0.0, "n": n}, job_name="call")
    pool = await start_pool(log.handle, workers=4, queues=["api", "default"])
    await wait_until(processed(pool, 6), timeout=20)
    counts = await client.counts(queue="api")
    assert counts.running <= 1
    assert counts.queued >= 1  # the other api jobs wait their turn meanwhile


async def test_a_rate_limit_spreads_starts(
    client: Client, start_pool: Any, backend_name: str
) -> None:
    """20 jobs at 10 per second across 2 pools: no window of the handlers' starts holds
    more than 10 (a window shorter by a margin for the time from claim to start on a
    busy machine, and the server's clock and this process's), and they take at least
    one window."""
    await client.set_limit("api", rate=10, per=1.0)
    log = Log()
    await client.enqueue_many(
        [{"sleep": 0.0, "n": n} for n in range(20)], job_name="call", queue="api"
    )
    pools = [await start_pool(log.handle, workers=4, queues=["api"], prefetch=0) for _ in range(2)]
    await wait_until(total(pools, 20), timeout=60)
    starts = sorted(log.starts)
    print(f"\n[limits] {backend_name}: 20 starts at 10/1s over {starts[-1] - starts[0]:.2f} s")
    assert starts[-1] - starts[0] >= 0.8
    window = 1.0 - 0.2
    assert max(sum(1 for s in starts if t <= s < t + window) for t in starts) <= 10
