"""MySQL/MariaDB: the poller claims for a waiting claimer (on its own connection) and
hands it the attempts. The guarantees a user relies on: the claim's limit holds, no
job goes to two claimers, and attempts whose claimer left meanwhile (cancelled) are
released at once, not stranded until their lease expires. Runs against the local
server; another backend instance stands for another process."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.backends import open_backend
from tests.helpers import new_job, wait_until
from wg_core.backend import Attempt

pytest.importorskip("pymysql")

from wg_core.backends.mysql import MySqlBackend


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[MySqlBackend, MySqlBackend]]:
    """A waiting side and a producing side (another process) on one namespace."""
    async with open_backend("mysql", tmp_path) as waiting:
        assert isinstance(waiting, MySqlBackend)
        async with open_backend("mysql", tmp_path, namespace=waiting.namespace) as other:
            assert isinstance(other, MySqlBackend)
            yield waiting, other


class _Gate:
    """Holds the poller's claim (on the poller's thread) until the test lets it go."""

    def __init__(self, backend: MySqlBackend) -> None:
        self.entered = threading.Event()
        self.proceed = threading.Event()
        self.armed = False
        claim_on = backend._claim_on

        def gated(connection: Any, limit: int, lease: float, worker_id: str) -> list[Attempt]:
            if self.armed and threading.current_thread().name == "wg-mysql-poller":
                self.entered.set()
                self.proceed.wait(10)
            return claim_on(connection, limit, lease, worker_id)

        backend._claim_on = gated  # type: ignore[method-assign]

    async def reached(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, 10), "the poller never claimed"


async def _waiting(backend: MySqlBackend, **claim: Any) -> asyncio.Task[list[Attempt]]:
    task = asyncio.create_task(backend.claim(lease=30, worker_id="w", **claim))
    await asyncio.sleep(0.05)  # it looked, found nothing, and waits for the poller
    assert not task.done()
    return task


async def test_the_poller_claims_for_the_waiting_claimer_within_its_limit(
    pair: tuple[MySqlBackend, MySqlBackend],
) -> None:
    waiting, other = pair
    own_claims = 0
    claim_now = waiting._claim_now

    async def counting(limit: int, lease: float, worker_id: str) -> list[Attempt]:
        nonlocal own_claims
        own_claims += 1
        return await claim_now(limit, lease, worker_id)

    waiting._claim_now = counting  # type: ignore[method-assign]
    task = await _waiting(waiting, limit=2, wait=30)
    jobs = [new_job(payload={"n": n}) for n in range(5)]
    await other.enqueue(jobs)  # one transaction: all five become visible at once
    attempts = await asyncio.wait_for(task, 10)
    assert [a.raw for a in attempts] == [jobs[0].raw, jobs[1].raw]  # oldest first, 2 only
    assert own_claims == 1  # its first look; the poller claimed the rest for it
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
    pair: tuple[MySqlBackend, MySqlBackend],
) -> None:
    waiting, other = pair
    gate = _Gate(waiting)
    task = await _waiting(waiting, limit=1, wait=30)
    gate.armed = True
    job = new_job()
    await other.enqueue([job])
    await gate.reached()  # the poller is about to claim for the waiting claimer
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    gate.proceed.set()  # its claim lands after the claimer left

    async def back_in_the_queue() -> bool:
        counts = await waiting.counts()
        return (counts.queued, counts.running) == (1, 0)

    await wait_until(back_in_the_queue, timeout=5)  # not after the 30 s lease
    gate.armed = False
    (attempt,) = await waiting.claim(limit=5, lease=30, worker_id="w2", wait=5)
    assert attempt.raw == job.raw
    assert await waiting.complete([attempt]) == 1
    assert (await waiting.counts()).running == 0


async def test_a_claimer_whose_wait_ends_during_the_pollers_claim_gets_its_jobs(
    pair: tuple[MySqlBackend, MySqlBackend],
) -> None:
    waiting, other = pair
    gate = _Gate(waiting)
    task = await _waiting(waiting, limit=1, wait=0.3)
    gate.armed = True
    job = new_job()
    await other.enqueue([job])
    await gate.reached()
    await asyncio.sleep(0.4)  # the claimer's wait is over while the claim is in flight
    gate.proceed.set()
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
