"""Layout versions of the SQL engine, on each dialect: a namespace written by an earlier
wg (layout 2: the ``schema`` block as of commit 6462b55, kept verbatim under
``layouts/v2/``; layout 1: as of commit 1f76d15, under ``layouts/``) or by the Rust wg
(layout 0) is refused by readers and upgraded in place by a writer's ``open``, losing
and re-running nothing."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.backends import URLS, fresh_namespace, make_backend, unreachable
from tests.helpers import new_job
from wg_core.backend import (
    LAYOUT_VERSION,
    Backend,
    CancelOutcome,
    Completion,
    JobState,
    Move,
    Progress,
    WorkerInfo,
)
from wg_core.errors import BackendUnavailableError, SchemaOutdatedError

LAYOUTS = Path(__file__).parent / "layouts"
DIALECTS = ("sqlite", "postgres", "mysql")
PAST_MS = 1_000  # a due time long past, in SQLite's milliseconds


class Raw:
    """A plain connection of the dialect's own driver: builds old layouts, writes rows
    the way the old code (or a Rust producer) did, and looks at the catalog."""

    def __init__(self, dialect: str, tmp_path: Path) -> None:
        self.dialect = dialect
        self.connection: Any
        if dialect == "sqlite":
            self.connection = sqlite3.connect(tmp_path / "wg.db", isolation_level=None)
        elif dialect == "postgres":
            import psycopg

            try:
                self.connection = psycopg.connect(URLS["postgres"], autocommit=True)
            except psycopg.OperationalError as exc:
                unreachable(dialect, exc)
        else:
            import pymysql

            url = urlsplit(URLS["mysql"])
            try:
                self.connection = pymysql.connect(
                    host=url.hostname,
                    port=url.port or 3306,
                    user=url.username or "root",
                    password=url.password or "",
                    database=url.path.lstrip("/"),
                    autocommit=True,
                )
            except pymysql.err.OperationalError as exc:
                unreachable(dialect, exc)

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """One statement, ``%s`` placeholders (``?`` on SQLite)."""
        if self.dialect == "sqlite":
            return self.connection.execute(sql.replace("%s", "?"), params).fetchall()
        cursor = self.connection.cursor()
        try:
            cursor.execute(sql, params or None)
            return list(cursor.fetchall()) if cursor.description else []
        finally:
            cursor.close()

    def script(self, filename: str, namespace: str) -> None:
        """Every statement of a layout file, for ``namespace``."""
        text = (LAYOUTS / filename).read_text().replace("{ns}", namespace)
        lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
        for statement in "\n".join(lines).split(";\n"):
            if statement.strip():
                self.run(statement)

    def catalog(self, namespace: str) -> set[tuple[str, str]]:
        """(table, column) of every table of ``namespace``: what an upgrade would change."""
        if self.dialect == "sqlite":
            query = (
                "SELECT m.name, p.name FROM sqlite_master AS m, pragma_table_info(m.name) AS p "
                "WHERE m.type = 'table' AND m.name LIKE %s ESCAPE '\\'"
            )
        else:
            where = "current_schema()" if self.dialect == "postgres" else "DATABASE()"
            query = (
                "SELECT table_name, column_name FROM information_schema.columns "
                f"WHERE table_schema = {where} AND table_name LIKE %s"
            )
        return {(str(t), str(c)) for t, c in self.run(query, (f"{namespace}\\_%",))}

    def close(self) -> None:
        self.connection.close()


# Rows in every state, written as layout 1 stored them (dialect by dialect, times in the
# past so that the scheduled and retried jobs are due and the running one's lease is over).
V1_ROWS = {
    "postgres": (
        'INSERT INTO "{ns}_jobs" (job_json, job_id, job_name) VALUES (%s, %s, %s)',
        'INSERT INTO "{ns}_jobs" (job_json, job_id, job_name, lease_token, lease_until, '
        "worker_id, claimed_at) VALUES (%s, %s, %s, 'old-1', now() - interval '1 hour', "
        "'gone', now() - interval '2 hours')",
        'INSERT INTO "{ns}_scheduled" (job_json, job_id, job_name, run_at) VALUES (%s, %s, %s, 1)',
        'INSERT INTO "{ns}_retry" (job_json, job_id, job_name, retry_at, last_error) '
        "VALUES (%s, %s, %s, 1, 'boom')",
        'INSERT INTO "{ns}_dead" (job_json, job_id, job_name, last_error) '
        "VALUES (%s, %s, %s, 'fatal')",
    ),
    "mysql": (
        "INSERT INTO `{ns}_jobs` (job_json, job_id, job_name) VALUES (%s, %s, %s)",
        "INSERT INTO `{ns}_jobs` (job_json, job_id, job_name, lease_token, lease_until, "
        "worker_id, claimed_at) VALUES (%s, %s, %s, 'old-1', UTC_TIMESTAMP(6) - INTERVAL 1 HOUR, "
        "'gone', UTC_TIMESTAMP(6) - INTERVAL 2 HOUR)",
        "INSERT INTO `{ns}_scheduled` (job_json, job_id, job_name, run_at) VALUES (%s, %s, %s, 1)",
        "INSERT INTO `{ns}_retry` (job_json, job_id, job_name, retry_at, last_error) "
        "VALUES (%s, %s, %s, 1, 'boom')",
        "INSERT INTO `{ns}_dead` (job_json, job_id, job_name, last_error) "
        "VALUES (%s, %s, %s, 'fatal')",
    ),
    "sqlite": (
        'INSERT INTO "{ns}_jobs" (job_json, job_id, job_name, enqueued_at) '
        f"VALUES (%s, %s, %s, {PAST_MS})",
        'INSERT INTO "{ns}_jobs" (job_json, job_id, job_name, enqueued_at, lease_token, '
        f"lease_until, worker_id, claimed_at) VALUES (%s, %s, %s, {PAST_MS}, 'old-1', "
        f"{PAST_MS}, 'gone', {PAST_MS})",
        'INSERT INTO "{ns}_scheduled" (job_json, job_id, job_name, run_at, run_at_ms, '
        f"enqueued_at) VALUES (%s, %s, %s, 1, {PAST_MS}, {PAST_MS})",
        'INSERT INTO "{ns}_retry" (job_json, job_id, job_name, retry_at, retry_at_ms, '
        f"last_error, enqueued_at) VALUES (%s, %s, %s, 1, {PAST_MS}, 'boom', {PAST_MS})",
        'INSERT INTO "{ns}_dead" (job_json, job_id, job_name, last_error, died_at) '
        f"VALUES (%s, %s, %s, 'fatal', {PAST_MS})",
    ),
}
V1_TABLES = ("jobs", "scheduled", "retry", "dead", "workers", "meta")
STATES = (JobState.QUEUED, JobState.RUNNING, JobState.SCHEDULED, JobState.RETRY, JobState.DEAD)

# Layout 1's counters: processed 7, failed 2 (the servers' sharded rows, SQLite's one row),
# and a registered worker (layout 1 knew nothing of its queues).
V1_COUNTERS = {
    "postgres": (
        "INSERT INTO \"{ns}_meta\" (name, shard, value) VALUES ('processed', 3, 5), "
        "('processed', 9, 2), ('failed', 0, 2)",
        'INSERT INTO "{ns}_workers" (worker_id, host, pid, concurrency, started_at) '
        "VALUES ('w-old', 'h', 1, 4, 1)",
    ),
    "mysql": (
        "INSERT INTO `{ns}_meta` (name, shard, value) VALUES ('processed', 3, 5), "
        "('processed', 9, 2), ('failed', 0, 2)",
        "INSERT INTO `{ns}_workers` (worker_id, host, pid, concurrency, started_at, job_names) "
        "VALUES ('w-old', 'h', 1, 4, 1, '[]')",
    ),
    "sqlite": (
        'UPDATE "{ns}_meta" SET processed = 7, failed = 2 WHERE id = 1',
        'INSERT INTO "{ns}_workers" (worker_id, host, pid, concurrency, started_at, last_seen) '
        f"VALUES ('w-old', 'h', 1, 4, 1, {int(time.time() * 1000)})",
    ),
}
RUST_INSERT = {
    "postgres": 'INSERT INTO "{ns}_jobs" (job_json) VALUES (%s)',
    "mysql": "INSERT INTO `{ns}_jobs` (job_json) VALUES (%s)",
    "sqlite": 'INSERT INTO "{ns}_jobs" (job_json) VALUES (%s)',
}


@pytest.fixture(params=DIALECTS)
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def raw(dialect: str, tmp_path: Path) -> Iterator[Raw]:
    connection = Raw(dialect, tmp_path)
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture
async def namespace(dialect: str, tmp_path: Path) -> AsyncIterator[str]:
    name = fresh_namespace()
    yield name
    cleaner = make_backend(dialect, name, tmp_path)
    await cleaner.open()  # upgrades whatever a failed test left, then drops it all
    await cleaner.destroy()
    await cleaner.close()


def write_v1(raw: Raw, namespace: str) -> dict[JobState, str]:
    """A layout 1 namespace with one job in each state and counters; the job ids."""
    raw.script(f"v1_{raw.dialect}.sql", namespace)
    ids = {}
    for state, statement in zip(STATES, V1_ROWS[raw.dialect], strict=True):
        job = new_job(payload={"state": state.value})
        raw.run(statement.replace("{ns}", namespace), (job.raw, job.job_id, job.job_name))
        ids[state] = job.job_id
    for statement in V1_COUNTERS[raw.dialect]:
        raw.run(statement.replace("{ns}", namespace))
    return ids


async def opened(dialect: str, namespace: str, tmp_path: Path, *, create: bool = True) -> Backend:
    backend = make_backend(dialect, namespace, tmp_path)
    try:
        await backend.open(create=create)
    except BackendUnavailableError as exc:
        unreachable(dialect, exc)
    return backend


async def test_a_reader_refuses_layout_1_and_changes_nothing(
    dialect: str, raw: Raw, namespace: str, tmp_path: Path
) -> None:
    write_v1(raw, namespace)
    before = raw.catalog(namespace)
    reader = make_backend(dialect, namespace, tmp_path)
    with pytest.raises(SchemaOutdatedError, match="layout 0, older") as refused:
        await reader.open(create=False)
    assert refused.value.found == 0  # layout 1 recorded no version
    assert raw.catalog(namespace) == before
    assert {table for table, _ in before} == {f"{namespace}_{t}" for t in V1_TABLES}
    assert not any(column in {"queue", "priority"} for _, column in before)


async def test_a_writer_upgrades_layout_1_keeping_every_job_and_counter(
    dialect: str, raw: Raw, namespace: str, tmp_path: Path
) -> None:
    ids = write_v1(raw, namespace)
    backend = await opened(dialect, namespace, tmp_path)
    try:
        assert await backend.layout_version() == LAYOUT_VERSION
        counts = await backend.counts()
        assert (counts.queued, counts.running, counts.scheduled, counts.retry, counts.dead) == (
            1,
            1,
            1,
            1,
            1,
        )
        for state, job_id in ids.items():
            stored = await backend.get_job(job_id)
            assert stored is not None
            assert (stored.state, stored.queue, stored.priority) == (state, "default", 0)
        counters = await backend.counters()
        assert (counters.processed, counters.failed) == (7, 2)
        assert await backend.counters(queue="default") == counters
        [info] = await backend.queues()
        assert (info.name, info.counters, info.counts.dead) == ("default", counters, 1)
        [worker] = await backend.list_workers()
        assert (worker.worker_id, worker.queues) == ("w-old", ("default",))

        # Every job moves on as it would have: promoted, claimed, reclaimed, requeued.
        assert await backend.promote(JobState.SCHEDULED, limit=10) == 1
        assert await backend.promote(JobState.RETRY, limit=10) == 1
        [reclaimed] = await backend.reclaim_expired(limit=10, lease=30, worker_id="reaper")
        assert ids[JobState.RUNNING] in reclaimed.raw
        dead = await backend.get_job(ids[JobState.DEAD])
        assert dead is not None
        assert await backend.move_to_queue([Move(ids[JobState.DEAD], JobState.DEAD, dead.raw)])
        rust_job = new_job(payload={"from": "rust"})
        raw.run(RUST_INSERT[dialect].replace("{ns}", namespace), (rust_job.raw,))
        claimed = await backend.claim(limit=10, lease=30, worker_id="w", queues=("default",))
        order = [JobState.QUEUED, JobState.SCHEDULED, JobState.RETRY, JobState.DEAD]
        assert [a.raw for a in claimed] == [
            *[stored.raw for state in order if (stored := await backend.get_job(ids[state]))],
            rust_job.raw,
        ]
        assert await backend.complete([*claimed, reclaimed]) == len(claimed) + 1
        assert (await backend.counters()).processed == 7 + len(claimed) + 1
    finally:
        await backend.close()

    # Opening again changes nothing (and a reader now opens).
    catalog = raw.catalog(namespace)
    again = await opened(dialect, namespace, tmp_path)
    reader = await opened(dialect, namespace, tmp_path, create=False)
    try:
        assert raw.catalog(namespace) == catalog
        assert await reader.layout_version() == LAYOUT_VERSION
        assert (await reader.counters()).processed == 7 + len(claimed) + 1
    finally:
        await again.close()
        await reader.close()


async def test_writers_opening_at_once_upgrade_it_once(
    dialect: str, raw: Raw, namespace: str, tmp_path: Path
) -> None:
    ids = write_v1(raw, namespace)
    backends = [make_backend(dialect, namespace, tmp_path) for _ in range(3)]
    try:
        await asyncio.gather(*(backend.open() for backend in backends))
        for backend in backends:
            assert await backend.layout_version() == LAYOUT_VERSION
        counts = await backends[0].counts()
        assert counts.total == len(ids)
        assert (await backends[1].counters()).processed == 7
    finally:
        for backend in backends:
            await backend.close()


async def test_a_namespace_the_rust_wg_created_is_upgraded(
    dialect: str, raw: Raw, namespace: str, tmp_path: Path
) -> None:
    raw.script(f"v0_{dialect}.sql", namespace)
    rust_job = new_job(payload={"from": "rust"})
    raw.run(RUST_INSERT[dialect].replace("{ns}", namespace), (rust_job.raw,))
    with pytest.raises(SchemaOutdatedError):
        await make_backend(dialect, namespace, tmp_path).open(create=False)
    backend = await opened(dialect, namespace, tmp_path)
    try:
        assert await backend.layout_version() == LAYOUT_VERSION
        job = new_job()
        await backend.enqueue([job])
        claimed = await backend.claim(limit=10, lease=30, worker_id="w")
        assert [a.raw for a in claimed] == [rust_job.raw, job.raw]
        stored = await backend.get_job(job.job_id)
        assert stored is not None
        assert (stored.queue, stored.priority) == ("default", 0)
    finally:
        await backend.close()


# -- layout 2 (queues and priorities) -> 3 (finished jobs, cancel requests, progress) -----

V2_QUEUE, V2_PRIORITY = "mail", 3
V2_COUNTERS = {
    # Layout 1's counters of the queue default (above), plus the queue mail's own and a
    # paused queue, as layout 2 stored them.
    "postgres": (
        "INSERT INTO \"{ns}_meta\" (name, shard, value) VALUES ('processed:mail', 1, 4), "
        "('failed:mail', 5, 1)",
        "INSERT INTO \"{ns}_queues\" (name, paused) VALUES ('archive', true)",
        'UPDATE "{ns}_workers" SET queues = \'["mail","default"]\'',
    ),
    "mysql": (
        "INSERT INTO `{ns}_meta` (name, shard, value) VALUES ('processed:mail', 1, 4), "
        "('failed:mail', 5, 1)",
        "INSERT INTO `{ns}_queues` (name, paused) VALUES ('archive', TRUE)",
        'UPDATE `{ns}_workers` SET queues = \'["mail","default"]\'',
    ),
    "sqlite": (
        'INSERT INTO "{ns}_queues" (name, paused, processed, failed) '
        "VALUES ('mail', 0, 4, 1), ('archive', 1, 0, 0)",
        'UPDATE "{ns}_workers" SET queues = \'["mail","default"]\'',
    ),
}
V2_TABLES = (*V1_TABLES, "queues")
LIMIT_TABLES = ("limits", "starts", "limit_keys")  # layout 4 (issue 20)


def write_v2(raw: Raw, namespace: str) -> dict[JobState, str]:
    """A layout 2 namespace (main's DDL before layout 3, kept under layouts/v2/) with one
    job of the queue mail at priority 3 in each state, counters of two queues, a paused
    queue and a registered worker; the job ids."""
    raw.script(f"v2/{raw.dialect}.sql", namespace)
    ids = {}
    for state, statement in zip(STATES, V1_ROWS[raw.dialect], strict=True):
        # Layout 2's rows: layout 1's, with their queue and priority.
        statement = statement.replace(
            "(job_json, job_id, job_name", "(job_json, job_id, job_name, queue, priority"
        ).replace("VALUES (%s, %s, %s", "VALUES (%s, %s, %s, %s, %s")
        job = new_job(payload={"state": state.value}, queue=V2_QUEUE, priority=V2_PRIORITY)
        raw.run(
            statement.replace("{ns}", namespace),
            (job.raw, job.job_id, job.job_name, V2_QUEUE, V2_PRIORITY),
        )
        ids[state] = job.job_id
    for statement in (*V1_COUNTERS[raw.dialect], *V2_COUNTERS[raw.dialect]):
        raw.run(statement.replace("{ns}", namespace))
    return ids


async def test_a_reader_refuses_layout_2_and_changes_nothing(
    dialect: str, raw: Raw, namespace: str, tmp_path: Path
) -> None:
    write_v2(raw, namespace)
    before = raw.catalog(namespace)
    reader = make_backend(dialect, namespace, tmp_path)
    with pytest.raises(SchemaOutdatedError, match="layout 2, older") as refused:
        await reader.open(create=False)
    assert refused.value.found == 2
    assert raw.catalog(namespace) == before
    assert {table for table, _ in before} == {f"{namespace}_{t}" for t in V2_TABLES}
    assert not any(column == "cancel_requested" for _, column in before)


async def test_a_writer_upgrades_layout_2_keeping_every_job_and_counter(
    dialect: str, raw: Raw, namespace: str, tmp_path: Path
) -> None:
    ids = write_v2(raw, namespace)
    backend = await opened(dialect, namespace, tmp_path)
    try:
        assert await backend.layout_version() == LAYOUT_VERSION
        counts = await backend.counts(queue=V2_QUEUE)
        assert (counts.queued, counts.running, counts.scheduled, counts.retry, counts.dead) == (
            1,
            1,
            1,
            1,
            1,
        )
        assert (counts.completed, counts.cancelled) == (0, 0)
        for state, job_id in ids.items():
            stored = await backend.get_job(job_id)
            assert stored is not None
            assert (stored.state, stored.queue, stored.priority) == (state, V2_QUEUE, V2_PRIORITY)
            assert (stored.result, stored.progress, stored.cancel_requested) == (None, None, False)
        counters = await backend.counters()
        assert (counters.processed, counters.failed) == (7 + 4, 2 + 1)
        mail = await backend.counters(queue=V2_QUEUE)
        assert (mail.processed, mail.failed) == (4, 1)
        assert await backend.is_paused(queue="archive")
        assert not await backend.is_paused(queue=V2_QUEUE)
        [worker] = await backend.list_workers()
        assert worker.queues == (V2_QUEUE, "default")

        # The old jobs take every new path: a waiting one is cancelled, the reaped one
        # completes with a result, a Rust producer's plain insert still runs.
        assert await backend.cancel(ids[JobState.QUEUED], keep=60) is CancelOutcome.CANCELLED
        [reclaimed] = await backend.reclaim_expired(limit=10, lease=30, worker_id="reaper")
        assert (reclaimed.queue, reclaimed.cancel_requested) == (V2_QUEUE, False)
        assert await backend.set_progress(reclaimed, Progress(0.5, "half"))
        assert await backend.complete([Completion(reclaimed, result='"ok"', keep=60)]) == 1
        done = await backend.get_job(ids[JobState.RUNNING])
        assert done is not None
        assert (done.state, done.result, done.queue, done.priority) == (
            JobState.COMPLETED,
            '"ok"',
            V2_QUEUE,
            V2_PRIORITY,
        )
        assert done.progress is not None
        assert done.progress.message == "half"
        assert await backend.cancel(ids[JobState.DEAD], keep=60) is CancelOutcome.CANCELLED
        rust_job = new_job(payload={"from": "rust"})
        raw.run(RUST_INSERT[dialect].replace("{ns}", namespace), (rust_job.raw,))
        [claimed] = await backend.claim(limit=10, lease=30, worker_id="w")
        assert (claimed.raw, claimed.queue) == (rust_job.raw, "default")
        assert await backend.cancel(rust_job.job_id, keep=60) is CancelOutcome.REQUESTED
        reply = await backend.heartbeat(WorkerInfo("w", "h", 1, 1), attempts=[claimed], lease=30)
        assert reply.cancelled == frozenset({claimed.token})
        counts = await backend.counts(queue=V2_QUEUE)
        assert (counts.queued, counts.running, counts.completed, counts.cancelled) == (0, 0, 1, 2)
        assert (await backend.counters(queue=V2_QUEUE)).processed == 4 + 1
    finally:
        await backend.close()

    # Opening again changes nothing (and a reader now opens).
    catalog = raw.catalog(namespace)
    tables = (*V2_TABLES, "finished", "unique", "periodic", *LIMIT_TABLES)  # layouts 3, 4
    if dialect != "sqlite":
        tables += ("counts",)  # layout 5: the state counts its triggers keep
    assert {table for table, _ in catalog} == {f"{namespace}_{t}" for t in tables}
    again = await opened(dialect, namespace, tmp_path)
    reader = await opened(dialect, namespace, tmp_path, create=False)
    try:
        assert raw.catalog(namespace) == catalog
        assert await reader.layout_version() == LAYOUT_VERSION
        assert (await reader.counts()).completed == 1
    finally:
        await again.close()
        await reader.close()


async def test_writers_opening_layout_2_at_once_upgrade_it_once(
    dialect: str, raw: Raw, namespace: str, tmp_path: Path
) -> None:
    ids = write_v2(raw, namespace)
    backends = [make_backend(dialect, namespace, tmp_path) for _ in range(3)]
    try:
        await asyncio.gather(*(backend.open() for backend in backends))
        for backend in backends:
            assert await backend.layout_version() == LAYOUT_VERSION
        counts = await backends[0].counts()
        assert counts.total == len(ids)
        assert (await backends[1].counters()).processed == 7 + 4
        columns = [column for table, column in raw.catalog(namespace)]
        assert columns.count("cancel_requested") == 1
    finally:
        for backend in backends:
            await backend.close()
