"""PostgreSQL-specific behaviour beyond the conformance suite: the spec's tables, schema
races and checks, Rust interop, transactional enqueue, LISTEN/NOTIFY wake-ups and
connection loss, errors that say what is wrong and never show a password. Runs
against the local server (tests/backends)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.backends import URLS, fresh_namespace, open_backend, unreachable
from tests.backends.connection_loss import drain_through_cuts, retrying
from tests.backends.leaks import assert_no_secret
from tests.helpers import new_job, wait_until
from wg_core.backend import Attempt, Backend, JobState, NewJob
from wg_core.backends.resources import load_blocks
from wg_core.backends.sql import SHARED_BLOCKS, SqlBackend
from wg_core.errors import (
    BackendConfigError,
    BackendUnavailableError,
    ConfigError,
    DuplicateJobError,
    SchemaError,
)

psycopg = pytest.importorskip("psycopg")

from wg_core.backends.mysql import MySqlBackend  # noqa: E402
from wg_core.backends.postgres import PostgresBackend  # noqa: E402
from wg_core.backends.sql.schema import TABLES  # noqa: E402

URL = URLS["postgres"]
SPEC_TABLES = TABLES  # every table the schema block creates (schema.py)
LIMIT_TABLES = ("limits", "starts", "limit_keys")  # layout 4, issue 20
COUNT_TABLES = ("counts",)  # layout 5, issue 24
RUST_JOB = (
    '{"id":"5e2d8a41-7c3b-4e9f-8a1d-2b3c4d5e6f70","payload":{"to":"user@example.com"},'
    '"options":{"max_retries":5,"retry_count":0,"timeout":60000,"retry_delay":30000},'
    '"status":"Pending","created_at":1767225600,"scheduled_at":null,"last_error":null}'
)


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[PostgresBackend]:
    async with open_backend("postgres", tmp_path) as opened:
        assert isinstance(opened, PostgresBackend)
        yield opened


@pytest.fixture
async def admin() -> AsyncIterator[Any]:
    """A plain autocommit connection of our own, as an operator or a Rust producer."""
    try:
        connection = await psycopg.AsyncConnection.connect(URL, autocommit=True)
    except psycopg.OperationalError as exc:
        unreachable("postgres", exc)
    async with connection:
        yield connection


async def drain(backend: Backend, *, limit: int = 10) -> list[Attempt]:
    attempts = await backend.claim(limit=limit, lease=30, worker_id="w")
    if attempts:
        assert await backend.complete(attempts) == len(attempts)
    return attempts


@pytest.mark.parametrize(
    ("filename", "dialect"), [("postgres.sql", PostgresBackend), ("mysql.sql", MySqlBackend)]
)
def test_every_dialect_defines_the_same_blocks(filename: str, dialect: type[SqlBackend]) -> None:
    names = set(load_blocks("wg_core.backends.sql", filename))
    assert names >= SHARED_BLOCKS, f"{filename} lacks {sorted(SHARED_BLOCKS - names)}"
    assert names - SHARED_BLOCKS == dialect.EXTRA_BLOCKS


@pytest.mark.parametrize("filename", ["postgres.sql", "mysql.sql", "sqlite.sql"])
def test_no_block_ends_in_a_comment(filename: str) -> None:
    # A comment paragraph above a block's "-- name:" line is the end of the block before
    # it in the file: blocks joined into one round trip (MySQL's acknowledgement, one
    # statement group per queue) would comment out the ";" that follows. The loader
    # drops such lines.
    for name, text in load_blocks("wg_core.backends.sql", filename).items():
        lines = [line.strip() for line in text.strip().splitlines()]
        assert not lines[-1].startswith("--"), f"{filename}: block {name} ends in a comment"


async def test_the_spec_tables_exist_after_first_use(backend: PostgresBackend, admin: Any) -> None:
    cursor = await admin.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_name LIKE %s",
        [f"{backend.namespace}\\_%"],
    )
    names = {row[0] for row in await cursor.fetchall()}
    tables = SPEC_TABLES + LIMIT_TABLES + COUNT_TABLES
    assert names == {f"{backend.namespace}_{table}" for table in tables}


async def test_a_table_of_the_wrong_shape_is_a_schema_error(admin: Any) -> None:
    namespace = fresh_namespace()
    await admin.execute(f'CREATE TABLE "{namespace}_jobs" (id BIGSERIAL, payload TEXT)')
    backend = PostgresBackend(URL, namespace)
    try:
        with pytest.raises(SchemaError, match=f"{namespace}_jobs.*job_json"):
            await backend.open()
    finally:
        await backend.close()
        await admin.execute(f'DROP TABLE "{namespace}_jobs"')


async def test_a_rust_producers_plain_insert_is_claimed(
    backend: PostgresBackend, admin: Any
) -> None:
    await admin.execute(
        f'INSERT INTO "{backend.namespace}_jobs" (job_json) VALUES (%s)', [RUST_JOB]
    )
    stored = await backend.get_job("5e2d8a41-7c3b-4e9f-8a1d-2b3c4d5e6f70")
    assert stored is not None
    assert stored.raw == RUST_JOB
    [attempt] = await drain(backend)
    assert attempt.raw == RUST_JOB
    assert (await backend.counters()).processed == 1


async def test_transactional_enqueue_commits_or_rolls_back_with_the_caller(
    backend: PostgresBackend,
) -> None:
    committed, rolled_back = new_job(), new_job()
    async with await psycopg.AsyncConnection.connect(URL) as connection:
        async with connection.transaction():
            await backend.enqueue([committed], connection=connection)
        await backend.enqueue([rolled_back], connection=connection)  # opens a transaction
        assert (await backend.counts()).queued == 1  # not visible before commit
        await connection.rollback()
    assert [a.raw for a in await drain(backend)] == [committed.raw]


async def test_a_unique_key_taken_in_a_rolled_back_transaction_stays_free(
    backend: PostgresBackend,
) -> None:
    def keyed(key: str) -> NewJob:
        job = new_job()
        return NewJob(job.job_id, job.job_name, job.raw, unique_key=key)

    kept, dropped = keyed("kept"), keyed("dropped")
    async with await psycopg.AsyncConnection.connect(URL) as connection:
        async with connection.transaction():
            assert await backend.enqueue([kept], connection=connection) == [kept.job_id]
        assert await backend.enqueue([dropped], connection=connection) == [dropped.job_id]
        await connection.rollback()
    again = keyed("dropped")
    assert await backend.enqueue([again]) == [again.job_id]
    assert await backend.enqueue([keyed("kept")]) == [kept.job_id]


async def test_transactional_enqueue_through_a_sync_connection(backend: PostgresBackend) -> None:
    committed, rolled_back = new_job(), new_job()
    with psycopg.Connection.connect(URL) as connection:
        with connection.transaction():
            await backend.enqueue([committed], connection=connection)
        await backend.enqueue([rolled_back], connection=connection)
        connection.rollback()
    assert [a.raw for a in await drain(backend)] == [committed.raw]


async def test_a_foreign_connection_type_is_refused(backend: PostgresBackend) -> None:
    with pytest.raises(TypeError, match="psycopg"):
        await backend.enqueue([new_job()], connection=object())


async def test_eight_claimers_in_separate_backends_never_share_an_attempt(
    backend: PostgresBackend,
) -> None:
    total = 400
    await backend.enqueue([new_job(payload={"n": n}) for n in range(total)])
    others = [PostgresBackend(URL, backend.namespace, pool_size=2) for _ in range(8)]
    for other in others:
        await other.open()
    seen: list[str] = []

    async def claimer(source: PostgresBackend) -> None:
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


async def test_the_portable_claim_path_works_here_too(backend: PostgresBackend) -> None:
    # PostgreSQL claims in one statement; the engine's generic path (MySQL's) must
    # give the same result on it.
    jobs = [new_job(payload={"n": n}) for n in range(3)]
    await backend.enqueue(jobs)
    attempts = await SqlBackend._claim_now(backend, 2, 30, "w", ("default",))
    assert [a.raw for a in attempts] == [j.raw for j in jobs[:2]]
    assert await SqlBackend.complete(backend, attempts) == 2
    assert [a.raw for a in await drain(backend)] == [jobs[2].raw]


async def test_an_idle_claimer_is_woken_by_notify_not_by_polling(
    backend: PostgresBackend, tmp_path: Path
) -> None:
    # Polling every minute: only LISTEN/NOTIFY can wake this claimer in time.
    async with open_backend(
        "postgres", tmp_path, namespace=backend.namespace, poll_interval=60.0
    ) as idle:
        waiter = asyncio.create_task(idle.claim(limit=1, lease=30, worker_id="w", wait=60))
        await asyncio.sleep(0.1)  # let it go idle (LISTEN in place)
        assert not waiter.done()
        job = new_job()
        await backend.enqueue([job])
        attempts = await asyncio.wait_for(waiter, timeout=10)
        assert [a.raw for a in attempts] == [job.raw]


async def terminate_wg_connections(admin: Any, namespace: str) -> int:
    """End every connection of the namespace's backends, server-side; how many ended
    (each termination is waited for, so none lingers in ``pg_stat_activity``)."""
    cursor = await admin.execute(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000))"
        " FROM pg_stat_activity WHERE application_name = %s",
        [f"wg:{namespace}"],
    )
    row = await cursor.fetchone()
    return int(row[0])


@pytest.mark.slow
async def test_connection_loss_under_load_loses_nothing(
    backend: PostgresBackend, admin: Any
) -> None:
    async def expire_leases() -> None:
        await admin.execute(
            f"UPDATE \"{backend.namespace}_jobs\" SET lease_until = now() - interval '1 second'"
        )

    await drain_through_cuts(
        backend,
        total=600,
        cut=lambda: terminate_wg_connections(admin, backend.namespace),
        expire_leases=expire_leases,
    )

    # The LISTEN connection came back too: an idle claimer is still woken.
    waiter = asyncio.create_task(
        retrying(lambda: backend.claim(limit=1, lease=30, worker_id="w", wait=30))
    )
    await asyncio.sleep(0.1)
    job = new_job()
    await retrying(lambda: backend.enqueue([job]))
    assert [a.raw for a in await asyncio.wait_for(waiter, 10)] == [job.raw]


def test_the_blocking_client_enqueues_inside_a_sync_transaction() -> None:
    from wg_core.blocking import BlockingClient

    namespace = fresh_namespace()
    try:
        admin = psycopg.Connection.connect(URL, autocommit=True)
    except psycopg.OperationalError as exc:
        unreachable("postgres", exc)
    try:
        with BlockingClient.connect(URL, namespace) as client:
            with psycopg.Connection.connect(URL) as connection:
                with connection.transaction():
                    client.enqueue({"n": 1}, job_name="kept", connection=connection)
                client.enqueue({"n": 2}, job_name="dropped", connection=connection)
                connection.rollback()
            [job] = client.list_jobs("queued")
            assert job.job_name == "kept"
    finally:
        for table in SPEC_TABLES + LIMIT_TABLES + COUNT_TABLES:
            admin.execute(f'DROP TABLE IF EXISTS "{namespace}_{table}"')
        admin.close()


RUST_SCHEMA = (
    'CREATE TABLE "{ns}_jobs" (id BIGSERIAL PRIMARY KEY, job_json TEXT NOT NULL, '
    "created_at TIMESTAMPTZ DEFAULT NOW())",
    'CREATE TABLE "{ns}_scheduled" (id BIGSERIAL PRIMARY KEY, job_json TEXT NOT NULL, '
    "run_at BIGINT NOT NULL, created_at TIMESTAMPTZ DEFAULT NOW())",
    'CREATE TABLE "{ns}_retry" (id BIGSERIAL PRIMARY KEY, job_json TEXT NOT NULL, '
    "retry_at BIGINT NOT NULL, created_at TIMESTAMPTZ DEFAULT NOW())",
    'CREATE TABLE "{ns}_dead" (id BIGSERIAL PRIMARY KEY, job_json TEXT NOT NULL, '
    "created_at TIMESTAMPTZ DEFAULT NOW())",
)


async def test_tables_created_by_the_rust_wg_are_upgraded_in_place(
    admin: Any, tmp_path: Path
) -> None:
    namespace = fresh_namespace()
    for statement in RUST_SCHEMA:
        await admin.execute(statement.format(ns=namespace))
    await admin.execute(f'INSERT INTO "{namespace}_jobs" (job_json) VALUES (%s)', [RUST_JOB])
    await admin.execute(
        f'INSERT INTO "{namespace}_scheduled" (job_json, run_at) VALUES (%s, 0)', [RUST_JOB]
    )
    async with open_backend("postgres", tmp_path, namespace=namespace) as backend:
        job = new_job()
        await backend.enqueue([job])
        assert await backend.promote(JobState.SCHEDULED, limit=10) == 1
        assert [a.raw for a in await drain(backend)] == [RUST_JOB, job.raw, RUST_JOB]


# -- one-at-a-time enqueue: one statement, one commit ---------------------------------


def _client_messages(trace: str) -> list[str]:
    """The names of the messages the client sent, from a libpq protocol trace."""
    names = []
    for line in trace.splitlines():
        fields = line.split("\t")
        if "F" in fields:  # (timestamp,) direction, length, message, contents
            names.append(fields[fields.index("F") + 2].strip())
    return names


async def test_a_single_enqueue_is_one_round_trip_with_no_explicit_transaction(
    tmp_path: Path,
) -> None:
    async with open_backend("postgres", tmp_path, pool_size=1) as opened:
        assert isinstance(opened, PostgresBackend)
        pool = opened._require_pool()
        for _ in range(6):  # the driver prepares a statement on its fifth run
            await opened.enqueue([new_job()])
        path = tmp_path / "trace.txt"
        with path.open("w") as trace:
            connection = await pool.getconn()  # the pool's only connection
            connection.pgconn.trace(trace.fileno())
            await pool.putconn(connection)
            for _ in range(6):
                await opened.enqueue([new_job()])
            connection = await pool.getconn()
            connection.pgconn.untrace()
            await pool.putconn(connection)
        sent = _client_messages(path.read_text())
        # One Sync per call is one round trip; no simple Query (BEGIN, COMMIT): each
        # INSERT commits on its own, durably (the pool is not the claims' one).
        # A prepared statement: no Parse either.
        assert sent.count("Sync") == 6
        assert "Query" not in sent
        assert "Parse" not in sent
        assert (await opened.counts()).queued == 12


async def test_a_taken_id_is_refused_one_job_at_a_time(backend: PostgresBackend) -> None:
    first = new_job()
    await backend.enqueue([first])
    again = NewJob(job_id=first.job_id, job_name="job", raw=new_job().raw)
    with pytest.raises(DuplicateJobError):
        await backend.enqueue([again])
    async with await psycopg.AsyncConnection.connect(URL) as connection:
        with pytest.raises(DuplicateJobError):
            await backend.enqueue([again], connection=connection)
    later = new_job()
    await backend.enqueue([later])  # the connection that saw the error is fine
    assert [a.raw for a in await drain(backend)] == [first.raw, later.raw]


async def test_a_cancelled_single_enqueue_leaves_the_pool_usable(
    tmp_path: Path, admin: Any
) -> None:
    async with open_backend("postgres", tmp_path, pool_size=1) as opened:
        assert isinstance(opened, PostgresBackend)
        namespace = opened.namespace
        cancelled = new_job()
        async with await psycopg.AsyncConnection.connect(URL) as locker:
            # Hold a lock the INSERT needs, so that the call is cancelled mid-statement.
            await locker.execute(f'LOCK TABLE "{namespace}_jobs" IN SHARE MODE')
            task = asyncio.create_task(opened.enqueue([cancelled]))

            async def blocked() -> bool:
                cursor = await admin.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE application_name = %s AND wait_event_type = 'Lock'",
                    [f"wg:{namespace}"],
                )
                row = await cursor.fetchone()
                return bool(row and row[0])

            await wait_until(blocked)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await locker.rollback()
        later = new_job()
        await opened.enqueue([later])  # on the same (only) connection
        assert await opened.get_job(cancelled.job_id) is None
        assert [a.raw for a in await drain(opened)] == [later.raw]


async def test_single_enqueues_survive_lost_connections_without_keeping_them(
    tmp_path: Path, admin: Any
) -> None:
    async with open_backend("postgres", tmp_path, pool_size=2) as opened:
        assert isinstance(opened, PostgresBackend)
        jobs = [new_job() for _ in range(4)]
        for job in jobs:
            await opened.enqueue([job])
            await terminate_wg_connections(admin, opened.namespace)
            await retrying(lambda: opened.enqueue([new_job()]))
        # Each replaced connection's cached cursor is dropped, not kept for ever.
        assert len(opened._producer_cursors) <= 2
        assert (await retrying(opened.counts)).queued == 8


# -- errors that say what is wrong, and never show the password -----------------------

SECRET = "s3cret%21pw"


def _with(**parts: str) -> str:
    """The test server's URL with some of its parts replaced."""
    url = urlsplit(URL)
    user = parts.get("user", url.username or "postgres")
    password = parts.get("password")
    host = parts.get("host", f"{url.hostname}:{url.port or 5432}")
    userinfo = f"{user}:{password}" if password is not None else user
    return f"postgresql://{userinfo}@{host}/{parts.get('database', url.path.lstrip('/'))}"


