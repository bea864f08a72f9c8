"""Periodic entries run by pools, on every backend (issue 19): each tick enqueued exactly
once whatever number of pools run the entry, the catch-up policy after an outage, and a
real pool running an entry. The schedulers' clock is injected and stepped: no test
waits on a timer."""

from __future__ import annotations

import asyncio
import random

from tests.helpers import wait_until
from wg_core import Periodic, WorkerPool
from wg_core.backend import Backend
from wg_core.worker.periodic import PeriodicScheduler

START = 1_800_000_000.0  # a whole minute


class Clock:
    """A clock the test steps."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def scheduler(backend: Backend, clock: Clock, *entries: Periodic) -> PeriodicScheduler:
    return PeriodicScheduler(backend, entries, max_payload_bytes=65536, clock=clock)


async def test_three_pools_enqueue_each_tick_of_a_minute_once(
    backend: Backend, twin: Backend
) -> None:
    clock = Clock(START + 0.25)
    entry = Periodic({"ping": True}, every=1, name="ping", job_name="ping")
    # Three pools: two share the second connection (a pool's own is not what is tested).
    pools = [scheduler(view, clock, entry) for view in (backend, twin, twin)]
    for pool in pools:
        await pool.register()
    rng = random.Random(19)
    fired: list[tuple[str, float]] = []
    while clock.now < START + 60:
        clock.now += rng.uniform(0.2, 0.7)
        rng.shuffle(pools)
        for runs in await asyncio.gather(*(pool.run_once() for pool in pools)):
            fired.extend(runs)
    ticks = [tick for _, tick in fired]
    assert len(ticks) == len(set(ticks))  # none twice
    assert 59 <= len(ticks) <= 61
    assert (await backend.counts()).queued == len(ticks)
    [info] = await backend.periodic_entries()
    assert info.last_tick == max(ticks)
    assert info.next_run == max(ticks) + 1


async def test_after_an_outage_catch_up_one_runs_the_latest_tick_once(backend: Backend) -> None:
    clock = Clock(START + 10)
    hourly = Periodic({}, every=60, name="minutely", job_name="tick")
    first = scheduler(backend, clock, hourly)
    await first.register()
    assert await first.run_once() == []  # registered mid-minute: the next tick is the first
    clock.now = START + 60.5
    assert await first.run_once() == [("minutely", START + 60)]
    # Every pool down for an hour; one comes back.
    clock.now = START + 3660 + 30
    restarted = scheduler(backend, clock, hourly)
    await restarted.register()
    assert await restarted.run_once() == [("minutely", START + 3660)]
    assert await restarted.run_once() == []
    assert (await backend.counts()).queued == 2


async def test_after_an_outage_catch_up_none_waits_for_the_next_tick(backend: Backend) -> None:
    clock = Clock(START + 10)
    entry = Periodic({}, every=60, name="strict", job_name="tick", catch_up="none")
    first = scheduler(backend, clock, entry)
    await first.register()
    clock.now = START + 61  # a second late: on time
    assert await first.run_once() == [("strict", START + 60)]
    clock.now = START + 3660 + 30  # the outage: the tick at +3660 is half a minute old
    restarted = scheduler(backend, clock, entry)
    await restarted.register()
    assert await restarted.run_once() == []
    clock.now = START + 3720 + 0.5
    assert await restarted.run_once() == [("strict", START + 3720)]
    assert (await backend.counts()).queued == 2


async def test_a_pool_runs_its_periodic_entries(backend: Backend) -> None:
    ran: list[dict[str, int]] = []

    async def handler(payload: dict[str, int]) -> None:
        ran.append(payload)

    entry = Periodic({"n": 1}, every=0.1, name="fast", job_name="fast")
    pool = WorkerPool(
        handlers={"fast": handler},
        backend=backend,
        periodic=[entry],
        scheduler_interval=0.02,
        fetch_timeout=0.05,
    )
    async with pool:

        async def ran_twice() -> bool:
            return len(ran) >= 2

        await wait_until(ran_twice)
    assert ran[0] == {"n": 1}
    [info] = await backend.periodic_entries()
    assert (info.name, info.schedule, info.job_name) == ("fast", "every 0.1s", "fast")
    assert info.last_job_id is not None
    assert info.last_run_at is not None
