"""Periodic entries run by pools, on every backend (issue 19): each tick enqueued exactly
once whatever number of pools run the entry, services declaring different entries
losing no tick, the catch-up policy after an outage, and a real pool running an entry.
The schedulers' clock is injected and stepped: no test waits on a timer."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Any, cast

import pytest

from tests.helpers import wait_until
from wg_core import Periodic, WorkerPool
from wg_core.backend import Backend, PeriodicEntry
from wg_core.errors import BackendUnavailableError
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


class LostAtStart:
    """``backend`` whose first registration fails, as when the connection drops while a
    pool starts (every other verb passes through)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.failures = 1

    async def register_periodic(self, entries: Sequence[PeriodicEntry], *, now: float) -> None:
        if self.failures:
            self.failures -= 1
            raise BackendUnavailableError("connection lost")
        await self.backend.register_periodic(entries, now=now)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.backend, name)


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


async def test_two_services_with_different_entries_lose_no_tick(
    backend: Backend, twin: Backend
) -> None:
    # Service A declares [a], service B [b]: each start of a pool deletes the other
    # service's entry, which that service's next fire re-creates.
    clock = Clock(START + 0.25)
    declared = {
        "A": Periodic({"from": "A"}, every=1, name="a", job_name="a"),
        "B": Periodic({"from": "B"}, every=1, name="b", job_name="b"),
    }
    pools = [
        (service, view, scheduler(view, clock, declared[service]))
        for service, view in (("A", backend), ("B", twin), ("A", twin), ("B", backend))
    ]
    for _, _, pool in pools:
        await pool.register()
    rng = random.Random(20)
    fired: list[tuple[str, float]] = []
    restarts = 0
    while clock.now < START + 60:
        clock.now += rng.uniform(0.2, 0.7)
        rng.shuffle(pools)
        for runs in await asyncio.gather(*(pool.run_once() for _, _, pool in pools)):
            fired.extend(runs)
        if rng.random() < 0.25:
            # A pool restarts (between looks): it registers its service's list alone.
            service, view, _ = pools[0]
            pools[0] = (service, view, scheduler(view, clock, declared[service]))
            await pools[0][2].register()
            restarts += 1
    # One more tick, whoever registered last: its fire lists the other entry again.
    clock.now += 1
    for runs in await asyncio.gather(*(pool.run_once() for _, _, pool in pools)):
        fired.extend(runs)
    assert {info.name for info in await backend.periodic_entries()} == {"a", "b"}
    assert restarts >= 10
    assert len(fired) == len(set(fired))  # none twice
    for name in ("a", "b"):
        ticks = sorted(tick for fired_name, tick in fired if fired_name == name)
        # Every second of the minute, none skipped.
        assert ticks == [START + second for second in range(1, len(ticks) + 1)]
        assert 60 <= len(ticks) <= 61
    assert (await backend.counts()).queued == len(fired)


async def test_an_entry_no_pool_declares_is_deleted_and_stays_deleted(
    backend: Backend, twin: Backend
) -> None:
    clock = Clock(START + 0.5)
    old = Periodic({}, every=1, name="old", job_name="old")
    kept = Periodic({}, every=1, name="kept", job_name="kept")
    retired = scheduler(backend, clock, old, kept)
    await retired.register()
    clock.now += 1
    assert len(await retired.run_once()) == 2
    # The new code drops "old"; the last pool of the old code has stopped.
    current = scheduler(twin, clock, kept)
    await current.register()
    for _ in range(5):
        clock.now += 1
        assert [name for name, _ in await current.run_once()] == ["kept"]
    assert [info.name for info in await backend.periodic_entries()] == ["kept"]


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


async def test_a_registration_retried_after_a_tick_still_runs_that_tick(backend: Backend) -> None:
    # The pool starts half a second before a tick; its registration fails and the retry
    # (the scheduler's next look) comes after the tick. The entry counts from the start:
    # the tick at +1 is the new entry's first run, not skipped as one from before it.
    clock = Clock(START + 0.5)
    entry = Periodic({}, every=1, name="ping", job_name="ping")
    pool = scheduler(cast(Backend, LostAtStart(backend)), clock, entry)
    with pytest.raises(BackendUnavailableError):
        await pool.register()
    clock.now = START + 1.5
    await pool.register()
    assert await pool.run_once() == [("ping", START + 1)]
    clock.now = START + 2.1
    assert await pool.run_once() == [("ping", START + 2)]
    assert (await backend.counts()).queued == 2


async def test_start_registers_and_a_failed_start_is_retried_by_the_loop(
    backend: Backend,
) -> None:
    clock = Clock(START + 0.5)
    entry = Periodic({}, every=1, name="ping", job_name="ping")
    flaky = scheduler(cast(Backend, LostAtStart(backend)), clock, entry)
    await flaky.start()  # logged, not raised: the pool starts all the same
    assert not flaky.registered
    assert await backend.periodic_entries() == []
    clock.now = START + 1.5
    looking = asyncio.create_task(flaky.run())
    try:

        async def ran() -> bool:
            return (await backend.counts()).queued == 1

        await wait_until(ran)
    finally:
        looking.cancel()
        await asyncio.gather(looking, return_exceptions=True)
    [info] = await backend.periodic_entries()
    assert info.last_tick == START + 1  # counted from the start, not from the retry
    steady = scheduler(backend, clock, entry)
    await steady.start()
    assert steady.registered


async def test_a_started_pool_lists_its_entries_before_their_first_tick(backend: Backend) -> None:
    daily = Periodic({}, every=86400, name="daily", job_name="digest")
    hourly = Periodic({}, every=3600, name="hourly", job_name="ping")
    pool = WorkerPool(
        handlers={"digest": _nothing, "ping": _nothing},
        backend=backend,
        periodic=[daily, hourly],
        fetch_timeout=0.05,
    )
    await pool.start()
    try:
        # Nothing awaited since start() returned: only what start() itself did counts.
        listed = await backend.periodic_entries()
    finally:
        pool.shutdown()
        await pool.wait_closed()
    assert [(info.name, info.schedule) for info in listed] == [
        ("daily", "every 86400s"),
        ("hourly", "every 3600s"),
    ]
    assert all(info.last_job_id is None and info.next_run is not None for info in listed)


async def _nothing(payload: object) -> None:
    return None
