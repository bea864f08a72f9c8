"""MySQL/MariaDB-specific behaviour beyond the conformance suite: the spec's tables,
schema races and checks, Rust interop, transactional enqueue, connection loss,
the refusal of servers without SKIP LOCKED, errors that say what is wrong and never
show a password. Runs against the local server; the poller has its own file
(test_mysql_poller.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.backends import URLS, fresh_namespace, open_backend
from tests.backends.connection_loss import drain_through_cuts
from tests.backends.leaks import assert_no_secret
from tests.backends.mysql_admin import admin_connection, connect, sql
from tests.helpers import new_job
from wg_core.backend import Attempt, Backend, JobState
from wg_core.errors import (
    BackendConfigError,
    BackendUnavailableError,
    ConfigError,
    DuplicateJobError,
    SchemaError,
)

pymysql = pytest.importorskip("pymysql")

from wg_core.backends.mysql import MySqlBackend  # noqa: E402
from wg_core.backends.mysql.driver import server_supports_skip_locked  # noqa: E402
from wg_core.backends.sql.schema import TABLES  # noqa: E402

URL = URLS["mysql"]
SPEC_TABLES = TABLES  # every table the schema block creates (schema.py)
LIMIT_TABLES = ("limits", "starts", "limit_keys")  # layout 4, issue 20
COUNT_TABLES = ("counts",)  # layout 5, issue 24
RUST_JOB = (
    '{"id":"5e2d8a41-7c3b-4e9f-8a1d-2b3c4d5e6f70","payload":{"to":"user@example.com"},'
    '"options":{"max_retries":5,"retry_count":0,"timeout":60000,"retry_delay":30000},'
    '"status":"Pending","created_at":1767225600,"scheduled_at":null,"last_error":null}'
)


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[MySqlBackend]:
    async with open_backend("mysql", tmp_path) as opened:
        assert isinstance(opened, MySqlBackend)
        yield opened


@pytest.fixture
def admin() -> Iterator[Any]:
    """A plain autocommit connection of our own, as an operator or a Rust producer."""
    with admin_connection() as connection:
        yield connection


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
    assert server_supports_skip_locked(version) is supported


async def test_the_spec_tables_exist_after_first_use(backend: MySqlBackend, admin: Any) -> None:
    rows = sql(
        admin,
        "SELECT table_name, engine, table_collation FROM information_schema.tables "
        "WHERE table_schema = DATABASE() AND table_name LIKE %s",
        f"{backend.namespace}\\_%",
    )
    expected = SPEC_TABLES + LIMIT_TABLES + COUNT_TABLES
    assert {row[0] for row in rows} == {f"{backend.namespace}_{table}" for table in expected}
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


def kill_connections(admin: Any, backend: MySqlBackend) -> int:
    """KILL every connection the backend has open, server-side; how many the server
    ended (one already gone is an unknown thread to it)."""
    ended = 0
    for connection_id in backend.connection_ids():
        with suppress(pymysql.err.MySQLError):  # already gone
            sql(admin, "KILL CONNECTION %s", connection_id)
            ended += 1
    return ended


@pytest.mark.slow
async def test_connection_loss_under_load_loses_nothing(backend: MySqlBackend, admin: Any) -> None:
    async def cut() -> int:
        return kill_connections(admin, backend)

    async def expire_leases() -> None:
        sql(
            admin,
            f"UPDATE `{backend.namespace}_jobs` SET lease_until = UTC_TIMESTAMP(6) "
            "- INTERVAL 1 SECOND WHERE lease_token IS NOT NULL",
        )

    await drain_through_cuts(backend, total=400, cut=cut, expire_leases=expire_leases)


def test_the_blocking_client_enqueues_inside_a_sync_transaction() -> None:
    from wg_core.blocking import BlockingClient

    namespace = fresh_namespace()
    with admin_connection() as admin:
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
            for table in SPEC_TABLES + LIMIT_TABLES + COUNT_TABLES:
                sql(admin, f"DROP TABLE IF EXISTS `{namespace}_{table}`")


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


async def test_a_batch_is_sent_as_multi_row_inserts(backend: MySqlBackend) -> None:
    # One INSERT statement (and round trip) per job made a bulk enqueue several times
    # slower than the driver's own bulk path: PyMySQL batches only a text that starts
    # with INSERT, and the block's leading comment hid it. Counted on the caller's
    # connection (a transactional enqueue): the statements the client sent it
    # (``Questions``: a trigger's own statements are not in it).
    connection = connect()
    try:

        def statements() -> int:
            with connection.cursor() as cursor:
                cursor.execute("SHOW SESSION STATUS LIKE 'Questions'")
                return int(cursor.fetchone()[1])

        before = statements()
        connection.begin()
        await backend.enqueue([new_job() for _ in range(200)], connection=connection)
        connection.commit()
        sent = statements() - before
    finally:
        connection.close()
    assert sent < 10  # the look-up of kept ids, the INSERT, BEGIN, COMMIT, SHOW
    assert (await backend.counts()).queued == 200


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


# -- errors that say what is wrong, and never show the password -----------------------

SECRET = "s3cret%21pw"


def _with(*, user: str = "root", password: str | None = None, host: str = "", db: str = "") -> str:
    """The test server's URL with some of its parts replaced."""
    url = urlsplit(URL)
    userinfo = f"{user}:{password}" if password is not None else user
    host = host or f"{url.hostname}:{url.port or 3306}"
    return f"mysql://{userinfo}@{host}/{db or url.path.lstrip('/')}"


