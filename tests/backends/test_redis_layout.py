"""Layout versions on Redis: a namespace written by wg 1 (layout 1, main at 1f76d15),
by wg 2 (layout 2, named queues: main at 6462b55) or by the Rust wg (layout 0) is
upgraded in place to layout 3 by a writer's ``open``, and refused by a reader's.

The old namespaces are written here key by key with plain commands, in exactly the
shapes the previous code wrote (its scripts.lua): the spec's four keys, the id index,
the running attempt's three records, counters, the worker registry and ``{ns}:meta``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio as redis_asyncio

from tests.backends import URLS, fresh_namespace
from tests.helpers import new_job
from wg_core.backend import (
    LAYOUT_VERSION,
    Attempt,
    CancelOutcome,
    Completion,
    JobQuery,
    JobState,
    Move,
    Progress,
    WorkerInfo,
)
from wg_core.backends.redis import RedisBackend
from wg_core.backends.redis.keys import token_queue
from wg_core.errors import SchemaError, SchemaOutdatedError
from wg_core.queues import DEFAULT_QUEUE


@pytest.fixture
async def plain() -> AsyncIterator[Any]:
    client = redis_asyncio.Redis.from_url(URLS["redis"], decode_responses=True)
    try:
        await client.ping()
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"redis server unreachable: {exc}")
    yield client
    await client.aclose()


@dataclass
class OldNamespace:
    """What a layout-1 namespace holds, as the test wrote it."""

    namespace: str
    queued: list[str]
    scheduled: str
    retry: str
    dead: str
    running: str
    token: str
    raws: dict[str, str]


async def write_layout_1(plain: Any, ns: str, *, layout: str | None = "1") -> OldNamespace:
    """A namespace as wg 1 left it: two queued jobs, one scheduled (due), one retry
    (due), one dead, one running under a lease; 7 processed and 3 failed; one worker.
    ``layout=None`` leaves out ``{ns}:meta`` (what the Rust wg and wg before layouts
    wrote)."""
    seconds, micros = await plain.time()
    now = seconds + micros / 1_000_000
    raws: dict[str, str] = {}

    def job(name: str) -> tuple[str, str]:
        created = new_job(name)
        raws[created.job_id] = created.raw
        return created.job_id, created.raw

    queued = [job("queued-1"), job("queued-2")]
    scheduled, retry, dead, running = job("sched"), job("retry"), job("dead"), job("running")
    token = f"{seconds}{micros:06d}-1"
    async with plain.pipeline(transaction=True) as pipe:
        for job_id, raw in queued:  # LPUSH in, the oldest at the right
            pipe.lpush(f"{ns}:jobs", raw)
            pipe.hset(f"{ns}:ids", job_id, "q" + raw)
        pipe.zadd(f"{ns}:schedule", {scheduled[1]: now - 5})
        pipe.hset(f"{ns}:ids", scheduled[0], "s" + scheduled[1])
        pipe.zadd(f"{ns}:retry", {retry[1]: now - 5})
        pipe.hset(f"{ns}:ids", retry[0], "t" + retry[1])
        pipe.lpush(f"{ns}:dead", dead[1])
        pipe.hset(f"{ns}:ids", dead[0], "d" + dead[1])
        pipe.hset(f"{ns}:died", dead[0], f"{now - 60:.6f}")
        pipe.hset(f"{ns}:running", token, running[1])
        pipe.zadd(f"{ns}:leases", {token: now + 300})
        pipe.hset(f"{ns}:attempts", token, json.dumps([running[0], "old-worker", now - 1]))
        pipe.hset(f"{ns}:ids", running[0], "r" + token)
        pipe.set(f"{ns}:seq", 1)
        pipe.hset(f"{ns}:stats", mapping={"processed": 7, "failed": 3})
        document = {
            "host": "old-host",
            "pid": 42,
            "concurrency": 4,
            "running": 1,
            "started_at": now - 100,
            "state": "running",
            "job_names": ["running"],
        }
        pipe.hset(f"{ns}:workers", "old-worker", json.dumps(document))
        pipe.zadd(f"{ns}:workers_seen", {"old-worker": now})
        if layout is not None:
            pipe.hset(f"{ns}:meta", "layout", layout)
        await pipe.execute()
    return OldNamespace(
        namespace=ns,
        queued=[job_id for job_id, _ in queued],
        scheduled=scheduled[0],
        retry=retry[0],
        dead=dead[0],
        running=running[0],
        token=token,
        raws=raws,
    )


async def snapshot(plain: Any, ns: str) -> dict[str, bytes]:
    """Every key of the namespace with its serialized value."""
    keys = sorted([key async for key in plain.scan_iter(match=f"{ns}:*")])
    raw = redis_asyncio.Redis.from_url(URLS["redis"])
    try:
        return {key: await raw.dump(key) for key in keys}
    finally:
        await raw.aclose()


@pytest.fixture
async def old(plain: Any) -> AsyncIterator[OldNamespace]:
    ns = fresh_namespace()
    written = await write_layout_1(plain, ns)
    yield written
    keys = [key async for key in plain.scan_iter(match=f"{ns}:*")]
    if keys:
        await plain.delete(*keys)


async def test_a_reader_refuses_layout_1_and_writes_nothing(plain: Any, old: OldNamespace) -> None:
    before = await snapshot(plain, old.namespace)
    reader = RedisBackend(URLS["redis"], old.namespace)
    with pytest.raises(SchemaOutdatedError, match="layout 1") as refused:
        await reader.open(create=False)
    await reader.close()
    assert refused.value.found == 1
    assert await snapshot(plain, old.namespace) == before


async def test_a_writer_upgrades_layout_1_keeping_every_job_and_count(
    plain: Any, old: OldNamespace
) -> None:
    backend = RedisBackend(URLS["redis"], old.namespace)
    await backend.open()
    try:
        assert await backend.layout_version() == LAYOUT_VERSION
        assert await plain.hget(f"{old.namespace}:meta", "layout") == str(LAYOUT_VERSION)
        # Every job where it was, in default at priority 0.
        expected = {job_id: JobState.QUEUED for job_id in old.queued}
        expected |= {old.scheduled: JobState.SCHEDULED, old.retry: JobState.RETRY}
        expected |= {old.dead: JobState.DEAD, old.running: JobState.RUNNING}
        for job_id, state in expected.items():
            stored = await backend.get_job(job_id)
            assert stored is not None, job_id
            assert (stored.state, stored.raw) == (state, old.raws[job_id])
            assert (stored.queue, stored.priority) == (DEFAULT_QUEUE, 0)
        counts = await backend.counts()
        assert (counts.queued, counts.scheduled, counts.retry) == (2, 1, 1)
        assert (counts.running, counts.dead) == (1, 1)
        assert await backend.counts(queue=DEFAULT_QUEUE) == counts
        for queue in (None, DEFAULT_QUEUE):
            totals = await backend.counters(queue=queue)
            assert (totals.processed, totals.failed) == (7, 3)
        [info] = await backend.queues()
        assert (info.name, info.counts, info.paused) == (DEFAULT_QUEUE, counts, False)
        [worker] = await backend.list_workers()
        assert (worker.worker_id, worker.queues) == ("old-worker", (DEFAULT_QUEUE,))
        dead = await backend.list_jobs(JobQuery(state=JobState.DEAD, limit=10))
        assert [job.job_id for job in dead] == [old.dead]
        assert dead[0].updated_at is not None

        # Claimable in their order; the due ones promotable; the dead one requeued.
        claimed = await backend.claim(limit=10, lease=30, worker_id="new")
        assert [a.key for a in claimed] == old.queued
        assert await backend.promote(JobState.SCHEDULED, limit=10) == 1
        assert await backend.promote(JobState.RETRY, limit=10) == 1
        requeued = Move(job_id=old.dead, from_state=JobState.DEAD, raw=old.raws[old.dead])
        assert await backend.move_to_queue([requeued]) == 1
        more = await backend.claim(limit=10, lease=30, worker_id="new")
        assert [a.key for a in more] == [old.scheduled, old.retry, old.dead]
        # The attempt wg 1 leased is acknowledged under its old token.
        held = Attempt(key=old.running, token=old.token, raw=old.raws[old.running])
        assert await backend.complete([held, *claimed, *more]) == 6
        totals = await backend.counters(queue=DEFAULT_QUEUE)
        assert (totals.processed, totals.failed) == (13, 3)
        assert (await backend.counts()).total == 0
    finally:
        await backend.destroy()
        await backend.close()


async def test_an_expired_attempt_of_layout_1_is_reclaimed_in_default(
    plain: Any, old: OldNamespace
) -> None:
    await plain.zadd(f"{old.namespace}:leases", {old.token: time.time() - 10})
    backend = RedisBackend(URLS["redis"], old.namespace)
    await backend.open()
    try:
        [attempt] = await backend.reclaim_expired(limit=10, lease=30, worker_id="reaper")
        assert attempt.key == old.running
        assert await backend.release([attempt]) == 1
        assert (await backend.counts(queue=DEFAULT_QUEUE)).queued == 3
        # Released to the front of default, ahead of the jobs that were queued.
        [first] = await backend.claim(limit=1, lease=30, worker_id="new")
        assert first.key == old.running
        await backend.complete([first])
    finally:
        await backend.destroy()
        await backend.close()


async def test_concurrent_writers_upgrade_once(plain: Any, old: OldNamespace) -> None:
    openers = [RedisBackend(URLS["redis"], old.namespace) for _ in range(8)]
    try:
        await asyncio.gather(*(backend.open() for backend in openers))
        versions = await asyncio.gather(*(backend.layout_version() for backend in openers))
        assert versions == [LAYOUT_VERSION] * len(openers)
        meta = await plain.hgetall(f"{old.namespace}:meta")
        assert (meta["upgrades"], meta["upgraded_from"]) == ("1", "1")
        assert await plain.exists(f"{old.namespace}:meta_lock") == 0
        # Opening again changes nothing.
        await openers[0].open()
        assert (await plain.hgetall(f"{old.namespace}:meta"))["upgrades"] == "1"
        assert (await openers[0].counts()).total == 6
    finally:
        for backend in openers:
            await backend.close()


async def test_a_namespace_of_layout_0_is_upgraded_by_a_writer(plain: Any) -> None:
    ns = fresh_namespace()
    old = await write_layout_1(plain, ns, layout=None)
    reader = RedisBackend(URLS["redis"], ns)
    writer = RedisBackend(URLS["redis"], ns)
    try:
        with pytest.raises(SchemaOutdatedError, match="layout 0"):
            await reader.open(create=False)
        assert await plain.exists(f"{ns}:meta") == 0
        await writer.open()
        assert await writer.layout_version() == LAYOUT_VERSION
        assert (await plain.hgetall(f"{ns}:meta"))["upgraded_from"] == "0"
        claimed = await writer.claim(limit=10, lease=30, worker_id="new")
        assert [a.key for a in claimed] == old.queued
        await reader.open(create=False)
        assert (await reader.counts()).running == 3
    finally:
        await reader.close()
        await writer.destroy()
        await writer.close()


async def test_a_newer_layout_is_refused_by_readers_and_writers(plain: Any) -> None:
    ns = fresh_namespace()
    await plain.hset(f"{ns}:meta", "layout", str(LAYOUT_VERSION + 1))
    try:
        for create in (False, True):
            backend = RedisBackend(URLS["redis"], ns)
            with pytest.raises(SchemaError, match="newer") as caught:
                await backend.open(create=create)
            assert not isinstance(caught.value, SchemaOutdatedError)
            await backend.close()
        assert await plain.hget(f"{ns}:meta", "layout") == str(LAYOUT_VERSION + 1)
    finally:
        await plain.delete(f"{ns}:meta")


async def test_a_new_namespace_is_created_at_the_current_layout(plain: Any) -> None:
    ns = fresh_namespace()
    backend = RedisBackend(URLS["redis"], ns)
    await backend.open()
    try:
        assert await plain.hgetall(f"{ns}:meta") == {"layout": str(LAYOUT_VERSION)}
        await backend.enqueue([new_job(queue="emails", priority=5)])
        reader = RedisBackend(URLS["redis"], ns)
        await reader.open(create=False)
        assert [q.name for q in await reader.queues()] == [DEFAULT_QUEUE, "emails"]
        await reader.close()
    finally:
        await backend.destroy()
        await backend.close()
    assert [key async for key in plain.scan_iter(match=f"{ns}:*")] == []


def test_a_token_of_layout_1_names_the_queue_default() -> None:
    assert token_queue("1767225600123456-1") == DEFAULT_QUEUE
    assert token_queue("1767225600123456-3@emails") == "emails"


# -- layout 2 (named queues and priorities, main at 6462b55) -> 3 ---------------------------

_PRIO_UNIT = 2**42


@dataclass
class Layout2:
    """What a layout-2 namespace holds, as the test wrote it."""

    namespace: str
    default_queued: str
    emails_queued: list[str]  # in claim order: priority 5 first, then priority 0
    emails_scheduled: str
    emails_dead: str
    running_default: tuple[str, str]  # job id, token
    running_emails: tuple[str, str]
    raws: dict[str, str]


async def write_layout_2(plain: Any, ns: str) -> Layout2:
    """A namespace as wg 2's scripts (main at 6462b55) leave it: a queued job of
    default (the spec list); two queued jobs of ``emails`` at priorities 0 and 5 (its
    priority set, placements, arrival counter, wake stream), one scheduled and one dead
    there; a running attempt of each queue (the emails one with a five-field record and
    a token ending in ``@emails``, counted in running_counts); per-queue counters."""
    seconds, micros = await plain.time()
    now = seconds + micros / 1_000_000
    raws: dict[str, str] = {}

    def job(name: str) -> tuple[str, str]:
        created = new_job(name)
        raws[created.job_id] = created.raw
        return created.job_id, created.raw

    plain_job, low, high = job("plain"), job("low"), job("high")
    scheduled, dead = job("later"), job("failed")
    run_default, run_emails = job("running-default"), job("running-emails")
    q = f"{ns}:queue:emails"
    token_default = f"{seconds}{micros:06d}-1"
    token_emails = f"{seconds}{micros:06d}-2@emails"
    async with plain.pipeline(transaction=True) as pipe:
        pipe.lpush(f"{ns}:jobs", plain_job[1])
        pipe.hset(f"{ns}:ids", plain_job[0], "q" + plain_job[1])
        for arrival, (job_id, raw), priority in ((1, low, 0), (2, high, 5)):
            pipe.zadd(f"{q}:prio", {raw: -priority * _PRIO_UNIT + arrival})
            pipe.hset(f"{ns}:ids", job_id, "q" + raw)
            pipe.hset(f"{ns}:placements", job_id, f"emails {priority}")
        pipe.hset(f"{ns}:order", "back", 2)
        pipe.xadd(f"{q}:wake", {"j": "1"}, maxlen=1, approximate=False)
        pipe.sadd(f"{ns}:queues", "emails")
        pipe.zadd(f"{q}:schedule", {scheduled[1]: now + 3600})
        pipe.hset(f"{ns}:ids", scheduled[0], "s" + scheduled[1])
        pipe.hset(f"{ns}:placements", scheduled[0], "emails 0")
        pipe.lpush(f"{q}:dead", dead[1])
        pipe.hset(f"{ns}:ids", dead[0], "d" + dead[1])
        pipe.hset(f"{ns}:placements", dead[0], "emails 0")
        pipe.hset(f"{ns}:died", dead[0], f"{now - 60:.6f}")
        for (job_id, raw), token, record in (
            (run_default, token_default, [run_default[0], "old-worker", now - 1]),
            (run_emails, token_emails, [run_emails[0], "old-worker", now - 1, "emails", 2]),
        ):
            pipe.hset(f"{ns}:running", token, raw)
            pipe.zadd(f"{ns}:leases", {token: now + 300})
            pipe.hset(f"{ns}:attempts", token, json.dumps(record))
            pipe.hset(f"{ns}:ids", job_id, "r" + token)
        pipe.hset(f"{ns}:placements", run_emails[0], "emails 2")
        pipe.hset(f"{ns}:running_counts", "emails", 1)
        pipe.set(f"{ns}:seq", 2)
        pipe.hset(f"{ns}:stats", mapping={"processed": 7, "failed": 3, "processed:emails": 2})
        pipe.hset(f"{ns}:meta", mapping={"layout": "2", "upgraded_from": "1", "upgrades": "1"})
        await pipe.execute()
    return Layout2(
        namespace=ns,
        default_queued=plain_job[0],
        emails_queued=[high[0], low[0]],
        emails_scheduled=scheduled[0],
        emails_dead=dead[0],
        running_default=(run_default[0], token_default),
        running_emails=(run_emails[0], token_emails),
        raws=raws,
    )


@pytest.fixture
async def v2(plain: Any) -> AsyncIterator[Layout2]:
    ns = fresh_namespace()
    written = await write_layout_2(plain, ns)
    yield written
    keys = [key async for key in plain.scan_iter(match=f"{ns}:*")]
    if keys:
        await plain.delete(*keys)


async def test_a_reader_refuses_layout_2_and_writes_nothing(plain: Any, v2: Layout2) -> None:
    before = await snapshot(plain, v2.namespace)
    reader = RedisBackend(URLS["redis"], v2.namespace)
    with pytest.raises(SchemaOutdatedError, match="layout 2") as refused:
        await reader.open(create=False)
    await reader.close()
    assert refused.value.found == 2
    assert await snapshot(plain, v2.namespace) == before


async def test_a_writer_upgrades_layout_2_and_its_jobs_finish_in_layout_3(
    plain: Any, v2: Layout2
) -> None:
    backend = RedisBackend(URLS["redis"], v2.namespace)
    await backend.open()
    try:
        meta = await plain.hgetall(f"{v2.namespace}:meta")
        assert (meta["layout"], meta["upgraded_from"]) == (str(LAYOUT_VERSION), "2")
        counts = await backend.counts()
        assert (counts.queued, counts.scheduled, counts.running, counts.dead) == (3, 1, 2, 1)
        assert (counts.completed, counts.cancelled) == (0, 0)
        emails = await backend.counts(queue="emails")
        assert (emails.queued, emails.running) == (2, 1)
        running = await backend.get_job(v2.running_emails[0])
        assert running is not None
        assert (running.state, running.queue, running.priority) == (JobState.RUNNING, "emails", 2)
        assert not running.cancel_requested
        assert running.progress is None

        # The attempts layout 2 leased: one completes with its result kept, the other's
        # cancel is requested, reported by the heartbeat, and finished cancelled.
        job_id, token = v2.running_emails
        held = Attempt(key=job_id, token=token, raw=v2.raws[job_id], queue="emails")
        assert await backend.set_progress(held, Progress(0.9, "almost"))
        assert await backend.complete([Completion(held, result='"done"', keep=3600)]) == 1
        done = await backend.get_job(job_id)
        assert done is not None
        assert (done.state, done.result, done.queue, done.priority) == (
            JobState.COMPLETED,
            '"done"',
            "emails",
            2,
        )
        assert done.progress is not None
        assert done.progress.fraction == 0.9
        job_id, token = v2.running_default
        other = Attempt(key=job_id, token=token, raw=v2.raws[job_id])
        assert await backend.cancel(job_id, keep=3600) is CancelOutcome.REQUESTED
        worker = WorkerInfo(worker_id="old-worker", host="h", pid=1, concurrency=2)
        beat = await backend.heartbeat(worker, attempts=[other], lease=30)
        assert beat.cancelled == {token}
        assert await backend.finish_cancelled(other, keep=3600, error="cancelled")

        # Waiting jobs of layout 2 are cancelled where they are, and claimed in order.
        assert await backend.cancel(v2.emails_dead, keep=3600) is CancelOutcome.CANCELLED
        assert await backend.cancel(v2.emails_scheduled, keep=0) is CancelOutcome.CANCELLED
        claimed = await backend.claim(limit=5, lease=30, worker_id="new", queues=["emails"])
        assert [(a.key, a.queue) for a in claimed] == [(i, "emails") for i in v2.emails_queued]
        counts = await backend.counts()
        assert (counts.completed, counts.cancelled, counts.scheduled) == (1, 2, 0)
        assert (await backend.counters(queue="emails")).processed == 3
        assert (await backend.counts(queue="emails")).running == 2
        listed = await backend.list_jobs(JobQuery(state=JobState.CANCELLED, limit=10))
        assert {job.job_id for job in listed} == {v2.running_default[0], v2.emails_dead}
    finally:
        await backend.destroy()
        await backend.close()


async def test_concurrent_writers_upgrade_layout_2_once(plain: Any, v2: Layout2) -> None:
    openers = [RedisBackend(URLS["redis"], v2.namespace) for _ in range(6)]
    try:
        await asyncio.gather(*(backend.open() for backend in openers))
        meta = await plain.hgetall(f"{v2.namespace}:meta")
        assert (meta["layout"], meta["upgraded_from"], meta["upgrades"]) == (
            str(LAYOUT_VERSION),
            "2",
            "2",
        )
        assert await plain.exists(f"{v2.namespace}:meta_lock") == 0
        reader = RedisBackend(URLS["redis"], v2.namespace)
        await reader.open(create=False)
        assert (await reader.counts()).total == 7
        await reader.close()
    finally:
        for backend in openers:
            await backend.close()
