"""PostgreSQL's trigger-kept state counts (layout 5, ``wg_core/backends/sql/counting.py``):
exact under concurrent producers and workers, through rolled-back transactions and
TRUNCATE, and still exact after the pruner folds the rows of sessions gone. Each test
compares ``counts()`` with ``count(*)`` of the tables themselves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.backends import URLS, open_backend, unreachable
from tests.helpers import new_job, wait_until
from wg_core.backend import Backend, StateCounts

psycopg = pytest.importorskip("psycopg")

from wg_core.backends.postgres import PostgresBackend  # noqa: E402

URL = URLS["postgres"]


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


async def scanned(admin: Any, ns: str) -> tuple[int, ...]:
    """(queued, running, scheduled, retry, dead, completed, cancelled) by count(*)."""
    cursor = await admin.execute(
        f'SELECT (SELECT count(*) FROM "{ns}_jobs" WHERE lease_token IS NULL),'
        f' (SELECT count(*) FROM "{ns}_jobs" WHERE lease_token IS NOT NULL),'
        f' (SELECT count(*) FROM "{ns}_scheduled"), (SELECT count(*) FROM "{ns}_retry"),'
        f' (SELECT count(*) FROM "{ns}_dead"),'
        f" (SELECT count(*) FROM \"{ns}_finished\" WHERE state = 'completed'),"
        f" (SELECT count(*) FROM \"{ns}_finished\" WHERE state = 'cancelled')"
    )
    return tuple(int(n) for n in await cursor.fetchone())


def kept(counts: StateCounts) -> tuple[int, ...]:
    return (
        counts.queued,
        counts.running,
        counts.scheduled,
        counts.retry,
        counts.dead,
        counts.completed,
        counts.cancelled,
    )


async def work(backend: Backend, rounds: int) -> None:
    """A producer and worker at once: bulk and single enqueues, scheduled jobs, claims
    completed (some kept), retried and buried, in two queues."""
    for n in range(rounds):
        queue = "default" if n % 2 else "mail"
        jobs = [new_job(queue=queue, priority=n % 3) for _ in range(20)]
        await backend.enqueue(jobs)
        await backend.enqueue([new_job(delay=3600)])
        attempts = await backend.claim(limit=8, lease=30, worker_id="w", queues=(queue,))
        first, second, *rest = attempts
        await backend.retry(first, raw=first.raw, delay=3600, error="again")
        await backend.bury(second, raw=second.raw, error="dead")
        await backend.complete(rest)


async def test_counts_stay_exact_under_concurrent_writers(
    backend: PostgresBackend, admin: Any
) -> None:
    others = [PostgresBackend(URL, backend.namespace) for _ in range(3)]
    for other in others:
        await other.open()
    try:
        await asyncio.gather(*(work(b, 6) for b in (backend, *others)))
        assert kept(await backend.counts()) == await scanned(admin, backend.namespace)
        cursor = await admin.execute(
            f'SELECT count(DISTINCT shard) FROM "{backend.namespace}_counts" WHERE shard <> 0'
        )
        # Each writing session kept rows of its own: nobody waited on a shared one.
        assert (await cursor.fetchone())[0] >= 2
    finally:
        for other in others:
            await other.close()

    async def folded() -> bool:
        # The server ends a closed session's process a moment after: prune (as the
        # pruner does) until every row of a session gone is folded into shard 0.
        assert await backend.prune(limit=100) == 0
        cursor = await admin.execute(
            f'SELECT count(*) FROM "{backend.namespace}_counts" '
            "WHERE shard <> 0 AND shard NOT IN (SELECT pid FROM pg_stat_activity)"
        )
        return bool((await cursor.fetchone())[0] == 0)

    await wait_until(folded)
    cursor = await admin.execute(
        f'SELECT count(*) FROM "{backend.namespace}_counts" WHERE shard = 0'
    )
    assert (await cursor.fetchone())[0] > 0
    assert kept(await backend.counts()) == await scanned(admin, backend.namespace)


async def test_a_rolled_back_enqueue_is_not_counted(backend: PostgresBackend) -> None:
    async with await psycopg.AsyncConnection.connect(URL) as connection:
        await backend.enqueue([new_job(), new_job()], connection=connection)
        await connection.rollback()
    assert (await backend.counts()).queued == 0


async def test_truncate_and_foreign_writes_are_counted(
    backend: PostgresBackend, admin: Any
) -> None:
    ns = backend.namespace
    await backend.enqueue([new_job() for _ in range(5)])
    await backend.claim(limit=2, lease=30, worker_id="w")
    await admin.execute(f'INSERT INTO "{ns}_jobs" (job_json) VALUES (%s)', [new_job().raw])
    await admin.execute(f'UPDATE "{ns}_jobs" SET queue = %s WHERE lease_token IS NULL', ["moved"])
    assert kept(await backend.counts(queue="moved")) == (4, 0, 0, 0, 0, 0, 0)
    assert (await backend.counts()).running == 2
    await admin.execute(f'TRUNCATE "{ns}_jobs"')
    assert kept(await backend.counts()) == (0,) * 7
    assert [q.name for q in await backend.queues()] == ["default"]
