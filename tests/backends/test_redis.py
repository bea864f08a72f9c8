"""RedisBackend specifics, checked against real Redis servers.

Most tests use the shared server (127.0.0.1:6379) under a fresh namespace, and look at
the keys with plain redis commands, not through wg. Tests that flush scripts, kill
connections or restart the server run a private ``redis-server`` on a free loopback
port, so that nobody else's work is disturbed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis_asyncio
from redis.crc import key_slot

from tests.backends import URLS, fresh_namespace, open_backend
from tests.helpers import new_job, wait_until
from tests.servers import RedisServer, free_port, redis_server
from wg_core import Client, JobInfo, WorkerPool, backend_from_url
from wg_core.backend import LAYOUT_VERSION, Attempt, Backend, JobQuery, JobState, NewJob
from wg_core.backends.redis import RedisBackend
from wg_core.backends.redis.scripts import ARM  # the exact script a blocking claimer sends
from wg_core.errors import (
    BackendConfigError,
    BackendError,
    BackendUnavailableError,
    ConfigError,
    SchemaOutdatedError,
)

RUST_ENVELOPE = (
    '{"id":"%s","job_name":"send_email","payload":{"to":"user@example.com","subject":"Hello",'
    '"body":"World"},"options":{"max_retries":3,"retry_count":0,"timeout":300000,'
    '"retry_delay":10000},"status":"Pending","created_at":1767225600,"scheduled_at":null,'
    '"last_error":null}'
)


def rust_envelope(job_id: str | None = None) -> str:
    """An envelope exactly as the Rust wg serialises it."""
    return RUST_ENVELOPE % (job_id or str(uuid.uuid4()))


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[Backend]:
    async with open_backend("redis", tmp_path) as opened:
        yield opened


@pytest.fixture
async def plain(backend: Backend) -> AsyncIterator[Any]:
    """A plain redis-py client on the same server: wg's keys as other programs see them."""
    client = redis_asyncio.Redis.from_url(URLS["redis"], decode_responses=True)
    yield client
    await client.aclose()


async def server_time(plain: Any) -> float:
    seconds, micros = await plain.time()
    return float(seconds) + micros / 1_000_000


async def claim_one(backend: Backend) -> Attempt:
    attempts = await backend.claim(limit=1, lease=30, worker_id="test")
    assert len(attempts) == 1
    return attempts[0]


# -- the spec's keys ---------------------------------------------------------------------


async def test_spec_keys_hold_the_envelopes(backend: Backend, plain: Any) -> None:
    ns = backend.namespace
    first, second = new_job("a"), new_job("b")
    await backend.enqueue([first, second])
    # LPUSH in, consumed from the right: the oldest is the rightmost element.
    assert await plain.lrange(f"{ns}:jobs", 0, -1) == [second.raw, first.raw]

    later = new_job("later")
    before = await server_time(plain)
    await backend.enqueue([NewJob(later.job_id, later.job_name, later.raw, delay=60)])
    score = await plain.zscore(f"{ns}:schedule", later.raw)
    assert score is not None
    assert before + 59 <= score <= await server_time(plain) + 61

    attempt = await claim_one(backend)
    assert attempt.raw == first.raw
    assert await plain.lrange(f"{ns}:jobs", 0, -1) == [second.raw]
    failed = json.loads(attempt.raw) | {"status": "Retry", "last_error": "Service unavailable"}
    retry_raw = json.dumps(failed, separators=(",", ":"))
    before = await server_time(plain)
    assert await backend.retry(attempt, raw=retry_raw, delay=30, error=None)
    score = await plain.zscore(f"{ns}:retry", retry_raw)
    assert score is not None
    assert before + 29 <= score <= await server_time(plain) + 31

    attempt = await claim_one(backend)
    dead_raw = attempt.raw.replace('"Pending"', '"Dead"')
    assert await backend.bury(attempt, raw=dead_raw, error=None)
    assert await plain.lrange(f"{ns}:dead", 0, -1) == [dead_raw]
    assert await plain.llen(f"{ns}:jobs") == 0
    for key in ("jobs", "dead"):
        assert await plain.type(f"{ns}:{key}") in ("list", "none")
    for key in ("schedule", "retry"):
        assert await plain.type(f"{ns}:{key}") == "zset"


async def test_a_rust_producers_lpush_is_claimed_and_found_by_id(
    backend: Backend, plain: Any
) -> None:
    ns = backend.namespace
    job_id = str(uuid.uuid4())
    await plain.lpush(f"{ns}:jobs", rust_envelope(job_id))
    # Not in wg's index yet: found anyway.
    stored = await backend.get_job(job_id)
    assert stored is not None
    assert (stored.state, stored.raw) == (JobState.QUEUED, rust_envelope(job_id))

    attempt = await claim_one(backend)
    assert (attempt.key, attempt.raw) == (job_id, rust_envelope(job_id))
    running = await backend.get_job(job_id)
    assert running is not None
    assert running.state is JobState.RUNNING
    assert running.worker_id == "test"
    assert await backend.complete([attempt]) == 1
    assert await backend.get_job(job_id) is None


