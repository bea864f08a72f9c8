"""Finished jobs on Redis (issue 18): where they are stored, what the hot path writes,
and the pub/sub signals (the behaviour every backend shares is in tests/conformance).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis_asyncio

from tests.backends import URLS, open_backend
from tests.helpers import new_job, start_job
from wg_core.backend import (
    Backend,
    CancelOutcome,
    Completion,
    JobQuery,
    JobState,
    Move,
    NewJob,
    Progress,
)
from wg_core.backends.redis import RedisBackend

KEEP = 3600.0
SPEC_KEYS = ("jobs", "schedule", "retry", "dead")


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
async def twin(backend: Backend) -> AsyncIterator[RedisBackend]:
    other = RedisBackend(URLS["redis"], backend.namespace)
    await other.open()
    yield other
    await other.close()


async def keys_of(plain: Any, ns: str) -> set[str]:
    return {key async for key in plain.scan_iter(match=f"{ns}:*")}


async def spec_text(plain: Any, ns: str) -> str:
    """Everything the Rust wg's four keys hold, as one text."""
    parts = [*await plain.lrange(f"{ns}:jobs", 0, -1), *await plain.lrange(f"{ns}:dead", 0, -1)]
    parts += await plain.zrange(f"{ns}:schedule", 0, -1)
    parts += await plain.zrange(f"{ns}:retry", 0, -1)
    return "\n".join(parts)


async def test_finished_jobs_live_in_wgs_own_keys_and_leave_with_prune(
    backend: Backend, plain: Any
) -> None:
    ns = backend.namespace
    done, attempt = await start_job(backend)
    assert await backend.complete([Completion(attempt, result='{"n":1}', keep=0.2)])
    waiting = new_job(queue="emails", priority=3)
    await backend.enqueue([waiting])
    assert await backend.cancel(waiting.job_id, keep=0.2) is CancelOutcome.CANCELLED
    text = await spec_text(plain, ns)
    assert done.job_id not in text
    assert waiting.job_id not in text
    record = await plain.hget(f"{ns}:finished", done.job_id)
    header, _, rest = record.partition("\n")
    assert rest == '{"n":1}' + done.raw  # the result, then the envelope as it ran, verbatim
    assert json.loads(header)["state"] == "completed"
    assert json.loads(header)["result_bytes"] == len('{"n":1}')
    assert await plain.hget(f"{ns}:ids", done.job_id) == "c"
    assert await plain.zrange(f"{ns}:queue:default:completed", 0, -1) == [done.job_id]
    assert await plain.zrange(f"{ns}:queue:emails:cancelled", 0, -1) == [waiting.job_id]
    assert await plain.zcard(f"{ns}:expiry") == 2

    await asyncio.sleep(0.3)
    assert await backend.prune(limit=10) == 2
    left = await keys_of(plain, ns)
    finished = {"finished", "expiry", "placements", "queue:default:completed"}
    finished |= {"queue:emails:cancelled"}
    assert not left & {f"{ns}:{name}" for name in finished}
    assert await plain.hlen(f"{ns}:ids") == 0


async def test_keep_zero_writes_nothing_of_layout_3(backend: Backend, plain: Any) -> None:
    ns = backend.namespace
    messages: list[Any] = []
    pubsub = plain.pubsub()
    await pubsub.subscribe(f"{ns}:signal:finished")
    try:
        _, first = await start_job(backend)
        _, second = await start_job(backend)
        assert await backend.complete([first, Completion(second, result="1", keep=0)]) == 2
        await asyncio.sleep(0.1)
        while (message := await pubsub.get_message(ignore_subscribe_messages=True)) is not None:
            messages.append(message)
    finally:
        await pubsub.aclose()
    assert messages == []  # no PUBLISH on the path that keeps nothing
    left = await keys_of(plain, ns)
    assert not left & {f"{ns}:finished", f"{ns}:expiry", f"{ns}:queue:default:completed"}
    assert (await backend.counters()).processed == 2


async def test_a_kept_batch_is_announced_in_one_message(backend: Backend, plain: Any) -> None:
    ns = backend.namespace
    pubsub = plain.pubsub()
    await pubsub.subscribe(f"{ns}:signal:finished")
    try:
        started = [await start_job(backend) for _ in range(3)]
        kept = [Completion(attempt, result=None, keep=KEEP) for _, attempt in started]
        assert await backend.complete(kept) == 3
        message = None
        for _ in range(50):
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if message is not None:
                break
    finally:
        await pubsub.aclose()
    assert message is not None
    assert sorted(json.loads(message["data"])) == sorted(job.job_id for job, _ in started)