@pytest.mark.parametrize(
    ("parts", "reason"),
    [
        ({"database": "wg_no_such_database"}, 'database "wg_no_such_database" does not exist'),
        ({"user": "wg_no_such_role"}, 'role "wg_no_such_role" does not exist'),
        ({"user": "wg_no_such_role", "password": SECRET}, "wg_no_such_role"),
    ],
)
async def test_a_refused_configuration_is_not_reported_as_unreachable(
    parts: dict[str, str], reason: str
) -> None:
    # Supervisors retry "unreachable" forever; a database or role that does not exist
    # will not appear by retrying (the server here trusts every role that exists).
    backend = PostgresBackend(_with(**parts), fresh_namespace())
    try:
        with pytest.raises(BackendConfigError, match=reason) as caught:
            await backend.open()
    finally:
        await backend.close()
    assert not isinstance(caught.value, BackendUnavailableError)
    assert_no_secret(caught.value, SECRET)


@pytest.mark.parametrize("host", ["127.0.0.1:1", "wg-no-such-host.invalid"])
async def test_an_unreachable_server_is_unavailable_without_the_password(host: str) -> None:
    backend = PostgresBackend(_with(password=SECRET, host=host), "wg")
    try:
        with pytest.raises(BackendUnavailableError) as caught:
            await backend.open()
    finally:
        await backend.close()
    assert_no_secret(caught.value, SECRET)


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("postgresql://u:s3cretR%zz@127.0.0.1/test", "s3cretR%zz"),  # bad percent-encoding
        ("postgresql://u:s3cret@[::1/test", "s3cret"),  # malformed IPv6 host
        ("postgresql://u:pass word@127.0.0.1/test", "pass word"),  # a space
        ("postgresql://u:s3cret@127.0.0.1:notaport/test", "s3cret"),
        ("postgresql://u:s3cret@127.0.0.1:99999/test", "s3cret"),
    ],
)
def test_a_malformed_url_is_a_config_error_without_the_password(url: str, secret: str) -> None:
    with pytest.raises(ConfigError, match="PostgreSQL URL") as caught:
        PostgresBackend(url, "wg")
    assert_no_secret(caught.value, secret)
