"""MySQL/MariaDB: the poller finds other processes' jobs for waiting claimers and
claims for them (on its own connection), handing them the attempts. The guarantees a
user relies on: the claim's limit holds, no job goes to two claimers, attempts whose
claimer left meanwhile (cancelled) are released at once, not stranded until their lease
expires, a paused queue (or one held back by its limit) sets off no claims, a slot freed
in another process wakes a claimer held back by a limit, and nothing polls while no
claimer waits.
Runs against the local server; another backend instance stands for another process.
The poller's claim is held in flight from the server's side (a table lock), and what
the poller does is seen there too (the process list)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.backends import open_backend
from tests.backends.mysql_admin import admin_connection, sql
from tests.helpers import new_job, wait_until
from wg_core.backend import Attempt, QueueLimit

pytest.importorskip("pymysql")

from wg_core.backends.mysql import MySqlBackend

# The waiting side polls at least every 10 ms, so that the tests' short waits hold on
# a busy machine (the back-off itself is tested below with its own settings).
FAST_POLL = {"max_poll_interval": 0.01}


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[MySqlBackend]:
    async with open_backend("mysql", tmp_path, **FAST_POLL) as opened:
        assert isinstance(opened, MySqlBackend)
        yield opened


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[MySqlBackend, MySqlBackend]]:
    """A waiting side and a producing side (another process) on one namespace."""
    async with open_backend("mysql", tmp_path, **FAST_POLL) as waiting:
        assert isinstance(waiting, MySqlBackend)
        async with open_backend("mysql", tmp_path, namespace=waiting.namespace) as other:
            assert isinstance(other, MySqlBackend)
            yield waiting, other


@pytest.fixture
def admin() -> Iterator[Any]:
    with admin_connection() as connection:
        yield connection


def _states(admin: Any, backend: MySqlBackend) -> list[tuple[str, float, str]]:
    """(command, milliseconds in it, state) of each of the backend's connections."""
    ids = backend.connection_ids()
    rows = sql(
        admin,
        "SELECT COMMAND, TIME_MS, COALESCE(STATE, '') FROM information_schema.PROCESSLIST"
        " WHERE ID IN %s",
        ids,
    )
    return [(str(command), float(ms), str(state)) for command, ms, state in rows]


@contextmanager
def claims_held(admin: Any, namespace: str) -> Iterator[None]:
    """Hold every locking claim on the namespace's jobs until the block ends: a READ
    table lock lets plain reads through (the poller's probe) but makes ``SELECT … FOR
    UPDATE`` wait for its metadata lock."""
    sql(admin, f"LOCK TABLES `{namespace}_jobs` READ")
    try:
        yield
    finally:
        sql(admin, "UNLOCK TABLES")


async def _poller_claim_held(admin: Any, backend: MySqlBackend) -> None:
    async def waiting_on_the_lock() -> bool:
        return any("metadata lock" in state for _, _, state in _states(admin, backend))

    await wait_until(waiting_on_the_lock, timeout=10)


async def _waiting(backend: MySqlBackend, **claim: Any) -> asyncio.Task[list[Attempt]]:
    task = asyncio.create_task(backend.claim(lease=30, worker_id="w", **claim))
    await asyncio.sleep(0.05)  # it looked, found nothing, and waits for the poller
    assert not task.done()
    return task


async def test_the_poller_claims_for_the_waiting_claimer_within_its_limit(
    pair: tuple[MySqlBackend, MySqlBackend],
) -> None:
    waiting, other = pair
    task = await _waiting(waiting, limit=2, wait=30)
    jobs = [new_job(payload={"n": n}) for n in range(5)]
    await other.enqueue(jobs)  # one transaction: all five become visible at once
    attempts = await asyncio.wait_for(task, 10)
    assert [a.raw for a in attempts] == [jobs[0].raw, jobs[1].raw]  # oldest first, 2 only
    counts = await waiting.counts()
    assert (counts.queued, counts.running) == (3, 2)


async def test_two_waiting_claimers_never_share_a_job(
    pair: tuple[MySqlBackend, MySqlBackend],
) -> None:
    waiting, other = pair
    first = await _waiting(waiting, limit=1, wait=30)
    second = await _waiting(waiting, limit=1, wait=30)
    jobs = [new_job(payload={"n": n}) for n in range(2)]
    await other.enqueue(jobs)
    got = [*await asyncio.wait_for(first, 10), *await asyncio.wait_for(second, 10)]
    assert sorted(a.raw for a in got) == sorted(j.raw for j in jobs)
    assert len({a.key for a in got}) == 2


