"""Named queues and priorities on Redis: where each job is stored, and how idle claimers
are woken (the behaviour every backend shares is in tests/conformance).

Wake-up tests stretch the claim's blocking slice far beyond the test's own timeout, so
that a claim that was not woken fails instead of finding the job when a slice ends.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis_asyncio
from redis.crc import key_slot

from tests.backends import URLS, fresh_namespace, open_backend
from tests.helpers import new_job
from wg_core.backend import Attempt, Backend, JobState
from wg_core.backends.redis import RedisBackend

RUST_ENVELOPE = (
    '{"id":"%s","job_name":"send_email","payload":{},"options":{"max_retries":3,'
    '"retry_count":0,"timeout":300000,"retry_delay":10000},"status":"Pending",'
    '"created_at":1767225600,"scheduled_at":null,"last_error":null}'
)


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[Backend]:
    async with open_backend("redis", tmp_path) as opened:
        yield opened


@pytest.fixture
async def plain(backend: Backend) -> AsyncIterator[Any]:
    client = redis_asyncio.Redis.from_url(URLS["redis"], decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def no_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    """Idle claims block for as long as they may wait: only a wake-up ends them early."""
    monkeypatch.setattr("wg_core.backends.redis.backend.BLOCK_SLICE", 3600.0)


@pytest.fixture
async def producer(backend: Backend) -> AsyncIterator[RedisBackend]:
    other = RedisBackend(URLS["redis"], backend.namespace)
    await other.open()
    yield other
    await other.close()


async def idle_claim(backend: Backend, queues: tuple[str, ...]) -> asyncio.Task[list[Attempt]]:
    """A claim that has found nothing and blocks (its slice: an hour)."""
    waiting = asyncio.create_task(
        backend.claim(limit=5, lease=30, worker_id="w", wait=3600, queues=queues)
    )
    await asyncio.sleep(0.1)
    assert not waiting.done()
    return waiting


async def test_default_at_priority_0_is_the_spec_list_and_the_rest_has_queue_keys(
    backend: Backend, plain: Any
) -> None:
    ns = backend.namespace
    plain_job, urgent, mail = new_job("a"), new_job("b", priority=5), new_job("c", queue="emails")
    await backend.enqueue([plain_job, urgent, mail])
    assert await plain.lrange(f"{ns}:jobs", 0, -1) == [plain_job.raw]
    assert await plain.zrange(f"{ns}:queue:default:prio", 0, -1) == [urgent.raw]
    assert await plain.zrange(f"{ns}:queue:emails:prio", 0, -1) == [mail.raw]
    assert await plain.hgetall(f"{ns}:placements") == {
        urgent.job_id: "default 5",
        mail.job_id: "emails 0",
    }
    later = new_job("d", queue="emails", priority=-3, delay=60)
    await backend.enqueue([later])
    assert await plain.zcard(f"{ns}:queue:emails:schedule") == 1
    assert await plain.zcard(f"{ns}:schedule") == 0
    # A job of another queue keeps its queue through retry and burial.
    [attempt] = await backend.claim(limit=1, lease=30, worker_id="w", queues=("emails",))
    assert attempt.key == mail.job_id
    assert await backend.bury(attempt, raw=mail.raw, error=None)
    assert await plain.lrange(f"{ns}:queue:emails:dead", 0, -1) == [mail.raw]
    assert await plain.llen(f"{ns}:dead") == 0
    stored = await backend.get_job(mail.job_id)
    assert stored is not None
    assert (stored.state, stored.queue, stored.priority) == (JobState.DEAD, "emails", 0)


async def test_a_rust_producers_lpush_is_default_at_priority_0(
    backend: Backend, plain: Any
) -> None:
    job_id = str(uuid.uuid4())
    await backend.enqueue([new_job("low", priority=-1), new_job("high", priority=1)])
    await plain.lpush(f"{backend.namespace}:jobs", RUST_ENVELOPE % job_id)
    attempts = await backend.claim(limit=3, lease=30, worker_id="w")
    assert [a.raw == RUST_ENVELOPE % job_id for a in attempts] == [False, True, False]
    assert await backend.complete(attempts) == 3


async def test_with_the_hash_tag_every_queue_key_is_in_the_namespace_slot(
    tmp_path: Path, plain: Any
) -> None:
    ns = fresh_namespace()
    async with open_backend("redis", tmp_path, namespace=ns, hash_tag=True) as backend:
        await backend.enqueue([new_job(queue="emails", priority=2), new_job(queue="sms")])
        await backend.enqueue([new_job(queue="emails", delay=60)])
        await backend.set_paused(True, queue="sms")
        keys = [key async for key in plain.scan_iter(match=f"{{{ns}}}:*")]
        assert any(":queue:emails:" in key for key in keys)
        assert {key_slot(key.encode()) for key in keys} == {key_slot(ns.encode())}


async def test_an_idle_default_claimer_is_woken_by_another_priority(
    backend: Backend, producer: RedisBackend, no_slices: None
) -> None:
    waiting = await idle_claim(backend, ("default",))
    job = new_job(priority=7)
    await producer.enqueue([job])
    attempts = await asyncio.wait_for(waiting, 10)
    assert [a.key for a in attempts] == [job.job_id]
    await backend.complete(attempts)


async def test_an_idle_claimer_of_other_queues_is_woken_by_each_of_them(
    backend: Backend, producer: RedisBackend, no_slices: None
) -> None:
    for queue, priority in (("emails", 0), ("sms", -4), ("emails", 3)):
        waiting = await idle_claim(backend, ("emails", "sms"))
        job = new_job(queue=queue, priority=priority)
        await producer.enqueue([job])
        attempts = await asyncio.wait_for(waiting, 10)
        assert [a.key for a in attempts] == [job.job_id]
        await backend.complete(attempts)


async def test_an_idle_claimer_of_several_queues_is_woken_by_a_rust_lpush(
    backend: Backend, plain: Any, no_slices: None
) -> None:
    waiting = await idle_claim(backend, ("emails", "default"))
    job_id = str(uuid.uuid4())
    await plain.lpush(f"{backend.namespace}:jobs", RUST_ENVELOPE % job_id)
    attempts = await asyncio.wait_for(waiting, 10)
    assert [a.key for a in attempts] == [job_id]
    await backend.complete(attempts)


async def test_idle_claimers_are_woken_by_promotion_release_and_resume(
    backend: Backend, producer: RedisBackend, plain: Any, no_slices: None
) -> None:
    ns = backend.namespace
    # Promotion: a due job of emails.
    job = new_job(queue="emails", priority=2, delay=30)
    await producer.enqueue([job])
    await plain.zadd(f"{ns}:queue:emails:schedule", {job.raw: 0})  # due now
    waiting = await idle_claim(backend, ("emails",))
    assert await producer.promote(JobState.SCHEDULED, limit=10) == 1
    [attempt] = await asyncio.wait_for(waiting, 10)
    # Release: back at the front of emails at priority 2.
    waiting = await idle_claim(backend, ("sms", "emails"))
    assert await producer.release([attempt]) == 1
    [attempt] = await asyncio.wait_for(waiting, 10)
    assert attempt.key == job.job_id
    assert await backend.release([attempt]) == 1
    # Resume: a paused queue with a job is skipped; resuming it wakes the claimer.
    await producer.set_paused(True, queue="emails")
    waiting = await idle_claim(backend, ("emails",))
    await producer.set_paused(False, queue="emails")
    [attempt] = await asyncio.wait_for(waiting, 10)
    assert attempt.key == job.job_id
    await backend.complete([attempt])


async def test_a_blocked_fast_claim_puts_a_default_job_behind_an_earlier_queue(
    backend: Backend, plain: Any
) -> None:
    ns = backend.namespace
    urgent = new_job(queue="critical")
    waiting = await idle_claim(backend, ("critical", "default"))
    # Both land before the claimer wakes: the claim script takes critical's first.
    async with plain.pipeline(transaction=True) as pipe:
        pipe.zadd(f"{ns}:queue:critical:prio", {urgent.raw: 1})
        pipe.lpush(f"{ns}:jobs", RUST_ENVELOPE % "rust-1")
        await pipe.execute()
    attempts = await asyncio.wait_for(waiting, 10)
    assert [a.key for a in attempts] == [urgent.job_id, "rust-1"]
    await backend.complete(attempts)


async def test_cancelled_idle_claims_of_several_queues_strand_nothing(
    backend: Backend, producer: RedisBackend
) -> None:
    returned: list[Attempt] = []
    total = 20
    for round_ in range(total):
        while batch := await backend.claim(
            limit=100, lease=30, worker_id="w", queues=("emails", "default")
        ):
            returned.extend(batch)
        waiting = asyncio.create_task(
            backend.claim(limit=2, lease=30, worker_id="w", wait=60, queues=("emails", "default"))
        )
        await asyncio.sleep(0.02)
        await producer.enqueue([new_job(queue="emails" if round_ % 2 else "default", priority=1)])
        for _ in range(round_ % 5):
            await asyncio.sleep(0)
        waiting.cancel()
        try:
            returned.extend(await waiting)
        except asyncio.CancelledError:
            pass
    counts = await backend.counts()
    assert counts.running == len(returned)
    assert counts.queued + counts.running == total