@pytest.fixture
def throwaway_user(admin: Any) -> Iterator[str]:
    """A user with a password and no privileges, dropped afterwards."""
    name = fresh_namespace()
    sql(admin, "CREATE USER %s@'%%' IDENTIFIED BY %s", name, "right-password")
    try:
        yield name
    finally:
        sql(admin, "DROP USER %s@'%%'", name)


async def _refused(url: str) -> BaseException:
    backend = MySqlBackend(url, fresh_namespace())
    try:
        with pytest.raises(BackendConfigError) as caught:
            await backend.open()
    finally:
        await backend.close()
    assert not isinstance(caught.value, BackendUnavailableError)  # not "try later"
    return caught.value


async def test_an_unknown_database_is_a_config_error() -> None:
    refused = await _refused(_with(db="wg_no_such_database"))
    assert "1049" in str(refused)


async def test_a_wrong_password_is_a_config_error_that_does_not_show_it(
    throwaway_user: str,
) -> None:
    refused = await _refused(_with(user=throwaway_user, password=SECRET))
    assert "1045" in str(refused)
    assert_no_secret(refused, SECRET)


async def test_an_unknown_user_is_a_config_error() -> None:
    refused = await _refused(_with(user="wg_no_such_user", password=SECRET))
    assert "Access denied" in str(refused)  # 1045 on MySQL, 1698 on MariaDB
    assert_no_secret(refused, SECRET)


async def test_a_user_without_access_to_the_database_is_a_config_error(
    throwaway_user: str,
) -> None:
    refused = await _refused(_with(user=throwaway_user, password="right-password"))
    assert "1044" in str(refused)
    assert_no_secret(refused, "right-password")


async def test_an_unreachable_server_is_unavailable_without_the_password() -> None:
    backend = MySqlBackend(_with(password=SECRET, host="127.0.0.1:1"), "wg")
    try:
        with pytest.raises(BackendUnavailableError) as caught:
            await backend.open()
    finally:
        await backend.close()
    assert_no_secret(caught.value, SECRET)


@pytest.mark.parametrize(
    "url",
    [
        "mysql://root:s3cret%21pw@127.0.0.1:99999/test",
        "mysql://root:s3cret%21pw@127.0.0.1:notaport/test",
        "mysql://root:s3cret%21pw@[::1/test",
    ],
)
def test_a_malformed_url_is_a_config_error_without_the_password(url: str) -> None:
    with pytest.raises(ConfigError, match="malformed MySQL URL") as caught:
        MySqlBackend(url, "wg")
    assert_no_secret(caught.value, SECRET)