async def test_a_claim_for_a_claimer_cancelled_meanwhile_is_released_at_once(
    pair: tuple[MySqlBackend, MySqlBackend], admin: Any
) -> None:
    waiting, other = pair
    await other.set_paused(True)  # the job waits unseen until the claim is held
    job = new_job()
    await other.enqueue([job])
    task = await _waiting(waiting, limit=1, wait=30)
    with claims_held(admin, waiting.namespace):
        await other.set_paused(False)  # another process resumes: no local wake-up
        await _poller_claim_held(admin, waiting)  # the poller claims for the claimer
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    # Its claim lands after the claimer left.

    async def back_in_the_queue() -> bool:
        counts = await waiting.counts()
        return (counts.queued, counts.running) == (1, 0)

    await wait_until(back_in_the_queue, timeout=5)  # not after the 30 s lease
    (attempt,) = await waiting.claim(limit=5, lease=30, worker_id="w2", wait=5)
    assert attempt.raw == job.raw
    assert await waiting.complete([attempt]) == 1
    assert (await waiting.counts()).running == 0


async def test_a_claimer_whose_wait_ends_during_the_pollers_claim_gets_its_jobs(
    pair: tuple[MySqlBackend, MySqlBackend], admin: Any
) -> None:
    waiting, other = pair
    await other.set_paused(True)
    job = new_job()
    await other.enqueue([job])
    task = await _waiting(waiting, limit=1, wait=0.3)
    with claims_held(admin, waiting.namespace):
        await other.set_paused(False)
        await _poller_claim_held(admin, waiting)
        await asyncio.sleep(0.4)  # the claimer's wait is over while the claim is in flight
        assert not task.done()
    (attempt,) = await asyncio.wait_for(task, 10)
    assert attempt.raw == job.raw
    assert await waiting.complete([attempt]) == 1


async def test_the_poller_does_not_claim_from_a_paused_queue(
    pair: tuple[MySqlBackend, MySqlBackend],
) -> None:
    waiting, other = pair
    await other.set_paused(True)
    task = await _waiting(waiting, limit=1, wait=0.3)
    await other.enqueue([new_job()])
    assert await asyncio.wait_for(task, 10) == []
    counts = await waiting.counts()
    assert (counts.queued, counts.running) == (1, 0)


async def test_an_idle_claimer_is_woken_by_a_local_enqueue_and_by_polling(
    backend: MySqlBackend, tmp_path: Path
) -> None:
    waiter = asyncio.create_task(backend.claim(limit=1, lease=30, worker_id="w", wait=60))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    local = new_job()
    await backend.enqueue([local])
    assert [a.raw for a in await asyncio.wait_for(waiter, 10)] == [local.raw]

    # Another process's enqueue (another backend instance here) is found by polling,
    # which is still fast right after jobs flowed.
    async with open_backend("mysql", tmp_path, namespace=backend.namespace) as other:
        waiter = asyncio.create_task(backend.claim(limit=1, lease=30, worker_id="w", wait=60))
        await asyncio.sleep(0.05)
        remote = new_job()
        await other.enqueue([remote])
        assert [a.raw for a in await asyncio.wait_for(waiter, 10)] == [remote.raw]


async def test_a_paused_queue_with_jobs_does_not_set_off_claim_after_claim(
    backend: MySqlBackend, tmp_path: Path
) -> None:
    # The poller's probe sees the pause flag: a waiting claimer is not woken for jobs it
    # may not take (each wake-up would be a whole locking claim, every poll interval).
    await backend.enqueue([new_job() for _ in range(3)])
    await backend.set_paused(True)
    claims = 0
    claim_now = backend._claim_now

    async def counting(
        limit: int, lease: float, worker_id: str, queues: tuple[str, ...]
    ) -> list[Attempt]:
        nonlocal claims
        claims += 1
        return await claim_now(limit, lease, worker_id, queues)

    backend._claim_now = counting  # type: ignore[method-assign]
    assert await backend.claim(limit=1, lease=30, worker_id="w", wait=0.3) == []
    assert claims <= 2  # the first look, and at most one at the deadline's edge
    async with open_backend("mysql", tmp_path, namespace=backend.namespace) as other:
        # Resumed by another process: the poller finds the jobs (no local wake-up).
        await other.set_paused(False)
        assert len(await backend.claim(limit=3, lease=30, worker_id="w", wait=10)) == 3