async def test_a_rust_producers_scheduled_job_is_promoted_once(
    backend: Backend, plain: Any
) -> None:
    ns = backend.namespace
    job_id = str(uuid.uuid4())
    raw = rust_envelope(job_id).replace('"Pending"', '"Scheduled"')
    await plain.zadd(f"{ns}:schedule", {raw: await server_time(plain) - 1})
    assert await backend.promote(JobState.SCHEDULED, limit=10) == 1
    assert await backend.promote(JobState.SCHEDULED, limit=10) == 0
    stored = await backend.get_job(job_id)
    assert stored is not None
    assert stored.state is JobState.QUEUED
    assert await plain.lrange(f"{ns}:jobs", 0, -1) == [raw]


async def test_admin_moves_reach_jobs_the_index_does_not_know(backend: Backend, plain: Any) -> None:
    ns = backend.namespace
    client = Client(backend)
    dead_ids = [str(uuid.uuid4()) for _ in range(3)]
    for job_id in dead_ids:  # buried by a Rust worker: not in wg's index
        await plain.lpush(f"{ns}:dead", rust_envelope(job_id).replace('"Pending"', '"Dead"'))
    queued_id = str(uuid.uuid4())
    await plain.lpush(f"{ns}:jobs", rust_envelope(queued_id))
    assert await client.retry_jobs([dead_ids[0]]) == 1
    assert await client.delete_jobs([queued_id, "no-such-id"]) == 1
    assert await client.retry_all() == 2
    assert await plain.llen(f"{ns}:dead") == 0
    queued = await backend.list_jobs(JobQuery(state=JobState.QUEUED, limit=10))
    assert [job.job_id for job in queued] == dead_ids
    assert all('"retry_count":0' in job.raw and '"Pending"' in job.raw for job in queued)


async def test_requeueing_many_dead_jobs_moves_each_once(backend: Backend) -> None:
    await backend.enqueue([new_job(payload={"n": n}) for n in range(250)])
    while attempts := await backend.claim(limit=100, lease=30, worker_id="w"):
        for attempt in attempts:
            await backend.bury(attempt, raw=attempt.raw, error=None)
    assert await Client(backend).retry_all() == 250
    counts = await backend.counts()
    assert (counts.queued, counts.dead) == (250, 0)


async def test_text_that_is_not_utf8_reaches_the_worker_and_is_buried_byte_for_byte(
    backend: Backend,
) -> None:
    ns = backend.namespace
    garbage = b"\xff\xfe not an envelope \xc3"
    raw_client = redis_asyncio.Redis.from_url(URLS["redis"])
    try:
        await raw_client.lpush(f"{ns}:jobs", garbage)
        attempt = await claim_one(backend)
        assert attempt.key == ""
        assert await backend.bury(attempt, raw=attempt.raw, error=None)
        assert await raw_client.lrange(f"{ns}:dead", 0, -1) == [garbage]
    finally:
        await raw_client.aclose()


async def test_a_duplicate_id_refuses_the_whole_batch(backend: Backend, plain: Any) -> None:
    stored = new_job()
    await backend.enqueue([stored])
    # The same job sent again (a retried call whose reply was lost) is not a duplicate.
    await backend.enqueue([stored])
    fresh = new_job()
    other_raw = stored.raw.replace('"job_name":"job"', '"job_name":"other"')
    assert other_raw != stored.raw
    clash = NewJob(stored.job_id, "other", other_raw)
    with pytest.raises(ValueError, match=stored.job_id):
        await backend.enqueue([clash])
    with pytest.raises(ValueError, match=stored.job_id):
        await backend.enqueue([fresh, clash])
    with pytest.raises(ValueError, match=fresh.job_id):
        await backend.enqueue([fresh, fresh])
    assert await plain.lrange(f"{backend.namespace}:jobs", 0, -1) == [stored.raw]


async def test_hash_tag_puts_every_key_in_one_slot(tmp_path: Path, plain: Any) -> None:
    async with open_backend("redis", tmp_path, hash_tag=True) as backend:
        ns = backend.namespace
        assert isinstance(backend, RedisBackend)
        await backend.enqueue([new_job(), new_job(), new_job(delay=60)])
        attempt = await claim_one(backend)
        await backend.bury(attempt, raw=attempt.raw, error=None)
        await backend.set_paused(True)
        await backend.set_paused(False)
        stored = [key async for key in plain.scan_iter(match=f"*{ns}*")]
        assert f"{{{ns}}}:jobs" in stored
        assert f"{{{ns}}}:schedule" in stored
        assert f"{{{ns}}}:dead" in stored
        assert set(stored) <= set(backend.keys)
        assert len({key_slot(key.encode()) for key in backend.keys}) == 1
        # (CLUSTER KEYSLOT needs a cluster-enabled server; redis-py's key_slot is the
        # same CRC16 computation.)
        assert key_slot(b"{myapp}:jobs") == key_slot(b"{myapp}:running")


async def test_the_hash_tag_can_be_asked_for_in_the_url(plain: Any) -> None:
    ns = fresh_namespace()
    backend = RedisBackend(URLS["redis"] + "?hash_tag=true", ns)
    assert backend.keys[0] == f"{{{ns}}}:jobs"
    assert "hash_tag" not in backend.display_url
    await backend.open()
    try:
        await backend.enqueue([new_job()])
        assert await plain.llen(f"{{{ns}}}:jobs") == 1
    finally:
        await backend.destroy()
        await backend.close()


