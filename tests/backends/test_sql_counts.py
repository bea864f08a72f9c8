"""The state counts the servers keep (layout 5, ``wg_core/backends/sql/counting.py``):
exact under concurrent producers and workers, through rolled-back transactions, foreign
writes and (PostgreSQL) TRUNCATE, and still exact after the pruner folds the rows of
sessions gone. Each test compares ``counts()`` with ``count(*)`` of the tables."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.backends import URLS, fresh_namespace, make_backend
from tests.backends.test_sql_layout import Raw, opened
from tests.helpers import new_job, wait_until
from wg_core import backend_from_url
from wg_core.backend import Backend, StateCounts
from wg_core.errors import DuplicateJobError

QUOTE = {"postgres": '"', "mysql": "`"}
LIVE = {
    "postgres": "SELECT pid FROM pg_stat_activity",
    "mysql": "SELECT ID FROM information_schema.PROCESSLIST",
}


@pytest.fixture(params=("postgres", "mysql"))
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def raw(dialect: str, tmp_path: Path) -> Iterator[Raw]:
    connection = Raw(dialect, tmp_path)
    yield connection
    connection.close()


@pytest.fixture
async def backend(dialect: str, tmp_path: Path) -> AsyncIterator[Backend]:
    opened_backend = await opened(dialect, fresh_namespace(), tmp_path)
    try:
        yield opened_backend
    finally:
        await opened_backend.destroy()
        await opened_backend.close()


def table(raw: Raw, ns: str, name: str) -> str:
    q = QUOTE[raw.dialect]
    return f"{q}{ns}_{name}{q}"


def scanned(raw: Raw, ns: str) -> tuple[int, ...]:
    """(queued, running, scheduled, retry, dead, completed, cancelled) by count(*)."""
    jobs, finished = table(raw, ns, "jobs"), table(raw, ns, "finished")
    [row] = raw.run(
        f"SELECT (SELECT count(*) FROM {jobs} WHERE lease_token IS NULL),"
        f" (SELECT count(*) FROM {jobs} WHERE lease_token IS NOT NULL),"
        f" (SELECT count(*) FROM {table(raw, ns, 'scheduled')}),"
        f" (SELECT count(*) FROM {table(raw, ns, 'retry')}),"
        f" (SELECT count(*) FROM {table(raw, ns, 'dead')}),"
        f" (SELECT count(*) FROM {finished} WHERE state = 'completed'),"
        f" (SELECT count(*) FROM {finished} WHERE state = 'cancelled')"
    )
    return tuple(int(n) for n in row)


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
    completed, retried and buried, in two queues."""
    for n in range(rounds):
        queue = "default" if n % 2 else "mail"
        await backend.enqueue([new_job(queue=queue, priority=n % 3) for _ in range(20)])
        await backend.enqueue([new_job(queue=queue)])
        await backend.enqueue([new_job(delay=3600)])
        attempts = await backend.claim(limit=8, lease=30, worker_id="w", queues=(queue,))
        first, second, *rest = attempts
        await backend.retry(first, raw=first.raw, delay=3600, error="again")
        await backend.bury(second, raw=second.raw, error="dead")
        await backend.complete(rest)


async def test_counts_stay_exact_under_concurrent_writers(
    dialect: str, backend: Backend, raw: Raw, tmp_path: Path
) -> None:
    ns = backend.namespace
    others = [make_backend(dialect, ns, tmp_path) for _ in range(3)]
    for other in others:
        await other.open()
    try:
        await asyncio.gather(*(work(b, 6) for b in (backend, *others)))
        assert kept(await backend.counts()) == scanned(raw, ns)
        [(shards,)] = raw.run(f"SELECT count(DISTINCT shard) FROM {table(raw, ns, 'counts')}")
        assert shards >= 2  # each writing session kept rows of its own
    finally:
        for other in others:
            await other.close()

    async def folded() -> bool:
        # A closed session's server process ends a moment later: prune (as the pruner
        # does) until every row of a session gone is folded into shard 0.
        assert await backend.prune(limit=100) == 0
        [(left,)] = raw.run(
            f"SELECT count(*) FROM {table(raw, ns, 'counts')} "
            f"WHERE shard <> 0 AND shard NOT IN ({LIVE[dialect]})"
        )
        return bool(left == 0)

    await wait_until(folded)
    [(zero,)] = raw.run(f"SELECT count(*) FROM {table(raw, ns, 'counts')} WHERE shard = 0")
    assert zero > 0
    assert kept(await backend.counts()) == scanned(raw, ns)
    assert sum(q.counts.queued for q in await backend.queues()) == scanned(raw, ns)[0]


async def test_a_rolled_back_enqueue_is_not_counted(
    dialect: str, backend: Backend, tmp_path: Path
) -> None:
    if dialect == "postgres":
        import psycopg

        async with await psycopg.AsyncConnection.connect(URLS["postgres"]) as connection:
            await backend.enqueue([new_job(), new_job()], connection=connection)
            await connection.rollback()
    else:
        caller = Raw("mysql", tmp_path)  # the caller's own PyMySQL connection
        try:
            caller.connection.autocommit(False)
            await backend.enqueue([new_job(), new_job()], connection=caller.connection)
            caller.connection.rollback()
        finally:
            caller.close()
    assert (await backend.counts()).queued == 0