async def test_an_idle_claimer_finds_another_process_job_by_the_backed_off_poll(
    tmp_path: Path,
) -> None:
    # idle_after=0: polling backs off at once, to max_poll_interval (short here): the
    # remote job is found by the poller long before the claim's own 60 s wait ends.
    async with open_backend(
        "mysql", tmp_path, min_poll_interval=0.001, idle_after=0, max_poll_interval=0.05
    ) as waiting:
        assert isinstance(waiting, MySqlBackend)
        async with open_backend("mysql", tmp_path, namespace=waiting.namespace) as other:
            waiter = asyncio.create_task(waiting.claim(limit=1, lease=30, worker_id="w", wait=60))
            await asyncio.sleep(0.3)  # long enough to have backed off to the cap
            assert not waiter.done()
            remote = new_job()
            await other.enqueue([remote])
            assert [a.raw for a in await asyncio.wait_for(waiter, 10)] == [remote.raw]


async def test_the_poller_stops_when_no_claimer_waits(backend: MySqlBackend, admin: Any) -> None:
    # A worker whose slots are all busy does not poll: the poller runs only while a
    # claim waits. Seen from the server: the poller's connection appears while a claim
    # waits, then none of the backend's connections runs anything any more (a running
    # poller would probe every 10 ms here).
    pooled = len(backend.connection_ids())
    task = asyncio.create_task(backend.claim(limit=1, lease=30, worker_id="w", wait=0.3))

    async def polling() -> bool:  # the poller's connection, opened by its first probe
        return len(backend.connection_ids()) == pooled + 1

    await wait_until(polling, timeout=10)
    assert await task == []

    async def all_idle() -> bool:
        states = _states(admin, backend)
        return bool(states) and all(cmd == "Sleep" and ms >= 300 for cmd, ms, _ in states)

    await wait_until(all_idle, timeout=10)


async def test_a_queue_held_back_by_its_limit_sets_off_no_claims_until_a_slot_frees(
    pair: tuple[MySqlBackend, MySqlBackend],
) -> None:
    # Jobs wait in a limited queue whose slot is taken: the poller sees them, but wakes
    # the claimer only when the queue's running jobs change (each wake-up is a whole
    # limited claim, every poll interval); a slot freed by another process then wakes
    # it at once, long before its own wait ends.
    waiting, other = pair
    await other.set_limit(QueueLimit(queue="api", concurrency=1))
    await other.enqueue([new_job(queue="api") for _ in range(3)])
    [running] = await other.claim(limit=1, lease=30, worker_id="o", queues=["api"])
    claims = 0
    claim_limited = waiting._claim_limited

    async def counting(*args: Any, **kwargs: Any) -> list[Attempt]:
        nonlocal claims
        claims += 1
        return await claim_limited(*args, **kwargs)

    waiting._claim_limited = counting  # type: ignore[method-assign]
    assert await waiting.claim(limit=1, lease=30, worker_id="w", queues=["api"], wait=0.3) == []
    assert claims <= 3  # the first look, the poller's first mark, the deadline's edge
    waiter = asyncio.create_task(
        waiting.claim(limit=1, lease=30, worker_id="w", queues=["api"], wait=60)
    )
    await asyncio.sleep(0.1)
    assert not waiter.done()
    await other.complete([running])
    assert len(await asyncio.wait_for(waiter, 10)) == 1


async def test_a_claimer_of_an_empty_limited_queue_finds_another_process_job(
    pair: tuple[MySqlBackend, MySqlBackend],
) -> None:
    # Jobs coming into an empty limited queue are not "found" (only the limited claim
    # may take them): the poller's mark notes that the queue now holds jobs.
    waiting, other = pair
    await other.set_limit(QueueLimit(queue="api", concurrency=2))
    # The poller is up (its connection open) and has seen the queue empty.
    assert await waiting.claim(limit=1, lease=30, worker_id="w", queues=["api"], wait=0.5) == []
    waiter = asyncio.create_task(
        waiting.claim(limit=1, lease=30, worker_id="w", queues=["api"], wait=60)
    )
    await asyncio.sleep(0.1)
    assert not waiter.done()
    await other.enqueue([new_job(queue="api")])
    assert len(await asyncio.wait_for(waiter, 10)) == 1