async def test_a_cancel_request_made_between_waits_is_reported_at_the_next(
    backend: Backend, twin: RedisBackend
) -> None:
    job, attempt = await start_job(backend)
    assert not await twin.wait_cancel_request(timeout=0.05)  # subscribes
    assert await backend.cancel(job.job_id, keep=KEEP) is CancelOutcome.REQUESTED
    await asyncio.sleep(0.1)
    assert await asyncio.wait_for(twin.wait_cancel_request(timeout=30), 5)
    assert not await twin.wait_cancel_request(timeout=0.05)  # reported once
    assert await backend.finish_cancelled(attempt, keep=KEEP, error="cancelled")


async def test_cancel_takes_a_job_back_from_a_blocking_claims_list(
    backend: Backend, plain: Any
) -> None:
    ns = backend.namespace
    job = new_job()
    await backend.enqueue([job])
    # As a blocking claim's BLMOVE leaves it, before its claim script runs.
    claiming = f"{ns}:claiming:w:test.0"
    await plain.zadd(f"{ns}:claimers", {claiming: 9e9})
    assert await plain.lmove(f"{ns}:jobs", claiming, "RIGHT", "LEFT") == job.raw
    assert await backend.cancel(job.job_id, keep=KEEP) is CancelOutcome.CANCELLED
    assert await plain.llen(claiming) == 0
    stored = await backend.get_job(job.job_id)
    assert stored is not None
    assert stored.state is JobState.CANCELLED
    assert await backend.claim(limit=1, lease=30, worker_id="w") == []


async def test_text_with_newlines_is_kept_exactly(backend: Backend) -> None:
    raw = 'not an envelope\nwith "lines"\n\u00e9\n'
    job = NewJob(job_id="odd-one", job_name="odd", raw=raw)
    await backend.enqueue([job])
    assert await backend.cancel("odd-one", keep=KEEP) is CancelOutcome.CANCELLED
    stored = await backend.get_job("odd-one")
    assert stored is not None
    assert (stored.state, stored.raw) == (JobState.CANCELLED, raw)
    [listed] = await backend.list_jobs(JobQuery(state=JobState.CANCELLED, limit=10))
    assert (listed.job_id, listed.raw) == ("odd-one", raw)


async def test_a_completed_job_of_a_queue_keeps_its_place_and_progress(
    backend: Backend, plain: Any
) -> None:
    job, attempt = await start_job(backend, new_job(queue="emails", priority=-4))
    assert await backend.set_progress(attempt, Progress(0.5, "half"))
    result = '["\u00e9t\u00e9 \u2600", 2]'  # bytes and characters differ in number
    assert await backend.complete([Completion(attempt, result=result, keep=KEEP)]) == 1
    stored = await backend.get_job(job.job_id)
    assert stored is not None
    assert (stored.queue, stored.priority, stored.result) == ("emails", -4, result)
    assert stored.progress is not None
    assert stored.progress.message == "half"
    assert stored.started_at is not None
    assert stored.finished_at is not None
    assert stored.started_at <= stored.finished_at
    counts = await backend.counts(queue="emails")
    assert (counts.completed, (await backend.counts(queue="default")).completed) == (1, 0)
    assert (await backend.counters(queue="emails")).processed == 1
    # Run again: back to its queue at its priority, the record gone.
    assert await backend.move_to_queue([Move(job.job_id, JobState.COMPLETED, job.raw)]) == 1
    assert await plain.hexists(f"{backend.namespace}:finished", job.job_id) == 0
    [again] = await backend.claim(limit=1, lease=30, worker_id="w", queues=["emails"])
    assert again.key == job.job_id
    assert again.queue == "emails"
    assert (await backend.get_job(job.job_id)).priority == -4  # type: ignore[union-attr]


async def test_the_hash_tag_names_every_finished_key_in_the_slot(plain: Any) -> None:
    backend = RedisBackend(URLS["redis"], "tagged" + new_job().job_id[:8], hash_tag=True)
    await backend.open()
    try:
        tag = f"{{{backend.namespace}}}"
        _, attempt = await start_job(backend, new_job(queue="emails"))
        assert await backend.complete([Completion(attempt, result="1", keep=0.1)]) == 1
        queued = new_job()
        await backend.enqueue([queued])
        assert await backend.cancel(queued.job_id, keep=KEEP) is CancelOutcome.CANCELLED
        names = await keys_of(plain, tag)
        assert f"{tag}:finished" in names
        assert f"{tag}:queue:emails:completed" in names
        assert not [key async for key in plain.scan_iter(match=f"{backend.namespace}:*")]
        await asyncio.sleep(0.2)
        assert await backend.prune(limit=10) == 1
        assert await backend.purge(JobState.CANCELLED) == 1
    finally:
        await backend.destroy()
        await backend.close()