async def test_destroy_leaves_no_key_behind(backend: Backend, plain: Any) -> None:
    ns = backend.namespace
    await backend.enqueue([new_job(), new_job(delay=60)])
    attempt = await claim_one(backend)
    await backend.retry(attempt, raw=attempt.raw, delay=60, error=None)
    await backend.set_paused(True)
    await backend.set_paused(False)
    assert [key async for key in plain.scan_iter(match=f"{ns}:*")]
    await backend.destroy()
    assert [key async for key in plain.scan_iter(match=f"{ns}:*")] == []


# -- concurrency -------------------------------------------------------------------------


async def test_concurrent_claimers_never_get_the_same_job(backend: Backend, tmp_path: Path) -> None:
    jobs = [new_job(payload={"n": n}) for n in range(300)]
    await backend.enqueue(jobs)
    others = [RedisBackend(URLS["redis"], backend.namespace) for _ in range(3)]
    for other in others:
        await other.open()
    claimed: list[Attempt] = []

    async def drain(instance: Backend) -> None:
        while batch := await instance.claim(limit=7, lease=30, worker_id="w"):
            claimed.extend(batch)

    try:
        await asyncio.gather(*(drain(instance) for instance in [backend, *others]))
    finally:
        for other in others:
            await other.close()
    assert sorted(a.key for a in claimed) == sorted(job.job_id for job in jobs)
    assert len({a.token for a in claimed}) == len(jobs)
    assert await backend.complete(claimed) == len(jobs)


async def test_promotion_is_exactly_once_with_concurrent_promoters(
    backend: Backend, plain: Any
) -> None:
    jobs = [new_job(payload={"n": n}, delay=0.05) for n in range(300)]
    await backend.enqueue(jobs)
    promoters = [RedisBackend(URLS["redis"], backend.namespace) for _ in range(4)]
    for promoter in promoters:
        await promoter.open()
    await asyncio.sleep(0.1)

    async def promote_all(instance: Backend) -> int:
        moved = 0
        while step := await instance.promote(JobState.SCHEDULED, limit=10):
            moved += step
        return moved

    try:
        moved = await asyncio.gather(*(promote_all(p) for p in promoters))
    finally:
        for promoter in promoters:
            await promoter.close()
    assert sum(moved) == len(jobs)
    queued = await plain.lrange(f"{backend.namespace}:jobs", 0, -1)
    assert sorted(queued) == sorted(job.raw for job in jobs)
    assert await plain.zcard(f"{backend.namespace}:schedule") == 0


async def test_a_cancelled_claim_leaves_no_job_leased_to_nobody(backend: Backend) -> None:
    await backend.enqueue([new_job(payload={"n": n}) for n in range(120)])
    returned: list[Attempt] = []
    for round_ in range(60):
        call = asyncio.create_task(backend.claim(limit=2, lease=30, worker_id="w"))
        # Cancel at varying points: before sending, while the script runs, after it ran.
        for _ in range(round_ % 4):
            await asyncio.sleep(0)
        await asyncio.sleep(0.0005 * (round_ % 3))
        call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            returned.extend(await call)
    counts = await backend.counts()
    # Every running job is one a claim actually returned; the rest are queued again.
    assert counts.running == len(returned)
    assert counts.queued + counts.running == 120


async def test_an_idle_claimer_is_woken_by_a_push_not_by_its_timeout(
    backend: Backend, plain: Any
) -> None:
    producer = RedisBackend(URLS["redis"], backend.namespace)
    await producer.open()
    try:
        for push in ("wg", "plain"):
            waiting = asyncio.create_task(backend.claim(limit=5, lease=30, worker_id="w", wait=60))
            await asyncio.sleep(0.05)
            assert not waiting.done()
            started = time.monotonic()
            if push == "wg":
                await producer.enqueue([new_job()])
            else:
                await plain.lpush(f"{backend.namespace}:jobs", rust_envelope())
            attempts = await asyncio.wait_for(waiting, 30)
            woke_after = time.monotonic() - started
            assert len(attempts) == 1, push
            # Far below the 60 s wait: woken by the push (milliseconds when the machine
            # is quiet; the bound only guards against falling back to the timeout).
            assert woke_after < 20, push
            await backend.complete(attempts)
    finally:
        await producer.close()


async def test_closing_the_backend_ends_a_waiting_claim() -> None:
    backend = RedisBackend(URLS["redis"], fresh_namespace())
    await backend.open()
    waiting = asyncio.create_task(backend.claim(limit=1, lease=30, worker_id="w", wait=60))
    await asyncio.sleep(0.05)
    await backend.close()
    assert await asyncio.wait_for(waiting, 30) == []


async def test_several_idle_claimers_each_get_a_job(backend: Backend) -> None:
    claimers = [RedisBackend(URLS["redis"], backend.namespace) for _ in range(3)]
    for claimer in claimers:
        await claimer.open()
    try:
        waiting = [
            asyncio.create_task(c.claim(limit=1, lease=30, worker_id="w", wait=60))
            for c in claimers
        ]
        await asyncio.sleep(0.05)
        await backend.enqueue([new_job() for _ in range(3)])
        results = await asyncio.wait_for(asyncio.gather(*waiting), 30)
        assert sorted(len(r) for r in results) == [1, 1, 1]
        assert len({r[0].key for r in results}) == 3
    finally:
        for claimer in claimers:
            await claimer.close()


