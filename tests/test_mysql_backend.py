"""MySQL/MariaDB-specific behaviour beyond the conformance suite: the spec's tables,
schema races and checks, Rust interop, transactional enqueue, wake-ups, connection loss,
and the refusal of servers without SKIP LOCKED. Runs against the local server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest

from tests.backends import URLS, fresh_namespace, open_backend, unreachable
from tests.helpers import new_job
from wg_core.backend import Attempt, Backend, JobState
from wg_core.errors import BackendError, ConfigError, DuplicateJobError, SchemaError

pymysql = pytest.importorskip("pymysql")

from wg_core.backends.mysql import MySqlBackend  # noqa: E402
from wg_core.backends.mysql.driver import server_supports_skip_locked as _server_supports_skip_locked  # noqa: E402

T = TypeVar("T")
URL = URLS["mysql"]
SPEC_TABLES = ("jobs", "scheduled", "retry", "dead", "workers", "meta")
RUST_JOB = (
    '{"id":"5e2d8a41-7c3b-4e9f-8a1d-2b3c4d5e6f70","payload":{"to":"user@example.com"},'
    '"options":{"max_retries":5,"retry_count":0,"timeout":60000,"retry_delay":30000},'
    '"status":"Pending","created_at":1767225600,"scheduled_at":null,"last_error":null}'
)


def connect() -> Any:
    parts = urlsplit(URL)
    return pymysql.connect(
        host=parts.hostname,
        port=parts.port or 3306,
        user=parts.username or "root",
        password=parts.password or "",
        database=parts.path.lstrip("/"),
        charset="utf8mb4",
    )


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[MySqlBackend]:
    async with open_backend("mysql", tmp_path) as opened:
        assert isinstance(opened, MySqlBackend)
        yield opened


@pytest.fixture
def admin() -> Iterator[Any]:
    """A plain autocommit connection of our own, as an operator or a Rust producer."""
    try:
        connection = connect()
    except pymysql.err.OperationalError as exc:
        unreachable("mysql", exc)
    connection.autocommit(True)
    try:
        yield connection
    finally:
        connection.close()


def sql(connection: Any, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(query, args or None)
        return list(cursor.fetchall())


async def retrying(call: Callable[[], Awaitable[T]]) -> T:
    """``call()``, retried through connection errors as the worker pool does (an idle
    pooled connection may have been cut too)."""
    for _ in range(50):
        try:
            return await call()
        except BackendError:
            await asyncio.sleep(0.02)
    return await call()


async def drain(backend: Backend, *, limit: int = 10) -> list[Attempt]:
    attempts = await backend.claim(limit=limit, lease=30, worker_id="w")
    if attempts:
        assert await backend.complete(attempts) == len(attempts)
    return attempts


@pytest.mark.parametrize(
    ("version", "supported"),
    [
        ("10.11.19-MariaDB-0+deb12u1", True),
        ("10.6.1-MariaDB", True),
        ("10.5.23-MariaDB-log", False),
        ("8.0.36", True),
        ("8.0.0-dmr", False),
        ("5.7.44-log", False),
    ],
)
def test_servers_without_skip_locked_are_refused(version: str, supported: bool) -> None:
    assert _server_supports_skip_locked(version) is supported


async def test_the_spec_tables_exist_after_first_use(backend: MySqlBackend, admin: Any) -> None:
    rows = sql(
        admin,
        "SELECT table_name, engine, table_collation FROM information_schema.tables "
        "WHERE table_schema = DATABASE() AND table_name LIKE %s",
        f"{backend.namespace}\\_%",
    )
    assert {row[0] for row in rows} == {f"{backend.namespace}_{table}" for table in SPEC_TABLES}
    assert {(row[1], row[2].split("_")[0]) for row in rows} == {("InnoDB", "utf8mb4")}


async def test_a_table_of_the_wrong_shape_is_a_schema_error(admin: Any) -> None:
    namespace = fresh_namespace()
    sql(admin, f"CREATE TABLE `{namespace}_jobs` (id BIGINT PRIMARY KEY, payload TEXT)")
    backend = MySqlBackend(URL, namespace)
    try:
        with pytest.raises(SchemaError, match=f"{namespace}_jobs.*job_json"):
            await backend.open()
    finally:
        await backend.close()
        sql(admin, f"DROP TABLE `{namespace}_jobs`")


async def test_a_rust_producers_plain_insert_is_claimed(backend: MySqlBackend, admin: Any) -> None:
    sql(admin, f"INSERT INTO `{backend.namespace}_jobs` (job_json) VALUES (%s)", RUST_JOB)
    stored = await backend.get_job("5e2d8a41-7c3b-4e9f-8a1d-2b3c4d5e6f70")
    assert stored is not None
    assert stored.raw == RUST_JOB
    [attempt] = await drain(backend)
    assert attempt.raw == RUST_JOB
    assert (await backend.counters()).processed == 1


async def test_transactional_enqueue_commits_or_rolls_back_with_the_caller(
    backend: MySqlBackend,
) -> None:
    committed, rolled_back, delayed = new_job(), new_job(), new_job(delay=3600)
    connection = connect()
    try:
        connection.begin()
        await backend.enqueue([committed, delayed], connection=connection)
        assert (await backend.counts()).queued == 0  # not visible before commit
        connection.commit()
        connection.begin()
        await backend.enqueue([rolled_back], connection=connection)
        connection.rollback()
    finally:
        connection.close()
    counts = await backend.counts()
    assert (counts.queued, counts.scheduled) == (1, 1)
    assert [a.raw for a in await drain(backend)] == [committed.raw]


async def test_eight_claimers_in_separate_backends_never_share_an_attempt(
    backend: MySqlBackend,
) -> None:
    total = 300
    await backend.enqueue([new_job(payload={"n": n}) for n in range(total)])
    others = [MySqlBackend(URL, backend.namespace, pool_size=2) for _ in range(8)]
    for other in others:
        await other.open()
    seen: list[str] = []

    async def claimer(source: MySqlBackend) -> None:
        while attempts := await source.claim(limit=5, lease=30, worker_id="w"):
            seen.extend(a.raw for a in attempts)
            assert await source.complete(attempts) == len(attempts)

    try:
        await asyncio.gather(*(claimer(other) for other in others))
    finally:
        for other in others:
            await other.close()
    assert len(seen) == len(set(seen)) == total
    assert (await backend.counters()).processed == total


async def test_claims_do_not_block_the_event_loop(backend: MySqlBackend) -> None:
    await backend.enqueue([new_job() for _ in range(200)])
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    try:
        while await drain(backend):
            pass
    finally:
        task.cancel()
    # Each claim and completion waited on a thread; the loop kept running meanwhile.
    assert ticks > 40


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


@pytest.mark.slow
async def test_connection_loss_under_load_loses_nothing(backend: MySqlBackend, admin: Any) -> None:
    total = 400
    await backend.enqueue([new_job(payload={"n": n}) for n in range(total)])
    done: list[str] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        while True:
            try:
                attempts = await backend.claim(limit=10, lease=30, worker_id="w")
                if not attempts:
                    return
                while True:  # as the pool does: keep acknowledging through the outage
                    try:
                        await backend.complete(attempts)
                        break
                    except BackendError:
                        errors += 1
                        await asyncio.sleep(0.01)
                done.extend(a.raw for a in attempts)
            except BackendError:
                errors += 1
                await asyncio.sleep(0.01)

    async def killer() -> None:
        for _ in range(3):
            await asyncio.sleep(0.05)
            for connection_id in backend.connection_ids():
                with suppress(pymysql.err.MySQLError):  # already gone
                    sql(admin, "KILL CONNECTION %s", connection_id)

    await asyncio.gather(killer(), *(worker() for _ in range(4)))
    # A claim whose reply was lost leaves its jobs leased: the reaper's job, so speed
    # it up here by expiring every lease and re-running what it recovers.
    sql(
        admin,
        f"UPDATE `{backend.namespace}_jobs` SET lease_until = UTC_TIMESTAMP(6) "
        "- INTERVAL 1 SECOND WHERE lease_token IS NOT NULL",
    )
    while recovered := await retrying(
        lambda: backend.reclaim_expired(limit=100, lease=30, worker_id="r")
    ):
        await retrying(lambda: backend.complete(recovered))
        done.extend(a.raw for a in recovered)
    assert errors > 0, "the connections were never cut"
    assert (await backend.counts()).total == 0
    assert len(set(done)) == total


def test_the_blocking_client_enqueues_inside_a_sync_transaction() -> None:
    from wg_core.blocking import BlockingClient

    namespace = fresh_namespace()
    try:
        admin = connect()
    except pymysql.err.OperationalError as exc:
        unreachable("mysql", exc)
    try:
        with BlockingClient.connect(URL, namespace) as client:
            connection = connect()
            try:
                connection.begin()
                client.enqueue({"n": 1}, job_name="kept", connection=connection)
                connection.commit()
                connection.begin()
                client.enqueue({"n": 2}, job_name="dropped", connection=connection)
                connection.rollback()
            finally:
                connection.close()
            [job] = client.list_jobs("queued")
            assert job.job_name == "kept"
    finally:
        for table in SPEC_TABLES:
            sql(admin, f"DROP TABLE IF EXISTS `{namespace}_{table}`")
        admin.close()


RUST_SCHEMA = (
    "CREATE TABLE `{ns}_jobs` (id BIGINT AUTO_INCREMENT PRIMARY KEY, job_json TEXT NOT NULL, "
    "created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)",
    "CREATE TABLE `{ns}_scheduled` (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
    "job_json TEXT NOT NULL, run_at BIGINT NOT NULL, "
    "created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, INDEX idx_run_at (run_at))",
    "CREATE TABLE `{ns}_retry` (id BIGINT AUTO_INCREMENT PRIMARY KEY, job_json TEXT NOT NULL, "
    "retry_at BIGINT NOT NULL, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, "
    "INDEX idx_retry_at (retry_at))",
    "CREATE TABLE `{ns}_dead` (id BIGINT AUTO_INCREMENT PRIMARY KEY, job_json TEXT NOT NULL, "
    "created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)",
)


async def test_tables_created_by_the_rust_wg_are_upgraded_in_place(
    admin: Any, tmp_path: Path
) -> None:
    namespace = fresh_namespace()
    for statement in RUST_SCHEMA:
        sql(admin, statement.format(ns=namespace))
    sql(admin, f"INSERT INTO `{namespace}_jobs` (job_json) VALUES (%s)", RUST_JOB)
    sql(admin, f"INSERT INTO `{namespace}_scheduled` (job_json, run_at) VALUES (%s, 0)", RUST_JOB)
    async with open_backend("mysql", tmp_path, namespace=namespace) as backend:
        job = new_job()
        await backend.enqueue([job])
        assert await backend.promote(JobState.SCHEDULED, limit=10) == 1
        assert [a.raw for a in await drain(backend)] == [RUST_JOB, job.raw, RUST_JOB]


async def test_a_batch_bigger_than_one_statement_is_all_or_nothing(backend: MySqlBackend) -> None:
    # About 3 MB of envelopes: PyMySQL splits it into several INSERTs. The last job's id
    # is already stored, so the batch must fail as a whole.
    big = [new_job(payload={"pad": "x" * 2000, "n": n}) for n in range(1500)]
    await backend.enqueue([big[-1]])
    with pytest.raises(DuplicateJobError, match="already stored"):
        await backend.enqueue(big)
    assert (await backend.counts()).queued == 1


@pytest.mark.parametrize(
    "intervals",
    [
        {"min_poll_interval": 0},
        {"min_poll_interval": 0.5, "max_poll_interval": 0.1},
        {"idle_after": -1},
    ],
)
def test_bad_poll_intervals_are_refused(intervals: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        MySqlBackend(URL, "wg", **intervals)


async def test_a_paused_queue_with_jobs_does_not_set_off_claim_after_claim(
    backend: MySqlBackend, tmp_path: Path
) -> None:
    # The poller's probe sees the pause flag: a waiting claimer is not woken for jobs it
    # may not take (each wake-up would be a whole locking claim, every poll interval).
    await backend.enqueue([new_job() for _ in range(3)])
    await backend.set_paused(True)
    claims = 0
    claim_now = backend._claim_now

    async def counting(limit: int, lease: float, worker_id: str) -> list[Attempt]:
        nonlocal claims
        claims += 1
        return await claim_now(limit, lease, worker_id)

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


async def test_the_poller_stops_when_no_claimer_waits(backend: MySqlBackend) -> None:
    # A worker whose slots are all busy does not poll: the poller runs only while a
    # claim waits, and its thread's connection is one more than pool_size.
    assert await backend.claim(limit=1, lease=30, worker_id="w", wait=0.05) == []
    for _ in range(100):
        if not backend._polling:
            break
        await asyncio.sleep(0.01)
    assert not backend._polling
