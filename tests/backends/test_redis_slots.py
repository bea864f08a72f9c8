"""A slot per queue on Redis (``RedisQueueSlots``, ``?slots=queue``): where each queue's
keys are, which layout a namespace keeps, and what holds across queues (the namespace
pause, batches over several queues, waiting claims over several slots). The behaviour
every backend shares runs on it with ``WG_TEST_SLOTS=1`` (tests/conformance); the
spread over a cluster's masters is in test_redis_cluster.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as redis_asyncio
from redis.crc import key_slot

from tests.backends import URLS, fresh_namespace
from tests.helpers import envelope
from wg_core import backend_from_url
from wg_core.backend import LAYOUT_VERSION, Attempt, JobQuery, JobState, NewJob, PeriodicEntry
from wg_core.backends.redis import RedisBackend, RedisQueueSlots
from wg_core.errors import (
    BackendUnavailableError,
    ConfigError,
    DuplicateJobError,
    SchemaOutdatedError,
)

SLOTS_URL = URLS["redis"] + "?slots=queue"


def new_job(
    *, job_id: str, queue: str = "default", priority: int = 0, job_name: str = "job"
) -> NewJob:
    """A job with the id ``job_id`` in ``queue`` at ``priority``."""
    raw = envelope(job_name, job_id=job_id).encode()
    return NewJob(job_id=job_id, job_name=job_name, raw=raw, queue=queue, priority=priority)


@pytest.fixture
async def plain() -> AsyncIterator[Any]:
    client = redis_asyncio.Redis.from_url(URLS["redis"], decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def slots() -> AsyncIterator[RedisQueueSlots]:
    backend = backend_from_url(SLOTS_URL, fresh_namespace())
    assert isinstance(backend, RedisQueueSlots)
    await backend.open()
    try:
        yield backend
    finally:
        await backend.destroy()
        await backend.close()


@pytest.fixture
def no_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    """Idle claims block for as long as they may wait: only a wake-up ends them early."""
    monkeypatch.setattr("wg_core.backends.redis.backend.BLOCK_SLICE", 3600.0)


async def test_each_queue_keeps_every_key_in_a_slot_of_its_own(
    slots: RedisQueueSlots, plain: Any
) -> None:
    ns = slots.namespace
    await slots.enqueue([new_job(job_id="d1")])
    for queue in ("emails", "reports"):
        await slots.enqueue([new_job(job_id=f"{queue}1", queue=queue, priority=2)])
    [attempt] = await slots.claim(limit=1, lease=30, worker_id="w", queues=["emails"])
    # The queue default keeps the spec's (Rust-visible) list in the namespace slot.
    assert await plain.lrange(f"{{{ns}}}:jobs", 0, -1) != []
    for queue in ("emails", "reports"):
        mine = await plain.keys(f"{{{ns}:{queue}}}:*")
        # Its jobs and its bookkeeping: nothing of it is left in the namespace slot.
        assert f"{{{ns}:{queue}}}:queue:{queue}:prio" in mine or queue == "emails"
        assert f"{{{ns}:{queue}}}:ids" in mine
        assert await plain.keys(f"{{{ns}}}:queue:{queue}:*") == []
        assert await plain.hget(f"{{{ns}}}:ids", f"{queue}1") is None
    assert await plain.zscore(f"{{{ns}:emails}}:leases", attempt.token) is not None
    assert await plain.smembers(f"{{{ns}}}:queue_slots") == {"emails", "reports"}
    tags = {ns, f"{ns}:emails", f"{ns}:reports"}
    assert len({key_slot(tag.encode()) for tag in tags}) == 3
    assert await slots.complete([attempt]) == 1
    assert (await slots.counts()).queued == 2
    assert (await slots.counters(queue="emails")).processed == 1


async def test_a_namespace_keeps_the_layout_it_was_created_with(plain: Any) -> None:
    one_slot = fresh_namespace()
    old = RedisBackend(URLS["redis"], one_slot, hash_tag=True)
    await old.open()
    try:
        await old.enqueue([new_job(job_id="e1", queue="emails")])
        reopened = RedisQueueSlots(SLOTS_URL, one_slot)
        await reopened.open()
        try:
            # Still one slot: the job stored before is where it was, and is claimed.
            [attempt] = await reopened.claim(limit=1, lease=30, worker_id="w", queues=["emails"])
            assert attempt.key == "e1"
            await reopened.enqueue([new_job(job_id="e2", queue="emails")])
            assert await plain.keys(f"{{{one_slot}:emails}}:*") == []
            assert (await old.counts(queue="emails")).queued == 1
        finally:
            await reopened.close()
    finally:
        await old.destroy()
        await old.close()

    untagged = RedisBackend(URLS["redis"], fresh_namespace())  # a single server's default
    await untagged.open()
    try:
        beside = RedisQueueSlots(SLOTS_URL, untagged.namespace)
        with pytest.raises(ConfigError, match="without the hash tag"):
            await beside.open()
        assert await plain.exists(f"{{{untagged.namespace}}}:meta") == 0
    finally:
        await untagged.destroy()
        await untagged.close()

    per_queue = RedisQueueSlots(SLOTS_URL, fresh_namespace())
    await per_queue.open()
    try:
        assert await plain.hget(f"{{{per_queue.namespace}}}:meta", "slots") == "queue"
        refused = RedisBackend(URLS["redis"], per_queue.namespace, hash_tag=True)
        with pytest.raises(ConfigError, match="slot per queue"):
            await refused.open()
        await refused.close()
    finally:
        await per_queue.destroy()
        await per_queue.close()


def test_slots_is_an_option_of_the_url_and_of_the_constructor() -> None:
    assert isinstance(backend_from_url(URLS["redis"], "ns", slot_per_queue=True), RedisQueueSlots)
    assert isinstance(backend_from_url(URLS["redis"] + "?slots=namespace", "ns"), RedisBackend)
    with pytest.raises(ConfigError, match="slots must be queue or namespace"):
        backend_from_url(URLS["redis"] + "?slots=many", "ns")
    with pytest.raises(ConfigError, match="RedisQueueSlots"):
        RedisBackend(SLOTS_URL, "ns")


async def test_a_namespace_pause_reaches_a_queue_whose_slot_is_made_later(
    slots: RedisQueueSlots,
) -> None:
    await slots.set_paused(True)
    other = slots.clone()  # another process, making the queue's slot after the pause
    await other.open()
    try:
        await other.enqueue([new_job(job_id="n1", queue="new")])
        assert await slots.claim(limit=1, lease=30, worker_id="w", queues=["new"]) == []
        assert await other.claim(limit=1, lease=30, worker_id="w", queues=["new"]) == []
        await slots.set_paused(False)
        [attempt] = await other.claim(limit=1, lease=30, worker_id="w", queues=["new"])
        assert attempt.key == "n1"
    finally:
        await other.close()


async def test_a_batch_over_several_queues_is_all_or_nothing_per_queue(
    slots: RedisQueueSlots,
) -> None:
    await slots.enqueue([new_job(job_id="taken", queue="b")])
    batch = [
        new_job(job_id="a1", queue="a"),
        new_job(job_id="b1", queue="b"),
        new_job(job_id="a2", queue="a"),
        new_job(job_id="taken", queue="b", job_name="another"),  # not a repeated call
    ]
    with pytest.raises(DuplicateJobError, match="taken"):
        await slots.enqueue(batch)
    # The queue a's part went in (one script), the queue b's part not at all.
    assert (await slots.counts(queue="a")).queued == 2
    assert (await slots.counts(queue="b")).queued == 1
    stored = await slots.enqueue([new_job(job_id="c1", queue="c"), new_job(job_id="d1")])
    assert stored == ["c1", "d1"]


async def test_a_claim_over_several_queues_keeps_their_order(slots: RedisQueueSlots) -> None:
    await slots.enqueue(
        [new_job(job_id=f"{queue}{n}", queue=queue) for queue in ("low", "high") for n in (1, 2)]
    )
    attempts = await slots.claim(limit=3, lease=30, worker_id="w", queues=["high", "low"])
    assert [attempt.key for attempt in attempts] == ["high1", "high2", "low1"]
    assert {attempt.queue for attempt in attempts} == {"high", "low"}
    assert await slots.release(attempts) == 3
    listed = await slots.list_jobs(JobQuery(state=JobState.QUEUED, limit=10))
    assert sorted(job.job_id for job in listed) == ["high1", "high2", "low1", "low2"]
    assert await slots.get_job("low2") is not None
    assert await slots.delete_jobs(["low2", "high2"]) == 2
    assert (await slots.counts()).queued == 2


async def test_a_waiting_claim_over_several_slots_wakes_on_any(
    slots: RedisQueueSlots, no_slices: None
) -> None:
    producer = slots.clone()
    await producer.open()
    try:
        waiting: asyncio.Task[list[Attempt]] = asyncio.create_task(
            slots.claim(limit=5, lease=30, worker_id="w", wait=3600, queues=["first", "second"])
        )
        await asyncio.sleep(0.1)
        assert not waiting.done()
        await producer.enqueue([new_job(job_id="s1", queue="second")])
        [attempt] = await asyncio.wait_for(waiting, timeout=30)
        assert attempt.key == "s1"
        # The slots that were still waiting gave back nothing and leased nothing.
        assert (await slots.counts()).running == 1
    finally:
        await producer.close()


def _digest(now: float) -> PeriodicEntry:
    """An entry of queue ``reports`` due at ``now``, every minute."""
    return PeriodicEntry(
        name="digest",
        schedule="every 60s",
        job_name="job",
        template='{"options":null,"payload":{}}',
        baseline=now - 60,
        next_run=now,
        queue="reports",
    )


async def test_a_tick_of_another_queue_is_claimed_once_and_its_job_stored_in_its_slot(
    slots: RedisQueueSlots, plain: Any
) -> None:
    now = 1_800_000_000.0
    await slots.register_periodic([_digest(now)], now=now)
    job = new_job(job_id="tick1", queue="reports")
    assert await slots.fire_periodic("digest", tick=now, job=job, now=now, next_run=now + 60)
    # A repeated call (a retry after a lost reply) is the same fire, stores nothing more.
    assert await slots.fire_periodic("digest", tick=now, job=job, now=now, next_run=now + 60)
    # Another pool firing the same tick with its own job: refused, nothing stored.
    rival = new_job(job_id="tick1b", queue="reports")
    assert not await slots.fire_periodic("digest", tick=now, job=rival, now=now, next_run=None)
    assert (await slots.counts(queue="reports")).queued == 1
    assert await plain.hexists(f"{{{slots.namespace}:reports}}:ids", "tick1")
    # A job id stored already is a duplicate, and claims no tick.
    with pytest.raises(DuplicateJobError):
        await slots.fire_periodic("digest", tick=now + 60, job=job, now=now, next_run=None)
    [info] = await slots.periodic_entries()
    assert (info.last_tick, info.last_job_id) == (now, "tick1")


async def test_a_claim_cancelled_between_two_slots_gives_back_what_it_leased(
    slots: RedisQueueSlots, monkeypatch: pytest.MonkeyPatch
) -> None:
    await slots.enqueue([new_job(job_id="a1", queue="a")])
    second = await slots._writer("b")
    reached = asyncio.Event()

    async def slow_claim(**_: Any) -> list[Attempt]:
        reached.set()  # the first queue's job is leased by now
        await asyncio.sleep(3600)
        return []

    monkeypatch.setattr(second, "claim", slow_claim)
    claiming = asyncio.create_task(slots.claim(limit=5, lease=30, worker_id="w", queues=["a", "b"]))
    await asyncio.wait_for(reached.wait(), timeout=30)
    claiming.cancel()
    with pytest.raises(asyncio.CancelledError):
        await claiming
    counts = await slots.counts(queue="a")
    assert (counts.queued, counts.running) == (1, 0)


async def test_a_claimed_tick_stores_its_job_through_a_moment_its_slot_is_unreachable(
    slots: RedisQueueSlots, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = 1_800_000_000.0
    await slots.register_periodic([_digest(now)], now=now)
    reports = await slots._writer("reports")
    store = reports.enqueue
    failures = [BackendUnavailableError("the master is failing over")] * 2

    async def flaky_enqueue(jobs: Any, **options: Any) -> list[str]:
        if failures:
            raise failures.pop()
        return await store(jobs, **options)

    monkeypatch.setattr(reports, "enqueue", flaky_enqueue)
    monkeypatch.setattr("wg_core.backends.redis.slot_ticks.STORE_TICK_RETRIES", (0.0, 0.0, 0.0))
    job = new_job(job_id="tick1", queue="reports")
    assert await slots.fire_periodic("digest", tick=now, job=job, now=now, next_run=None)
    assert failures == []
    assert (await slots.get_job("tick1")) is not None


async def test_a_writers_open_upgrades_every_queues_slot(
    slots: RedisQueueSlots, plain: Any
) -> None:
    await slots.enqueue([new_job(job_id="r1", queue="reports")])
    slot_meta = f"{{{slots.namespace}:reports}}:meta"
    await plain.hset(slot_meta, "layout", str(LAYOUT_VERSION - 1))  # as an older wg left it
    reader = slots.clone()
    await reader.open(create=False)
    try:
        with pytest.raises(SchemaOutdatedError):
            await reader.counts(queue="reports")
    finally:
        await reader.close()
    writer = slots.clone()
    await writer.open()
    await writer.close()
    assert await plain.hget(slot_meta, "layout") == str(LAYOUT_VERSION)
    reader = slots.clone()
    await reader.open(create=False)
    try:
        assert (await reader.counts(queue="reports")).queued == 1
    finally:
        await reader.close()


class _Crash(Exception):
    """A pool dying between claiming a tick and storing its job."""


async def test_a_tick_whose_pool_died_before_storing_its_job_is_finished_by_a_later_fire(
    slots: RedisQueueSlots, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = 1_800_000_000.0
    await slots.register_periodic([_digest(now)], now=now)
    reports = await slots._writer("reports")

    async def crash(jobs: Any, **options: Any) -> list[str]:
        raise _Crash

    monkeypatch.setattr(reports, "enqueue", crash)
    with pytest.raises(_Crash):
        await slots.fire_periodic(
            "digest",
            tick=now,
            job=new_job(job_id="tick1", queue="reports"),
            now=now,
            next_run=now + 60,
        )
    monkeypatch.undo()
    # The tick is claimed (no pool fires it again) and its job is nowhere yet.
    assert not await slots.fire_periodic(
        "digest", tick=now, job=new_job(job_id="tick1b", queue="reports"), now=now, next_run=None
    )
    assert await slots.get_job("tick1") is None
    other = RedisQueueSlots(SLOTS_URL, slots.namespace, tick_grace=30.0)  # another pool
    await other.open()
    try:
        # Within the grace the dead pool might still be storing it: left alone.
        assert await other.fire_periodic(
            "digest",
            tick=now + 60,
            job=new_job(job_id="tick2", queue="reports"),
            now=now + 29,
            next_run=now + 120,
        )
        assert await other.get_job("tick1") is None
        # Past the grace, the next fire stores it under the id the tick recorded, once.
        assert await other.fire_periodic(
            "digest",
            tick=now + 120,
            job=new_job(job_id="tick3", queue="reports"),
            now=now + 31,
            next_run=now + 180,
        )
        stored = await other.get_job("tick1")
        assert stored is not None
        assert stored.queue == "reports"
        assert await other.fire_periodic(
            "digest",
            tick=now + 180,
            job=new_job(job_id="tick4", queue="reports"),
            now=now + 200,
            next_run=None,
        )
        ids = [
            job.job_id for job in await other.list_jobs(JobQuery(state=JobState.QUEUED, limit=100))
        ]
        assert sorted(ids) == ["tick1", "tick2", "tick3", "tick4"]
    finally:
        await other.close()


async def test_a_tick_whose_pool_died_after_storing_its_job_is_not_stored_twice(
    slots: RedisQueueSlots, plain: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = 1_800_000_000.0
    await slots.register_periodic([_digest(now)], now=now)
    transport = slots._home._transport
    command = transport.command

    async def crash_on_done(*args: Any) -> Any:
        if args[0] == "HDEL":
            raise _Crash  # the job is stored; the pool dies before marking the tick done
        return await command(*args)

    monkeypatch.setattr(transport, "command", crash_on_done)
    with pytest.raises(_Crash):
        await slots.fire_periodic(
            "digest",
            tick=now,
            job=new_job(job_id="tick1", queue="reports"),
            now=now,
            next_run=now + 60,
        )
    monkeypatch.undo()
    pending = f"{{{slots.namespace}}}:periodic_pending"
    assert await plain.hkeys(pending) == ["tick1"]
    # Still known to its queue (here: queued): finishing the record stores nothing more.
    assert await slots.fire_periodic(
        "digest",
        tick=now + 60,
        job=new_job(job_id="tick2", queue="reports"),
        now=now + 10_000,
        next_run=None,
    )
    assert await plain.hkeys(pending) == []
    assert (await slots.counts(queue="reports")).queued == 2