# -- a private server: scripts, connection loss, restarts -------------------------------


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A server of the test's own, with AOF fsynced on every write (a restart keeps
    everything acknowledged)."""
    with redis_server(tmp_path, aof=True) as server:
        yield server


@contextlib.asynccontextmanager
async def admin(server: RedisServer) -> AsyncIterator[Any]:
    client = redis_asyncio.Redis.from_url(server.url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


async def test_scripts_are_reloaded_after_script_flush(private_redis: RedisServer) -> None:
    backend = RedisBackend(private_redis.url, "flushed")
    await backend.open()
    try:
        await backend.enqueue([new_job()])
        async with admin(private_redis) as plain:
            await plain.script_flush()
        attempt = await claim_one(backend)
        async with admin(private_redis) as plain:
            await plain.script_flush()
        assert await backend.complete([attempt]) == 1
        assert (await backend.counters()).processed == 1
    finally:
        await backend.close()


async def test_eviction_policy_other_than_noeviction_is_warned_about(
    private_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with admin(private_redis) as plain:
        await plain.config_set("maxmemory-policy", "allkeys-lru")
    backend = RedisBackend(private_redis.url, "evicting")
    with caplog.at_level(logging.WARNING, logger="wg_core.backends.redis"):
        await backend.open()
    await backend.close()
    assert "maxmemory-policy=allkeys-lru" in caplog.text
    assert "noeviction" in caplog.text


async def test_a_server_older_than_6_2_is_refused_with_a_clear_message() -> None:
    # No Redis 6.0 runs here: a few lines of RESP stand in for one (OK to everything,
    # an INFO reply saying 6.0.16).
    info = b"# Server\r\nredis_version:6.0.16\r\n"

    async def old_redis(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while header := await reader.readline():
                words = []
                for _ in range(int(header[1:])):
                    await reader.readline()
                    words.append((await reader.readline()).strip().upper())
                if words[0] == b"INFO":
                    writer.write(b"$%d\r\n%s\r\n" % (len(info), info))
                else:
                    writer.write(b"+OK\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(old_redis, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        backend = RedisBackend(f"redis://127.0.0.1:{port}/0", "old")
        with pytest.raises(BackendError, match=r"Redis 6\.0\.16 .* too old: wg needs Redis 6\.2"):
            await backend.open()
    finally:
        server.close()
        await server.wait_closed()


async def test_an_unreachable_server_is_reported_as_unavailable() -> None:
    backend = RedisBackend(f"redis://127.0.0.1:{free_port()}/0", "nobody", connect_timeout=1)
    with pytest.raises(BackendUnavailableError, match="unreachable"):
        await backend.open()


async def test_a_paused_claimer_waits_quietly_even_if_pause_was_set_by_hand(
    private_redis: RedisServer,
) -> None:
    backend = RedisBackend(private_redis.url, "handpaused")
    await backend.open()
    try:
        await backend.set_paused(True)
        await backend.set_paused(False)  # leaves the wake-up list behind
        async with admin(private_redis) as plain:
            await plain.set("handpaused:paused", "1")  # paused without going through wg
            await backend.enqueue([new_job()])
            before = int((await plain.info("stats"))["total_commands_processed"])
            assert await backend.claim(limit=1, lease=30, worker_id="w", wait=0.3) == []
            spent = int((await plain.info("stats"))["total_commands_processed"]) - before
        assert spent < 30  # it blocked instead of spinning (a spin makes thousands)
        await backend.set_paused(False)
        assert len(await backend.claim(limit=1, lease=30, worker_id="w", wait=5)) == 1
    finally:
        await backend.close()


async def test_calls_recover_after_the_connections_are_killed(
    private_redis: RedisServer,
) -> None:
    backend = RedisBackend(private_redis.url, "killed")
    await backend.open()
    try:
        await backend.enqueue([new_job() for _ in range(3)])
        assert len(await backend.claim(limit=1, lease=30, worker_id="w")) == 1
        async with admin(private_redis) as plain:
            killed = await plain.client_kill_filter(_type="normal", skipme=True)
        assert killed >= 1
        # Reads and repeatable writes retry once on a fresh connection.
        assert (await backend.counts()).queued == 2
        await backend.enqueue([new_job()])
        # A claim is never re-sent blindly; at worst this one call fails, the next works.
        with contextlib.suppress(BackendUnavailableError):
            await backend.claim(limit=1, lease=30, worker_id="w")
        assert await backend.claim(limit=1, lease=30, worker_id="w")
    finally:
        await backend.close()


async def test_a_waiting_claim_survives_its_connection_being_killed(
    private_redis: RedisServer,
) -> None:
    backend = RedisBackend(private_redis.url, "blockkill")
    await backend.open()
    try:
        waiting = asyncio.create_task(backend.claim(limit=1, lease=30, worker_id="w", wait=60))
        await asyncio.sleep(0.1)
        async with admin(private_redis) as plain:
            await plain.client_kill_filter(_type="normal", skipme=True)
            await asyncio.sleep(0.05)
            await plain.lpush("blockkill:jobs", rust_envelope())
        attempts = await asyncio.wait_for(waiting, 30)
        assert len(attempts) == 1
    finally:
        await backend.close()


async def test_a_pool_loses_nothing_through_connection_kills_and_a_restart(
    private_redis: RedisServer,
) -> None:
    total = 400
    seen: set[int] = set()
    client = Client(RedisBackend(private_redis.url, "outage"))
    await client.enqueue_many([{"n": n} for n in range(total)], job_name="count")

    async def handle(job: dict[str, int]) -> None:
        await asyncio.sleep(0.002)
        seen.add(job["n"])

    pool = WorkerPool(
        handle,
        url=private_redis.url,
        namespace="outage",
        workers=8,
        fetch_timeout=0.5,
        heartbeat_interval=0.2,
        lease=5.0,
        reaper_interval=0.2,
        max_backend_outage=60,
    )
    await pool.start()
    try:
        await wait_until(lambda: _async(len(seen) >= total // 4), timeout=30)
        async with admin(private_redis) as plain:
            await plain.client_kill_filter(_type="normal", skipme=True)
        await wait_until(lambda: _async(len(seen) >= total // 2), timeout=30)
        private_redis.stop()  # AOF with fsync always: everything acknowledged is on disk
        await asyncio.sleep(0.3)
        private_redis.start()
        await wait_until(lambda: _async(len(seen) == total), timeout=60)
        await wait_until(_settled(client), timeout=30)
    finally:
        pool.shutdown()
        await asyncio.wait_for(pool.wait_closed(), 30)
        await client.close()
    assert seen == set(range(total))
    counts = await _reopened_counts(private_redis)
    assert counts == (0, 0, 0)


async def _async(value: bool) -> bool:
    return value


def _settled(client: Client) -> Any:
    async def check() -> bool:
        counts = await client.counts()
        return counts.total == 0

    return check


async def _reopened_counts(server: RedisServer) -> tuple[int, int, int]:
    backend = RedisBackend(server.url, "outage")
    await backend.open()
    try:
        counts = await backend.counts()
        return counts.queued, counts.running, counts.dead
    finally:
        await backend.close()


# -- blocking claims: BLMOVE into a claiming list, then the claim script -----------------


async def claiming_keys(plain: Any, namespace: str) -> list[str]:
    return [key async for key in plain.scan_iter(match=f"{namespace}:claiming:*")]


def armed(plain: Any, namespace: str, *, expected: bool = True) -> Callable[[], Awaitable[bool]]:
    """A condition for wait_until: a blocking claim is (or no longer is) waiting."""

    async def condition() -> bool:
        return bool(await plain.zcard(f"{namespace}:claimers")) is expected

    return condition


async def strand_a_job(plain: Any, namespace: str, *, seconds: float) -> str:
    """What a claimer that died between its BLMOVE and its claim script leaves behind:
    its claiming list armed (for ``seconds`` past the server's clock, plus the arm
    script's one-second margin) and a job moved into it. Done here by hand on a
    connection that is then closed, since wg's own pipeline sends both at once."""

    claiming = f"{namespace}:claiming:dead-worker:0.0"
    claimer = redis_asyncio.Redis.from_url(URLS["redis"], decode_responses=True)
    try:
        await claimer.eval(ARM, 1, f"{namespace}:claimers", claiming, repr(seconds))
        moved = await claimer.blmove(f"{namespace}:jobs", claiming, 1, "RIGHT", "LEFT")
        assert moved is not None
    finally:
        await claimer.aclose()
    return claiming


async def test_a_job_stranded_between_blmove_and_lease_comes_back(
    backend: Backend, plain: Any
) -> None:
    ns = backend.namespace
    job = new_job()
    await backend.enqueue([job])
    claiming = await strand_a_job(plain, ns, seconds=-5)  # its deadline has passed
    assert await plain.lrange(claiming, 0, -1) == [job.raw]
    # Not lost meanwhile: still found by id and counted, as queued; no live claimer
    # takes it.
    stored = await backend.get_job(job.job_id)
    assert stored is not None
    assert stored.state is JobState.QUEUED
    counts = await backend.counts()
    assert (counts.queued, counts.oldest_queued_at) == (1, json.loads(job.raw)["created_at"])
    assert await backend.claim(limit=1, lease=30, worker_id="w") == []
    # The reaper puts it back at the front of the queue; a claim gets it.
    assert await backend.reclaim_expired(limit=10, lease=30, worker_id="reaper") == []
    assert await plain.exists(claiming) == 0
    assert await plain.zcard(f"{ns}:claimers") == 0
    attempt = await claim_one(backend)
    assert attempt.key == job.job_id
    assert await backend.complete([attempt]) == 1


async def test_a_live_claimers_claiming_list_is_left_alone(backend: Backend, plain: Any) -> None:
    ns = backend.namespace
    job = new_job()
    await backend.enqueue([job])
    claiming = await strand_a_job(plain, ns, seconds=60)  # the claimer may still lease it
    await backend.reclaim_expired(limit=10, lease=30, worker_id="reaper")
    assert await plain.lrange(claiming, 0, -1) == [job.raw]
    await backend.destroy()
    assert await claiming_keys(plain, ns) == []


async def test_an_idle_claim_leases_the_job_its_blmove_took(backend: Backend, plain: Any) -> None:
    ns = backend.namespace
    waiting = asyncio.create_task(backend.claim(limit=5, lease=30, worker_id="w", wait=60))
    await wait_until(armed(plain, ns))
    jobs = [new_job() for _ in range(3)]
    await backend.enqueue(jobs[:1])
    await backend.enqueue(jobs[1:])
    attempts = await asyncio.wait_for(waiting, 30)
    # The first job always (BLMOVE took it), maybe the others (the script's RPOP).
    assert attempts[0].key == jobs[0].job_id
    assert await claiming_keys(plain, ns) == []
    assert await plain.zcard(f"{ns}:claimers") == 0
    stored = await backend.get_job(jobs[0].job_id)
    assert stored is not None
    assert stored.state is JobState.RUNNING
    assert await backend.complete(attempts) == len(attempts)


async def test_cancelled_idle_claims_strand_nothing(backend: Backend, plain: Any) -> None:
    ns = backend.namespace
    returned: list[Attempt] = []
    total = 40
    for round_ in range(total):
        # What earlier rounds put back is claimed first, so that this claim blocks.
        while batch := await backend.claim(limit=100, lease=30, worker_id="w"):
            returned.extend(batch)
        waiting = asyncio.create_task(backend.claim(limit=2, lease=30, worker_id="w", wait=60))
        await wait_until(armed(plain, ns))
        # A push racing the cancellation: the job may be taken, leased or neither.
        await plain.lpush(f"{ns}:jobs", rust_envelope())
        for _ in range(round_ % 5):
            await asyncio.sleep(0)
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            returned.extend(await waiting)
    counts = await backend.counts()
    assert counts.running == len(returned)
    assert counts.queued + counts.running == total
    assert await claiming_keys(plain, ns) == []
    assert await plain.zcard(f"{ns}:claimers") == 0


async def test_a_claim_blocked_when_the_queue_is_paused_puts_the_job_back(
    backend: Backend, plain: Any
) -> None:
    ns = backend.namespace
    waiting = asyncio.create_task(backend.claim(limit=1, lease=30, worker_id="w", wait=60))
    await wait_until(armed(plain, ns))
    await backend.set_paused(True)
    job = new_job()
    await backend.enqueue([job])
    # BLMOVE took it, the script saw the pause and put it back; the claimer now waits
    # for the resume.
    await wait_until(armed(plain, ns, expected=False))
    assert await plain.lrange(f"{ns}:jobs", 0, -1) == [job.raw]
    assert not waiting.done()
    await backend.set_paused(False)
    attempts = await asyncio.wait_for(waiting, 30)
    assert [a.key for a in attempts] == [job.job_id]


async def test_bulk_enqueue_over_several_script_chunks(backend: Backend, plain: Any) -> None:
    ns = backend.namespace
    jobs = [new_job(delay=60 if n % 7 == 0 else 0) for n in range(1_234)]
    await backend.enqueue(jobs)
    queued = [job for job in jobs if job.delay <= 0]
    # The first job given is the first to run (rightmost).
    assert await plain.lrange(f"{ns}:jobs", 0, -1) == [job.raw for job in reversed(queued)]
    assert await plain.zcard(f"{ns}:schedule") == len(jobs) - len(queued)
    assert await plain.hlen(f"{ns}:ids") == len(jobs)
    for job in (jobs[0], jobs[1], jobs[700], jobs[-1]):
        stored = await backend.get_job(job.job_id)
        assert stored is not None
        assert stored.raw == job.raw
    # Sent again (a lost reply): stored once. A taken id past the first chunk refuses
    # the whole batch.
    await backend.enqueue(jobs)
    assert await plain.llen(f"{ns}:jobs") == len(queued)
    fresh = [new_job() for _ in range(900)]
    clash = NewJob(job_id=jobs[5].job_id, job_name="x", raw=new_job().raw)
    with pytest.raises(ValueError, match=jobs[5].job_id):
        await backend.enqueue([*fresh, clash])
    assert await plain.llen(f"{ns}:jobs") == len(queued)
    assert await plain.hlen(f"{ns}:ids") == len(jobs)


async def test_a_blocked_claim_survives_a_script_flush(private_redis: RedisServer) -> None:
    backend = RedisBackend(private_redis.url, "flushblock")
    await backend.open()
    try:
        # The claim script is loaded (and a claim of an empty queue returns at once).
        assert await backend.claim(limit=1, lease=30, worker_id="w") == []
        async with admin(private_redis) as plain:
            waiting = asyncio.create_task(backend.claim(limit=1, lease=30, worker_id="w", wait=60))
            await wait_until(armed(plain, "flushblock"))
            await plain.script_flush()
            await plain.lpush("flushblock:jobs", rust_envelope())
            attempts = await asyncio.wait_for(waiting, 30)
            assert len(attempts) == 1
            assert await plain.zcard("flushblock:claimers") == 0
            assert await plain.keys("flushblock:claiming:*") == []
    finally:
        await backend.close()


async def test_calls_cancelled_mid_flight_never_leave_a_reply_for_the_next_call(
    backend: Backend,
) -> None:
    # Scripts run straight on connections kept between calls: one cancelled between its
    # write and its reply must not let the next call read that reply.
    jobs = [new_job(payload={"n": n}) for n in range(8)]
    await backend.enqueue(jobs)
    for round_ in range(80):
        asked, checked = jobs[round_ % 8], jobs[(round_ + 3) % 8]
        call = asyncio.create_task(backend.get_job(asked.job_id))
        for _ in range(round_ % 4):
            await asyncio.sleep(0)
        call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await call
        stored = await backend.get_job(checked.job_id)
        assert stored is not None
        assert stored.job_id == checked.job_id


async def test_a_backend_capped_at_one_connection_keeps_working() -> None:
    # Script calls keep connections out of the pool between calls, except under a cap,
    # where plain commands would otherwise find none left.
    backend = RedisBackend(URLS["redis"], fresh_namespace(), max_connections=1)
    await backend.open()
    try:
        job = new_job()
        await backend.enqueue([job])
        assert (await backend.counts()).queued == 1
        attempt = await claim_one(backend)
        assert (await backend.counts()).running == 1
        assert await backend.complete([attempt]) == 1
        assert (await backend.counters()).processed == 1
        assert await backend.claim(limit=1, lease=30, worker_id="w", wait=0.05) == []
    finally:
        await backend.destroy()
        await backend.close()


# -- readers, clones, times of death -----------------------------------------------------


async def test_a_namespace_only_a_rust_producer_wrote_is_layout_0(plain: Any) -> None:
    ns = fresh_namespace()
    await plain.lpush(f"{ns}:jobs", rust_envelope())
    reader = RedisBackend(URLS["redis"], ns)
    writer = RedisBackend(URLS["redis"], ns)
    try:
        # Found, but of layout 0: a reader upgrades nothing and says so.
        with pytest.raises(SchemaOutdatedError, match="layout 0"):
            await reader.open(create=False)
        assert await plain.exists(f"{ns}:meta") == 0  # the reader wrote nothing
        await writer.open()
        assert await writer.layout_version() == LAYOUT_VERSION
        await reader.open(create=False)
        assert (await reader.counts()).queued == 1
    finally:
        await reader.close()
        await writer.destroy()
        await writer.close()


async def test_a_writers_open_marks_the_namespace_for_readers(plain: Any) -> None:
    ns = fresh_namespace()
    writer = RedisBackend(URLS["redis"], ns)
    await writer.open()
    reader = RedisBackend(URLS["redis"], ns)
    try:
        assert await plain.hget(f"{ns}:meta", "layout") == str(LAYOUT_VERSION)
        await reader.open(create=False)  # nothing queued yet, but the namespace exists
        assert (await reader.counts()).total == 0
    finally:
        await reader.close()
        await writer.destroy()
        await writer.close()
    assert [key async for key in plain.scan_iter(match=f"{ns}:*")] == []


async def test_a_clone_keeps_the_namespace_and_the_hash_tag(plain: Any) -> None:
    ns = fresh_namespace()
    backend = RedisBackend(URLS["redis"] + "?hash_tag=true", ns, socket_timeout=3)
    clone = backend.clone()
    assert clone is not backend
    assert (clone.namespace, clone.keys) == (backend.namespace, backend.keys)
    await clone.open()
    try:
        await clone.enqueue([new_job()])
        assert await plain.llen(f"{{{ns}}}:jobs") == 1
    finally:
        await clone.destroy()
        await clone.close()


async def test_times_of_death_leave_with_their_jobs(backend: Backend, plain: Any) -> None:
    died = f"{backend.namespace}:died"
    jobs = [new_job() for _ in range(3)]
    await backend.enqueue(jobs)
    for attempt in await backend.claim(limit=3, lease=30, worker_id="w"):
        assert await backend.bury(attempt, raw=attempt.raw, error=None)
    before = await server_time(plain)
    dead = await backend.list_jobs(JobQuery(state=JobState.DEAD, limit=10))
    assert all(job.updated_at is not None and job.updated_at <= before for job in dead)
    assert await plain.hlen(died) == 3
    client = Client(backend)
    assert await client.retry_jobs([jobs[0].job_id]) == 1
    assert await client.delete_jobs([jobs[1].job_id]) == 1
    assert await plain.hkeys(died) == [jobs[2].job_id]
    assert await backend.purge(JobState.DEAD) == 1
    assert await plain.exists(died) == 0


# -- bad configuration, and secrets -------------------------------------------------------

PASSWORD = "s3cr@t/pw"
PASSWORD_IN_URL = "s3cr%40t%2Fpw"


@pytest.fixture
def locked_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A server of the test's own that wants a password."""
    with redis_server(tmp_path, args=("--requirepass", PASSWORD)) as server:
        yield server


def assert_no_secret(text: str) -> None:
    assert PASSWORD not in text
    assert PASSWORD_IN_URL not in text


async def test_the_right_password_in_the_url_works(locked_redis: RedisServer) -> None:
    url = f"redis://:{PASSWORD_IN_URL}@127.0.0.1:{locked_redis.port}/0"
    backend = RedisBackend(url, "locked")
    assert_no_secret(repr(backend))
    await backend.open()
    try:
        await backend.enqueue([new_job()])
        assert (await backend.counts()).queued == 1
    finally:
        await backend.close()


@pytest.mark.parametrize(
    "userinfo",
    [
        pytest.param("", id="no-password"),  # NOAUTH
        pytest.param(":not-it%2F", id="wrong-password"),
        pytest.param("default:wr%40ng", id="wrong-user-password"),  # WRONGPASS
        pytest.param("nobody:" + PASSWORD_IN_URL, id="unknown-user"),
    ],
)
async def test_a_refused_password_is_a_config_error_naming_no_secret(
    locked_redis: RedisServer, userinfo: str, caplog: pytest.LogCaptureFixture
) -> None:
    at = f"{userinfo}@" if userinfo else ""
    backend = RedisBackend(f"redis://{at}127.0.0.1:{locked_redis.port}/0", "locked")
    with caplog.at_level(logging.DEBUG, logger="wg_core.backends.redis"):
        with pytest.raises(BackendConfigError, match="refuses") as refused:
            await backend.open()
        for create in (True, False):  # readers too, and a second try the same
            with pytest.raises(BackendConfigError):
                await backend.open(create=create)
    await backend.close()
    assert not isinstance(refused.value, BackendUnavailableError)
    assert_no_secret(str(refused.value))
    assert_no_secret(caplog.text)
    assert "cannot check the Redis version" not in caplog.text


async def test_a_database_the_server_lacks_is_a_config_error_and_nothing_else(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = URLS["redis"].rsplit("/", 1)[0] + "/99"  # the default server has 16 databases
    backend = RedisBackend(url, fresh_namespace())
    with (
        caplog.at_level(logging.DEBUG, logger="wg_core.backends.redis"),
        pytest.raises(BackendConfigError, match="DB index is out of range"),
    ):
        await backend.open(create=False)
    await backend.close()
    # No stray "cannot check the Redis version" warning before the error.
    assert caplog.text == ""


@pytest.mark.parametrize(
    "url",
    [
        f"redis://:{PASSWORD_IN_URL}@127.0.0.1:notaport/0",
        f"redis://:{PASSWORD_IN_URL}@127.0.0.1:6379/0?socket_timeout=soon",
        f"rediss://:{PASSWORD_IN_URL}@127.0.0.1:99999/0",
    ],
)
def test_a_malformed_url_is_a_config_error_before_any_io(url: str) -> None:
    for build in (lambda: RedisBackend(url, "x"), lambda: backend_from_url(url, "x")):
        with pytest.raises(ConfigError, match="invalid Redis URL") as refused:
            build()
        assert_no_secret(str(refused.value))


# -- text that is not UTF-8 ---------------------------------------------------------------


async def test_an_envelope_with_bytes_that_are_not_utf8_is_buried_not_run(
    backend: Backend,
) -> None:
    job_id = str(uuid.uuid4())
    stored = rust_envelope(job_id).encode().replace(b"user@example.com", b"us\xffer@example.com")
    raw_client = redis_asyncio.Redis.from_url(URLS["redis"])
    try:
        await raw_client.lpush(f"{backend.namespace}:jobs", stored)
    finally:
        await raw_client.aclose()
    handled: list[Any] = []

    async def send_email(job: dict[str, Any]) -> None:
        handled.append(job)

    pool = WorkerPool(
        handlers={"send_email": send_email},
        backend=backend,
        fetch_timeout=0.1,
        lease=5.0,
        heartbeat_interval=1.0,
    )
    await pool.start()
    try:

        async def buried() -> bool:
            return (await backend.counts()).dead == 1

        await wait_until(buried, timeout=30)
    finally:
        pool.shutdown()
        await asyncio.wait_for(pool.wait_closed(), 30)
    assert handled == []
    [dead] = await backend.list_jobs(JobQuery(state=JobState.DEAD, limit=1))
    info = JobInfo.from_stored(dead)  # the dead-letter envelope is readable text
    assert info.job_id == job_id
    assert info.last_error is not None
    assert "not valid UTF-8" in info.last_error
    assert info.envelope is not None
    assert "us\\xffer@example.com" in info.envelope.extra["raw"]


async def test_text_that_is_not_an_envelope_keeps_its_id_through_the_pool(
    backend: Backend, plain: Any
) -> None:
    ns = backend.namespace
    bad = [
        NewJob(job_id="bad-text", job_name="x", raw="not json {"),
        NewJob(job_id="bad-deep", job_name="x", raw='{"id":"bad-deep","p":' + "[" * 5000),
        NewJob(job_id="bad-list", job_name="x", raw="[1, 2]"),
    ]
    await backend.enqueue(bad[:1])
    await backend.enqueue(bad[1:])  # the single and the bulk script both keep its id
    names = ["bad-deep", "bad-list", "bad-text"]
    queued = await backend.list_jobs(JobQuery(state=JobState.QUEUED, limit=10))
    assert sorted(job.job_id for job in queued) == names

    async def handle(job: Any) -> None:
        raise AssertionError("a malformed job reached its handler")

    pool = WorkerPool(handle, backend=backend, fetch_timeout=0.1, lease=5.0, heartbeat_interval=1)
    await pool.start()
    try:

        async def buried() -> bool:
            return (await backend.counts()).dead == 3

        await wait_until(buried, timeout=30)
    finally:
        pool.shutdown()
        await asyncio.wait_for(pool.wait_closed(), 30)
    dead = await backend.list_jobs(JobQuery(state=JobState.DEAD, limit=10))
    assert sorted(job.job_id for job in dead) == names
    assert all(job.updated_at is not None for job in dead)
    for job_id in names:
        stored = await backend.get_job(job_id)
        assert stored is not None
        assert stored.state is JobState.DEAD
    assert await plain.hlen(f"{ns}:aliases") == 3  # the dead-letter texts', not the stored
    assert await backend.delete_jobs(["bad-text"]) == 1
    assert await backend.purge(JobState.DEAD) == 2
    assert await plain.exists(f"{ns}:aliases", f"{ns}:died") == 0