async def test_foreign_writes_are_counted(dialect: str, backend: Backend, raw: Raw) -> None:
    ns = backend.namespace
    jobs = table(raw, ns, "jobs")
    await backend.enqueue([new_job() for _ in range(5)])
    await backend.claim(limit=2, lease=30, worker_id="w")
    raw.run(f"INSERT INTO {jobs} (job_json) VALUES (%s)", (new_job().raw,))
    raw.run(f"UPDATE {jobs} SET queue = %s WHERE lease_token IS NULL", ("moved",))
    assert kept(await backend.counts(queue="moved")) == (4, 0, 0, 0, 0, 0, 0)
    assert (await backend.counts()).running == 2
    raw.run(f"DELETE FROM {jobs} WHERE queue = %s", ("moved",))
    assert kept(await backend.counts()) == (0, 2, 0, 0, 0, 0, 0)
    if dialect == "postgres":  # MySQL's TRUNCATE fires no trigger (docs/mysql.md)
        raw.run(f"TRUNCATE {jobs}")
        assert kept(await backend.counts()) == (0,) * 7
        assert [q.name for q in await backend.queues()] == ["default"]


async def test_a_failed_batch_leaves_the_connection_counted(raw: Raw, dialect: str) -> None:
    # MySQL: a bulk enqueue counts its own rows with the triggers off for its INSERT; a
    # batch refused half-way must turn them back on for whatever that connection runs
    # next (one connection, so the next statements run on it).
    from wg_core.backends.mysql import MySqlBackend

    if dialect != "mysql":
        pytest.skip("the triggers-off window is MySQL's")
    backend = MySqlBackend(URLS["mysql"], fresh_namespace(), pool_size=1)
    await backend.open()
    try:
        taken = new_job()
        await backend.enqueue([taken])
        with pytest.raises(DuplicateJobError):
            await backend.enqueue([new_job(), taken])
        await backend.enqueue([new_job()])  # one job: counted by the triggers
        [attempt] = await backend.claim(limit=1, lease=30, worker_id="w")
        await backend.bury(attempt, raw=attempt.raw, error="x")  # trigger-counted too
        assert kept(await backend.counts()) == scanned(raw, backend.namespace)
        assert kept(await backend.counts()) == (1, 0, 0, 0, 1, 0, 0)
    finally:
        await backend.destroy()
        await backend.close()


async def test_a_truncate_is_repaired_by_recount(dialect: str, backend: Backend, raw: Raw) -> None:
    """MySQL's TRUNCATE fires no trigger: the counts go wrong until ``recount``, which
    makes them the tables' count again (on PostgreSQL they were right all along)."""
    ns = backend.namespace
    await backend.enqueue([new_job() for _ in range(3)])
    await backend.enqueue([new_job(delay=3600) for _ in range(2)])
    raw.run(f"TRUNCATE {table(raw, ns, 'scheduled')}")
    before = kept(await backend.counts())
    assert before == ((3, 0, 2, 0, 0, 0, 0) if dialect == "mysql" else (3, 0, 0, 0, 0, 0, 0))
    assert await backend.recount() is True
    assert kept(await backend.counts()) == scanned(raw, ns) == (3, 0, 0, 0, 0, 0, 0)
    # Counted again from there: the triggers still count every write.
    await backend.enqueue([new_job(delay=3600)])
    assert kept(await backend.counts()) == scanned(raw, ns) == (3, 0, 1, 0, 0, 0, 0)


def skew(raw: Raw, ns: str, state: str, n: int) -> None:
    """A counter row no write made (``n`` more ``state`` jobs in ``default``), as a
    writer that bypassed the triggers would leave them wrong."""
    columns, values = "queue, state, shard, n", "'default', %s, -7, %s"
    if raw.dialect == "postgres":
        columns, values = "queue, state, priority, shard, n", "'default', %s, 0, -7, %s"
    raw.run(f"INSERT INTO {table(raw, ns, 'counts')} ({columns}) VALUES ({values})", (state, n))


async def test_counts_that_cannot_be_right_are_recounted_when_read(
    backend: Backend, raw: Raw
) -> None:
    """A negative count, or queued jobs counted while no queued row is left (the jobs
    table emptied behind the triggers' back, as MySQL's TRUNCATE does): ``counts``
    recounts before it answers."""
    ns = backend.namespace
    await backend.enqueue([new_job() for _ in range(4)])
    skew(raw, ns, "dead", -2)
    assert kept(await backend.counts()) == scanned(raw, ns) == (4, 0, 0, 0, 0, 0, 0)
    raw.run(f"TRUNCATE {table(raw, ns, 'jobs')}")
    skew(raw, ns, "jobs", 3)
    assert kept(await backend.counts()) == scanned(raw, ns) == (0,) * 7


async def test_a_role_that_cannot_recount_still_reads_its_counts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The repair on read is best effort: on PostgreSQL a role that writes jobs but does
    not own the tables cannot re-create the triggers; its ``counts`` answer (as kept),
    and the log says whom to ask."""
    raw = Raw("postgres", tmp_path)
    namespace, role = fresh_namespace(), "wg" + fresh_namespace()
    owner = await opened("postgres", namespace, tmp_path)
    try:
        raw.run(f"CREATE ROLE {role} LOGIN")
        try:
            raw.run(
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"
            )
            await owner.enqueue([new_job()])
            skew(raw, namespace, "dead", -1)
            url = URLS["postgres"].replace("postgres@", f"{role}@", 1)
            writer = backend_from_url(url, namespace)
            await writer.open(create=False)
            try:
                assert kept(await writer.counts())[:5] == (1, 0, 0, 0, -1)
            finally:
                await writer.close()
            assert "run `wg status --recount` as the owner" in caplog.text
            assert kept(await owner.counts()) == (1, 0, 0, 0, 0, 0, 0)  # the owner repairs
        finally:
            raw.run(f"DROP OWNED BY {role}")
            raw.run(f"DROP ROLE {role}")
    finally:
        await owner.destroy()
        await owner.close()
        raw.close()
