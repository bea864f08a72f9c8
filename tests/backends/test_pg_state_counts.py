"""PostgreSQL's per-queue state counts (layout 4): kept exact by triggers on the job
tables, whoever writes (wg's verbs, a Rust producer's plain INSERT, several sessions at
once), and seeded when a layout 3 namespace is upgraded in place."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.backends import fresh_namespace, make_backend, unreachable
from tests.backends.test_sql_layout import V1_ROWS, Raw
from tests.helpers import new_job
from wg_core.backend import LAYOUT_VERSION, Backend, Completion, StateCounts
from wg_core.errors import BackendUnavailableError

LEASE = 30.0


@pytest.fixture
def raw(tmp_path: Path) -> Iterator[Raw]:
    connection = Raw("postgres", tmp_path)
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture
async def namespace(tmp_path: Path) -> AsyncIterator[str]:
    name = fresh_namespace()
    yield name
    cleaner = make_backend("postgres", name, tmp_path)
    await cleaner.open()
    await cleaner.destroy()
    await cleaner.close()


async def opened(namespace: str, tmp_path: Path) -> Backend:
    backend = make_backend("postgres", namespace, tmp_path)
    try:
        await backend.open()
    except BackendUnavailableError as exc:
        unreachable("postgres", exc)
    return backend


def scanned(raw: Raw, namespace: str, queue: str | None = None) -> tuple[int, ...]:
    """(queued, running, scheduled, retry, dead, completed, cancelled) by counting rows."""
    where = "" if queue is None else f" WHERE queue = '{queue}'"
    both = " AND " if queue is not None else " WHERE "
    t = f'"{namespace}'
    counts = []
    for sql in (
        f'SELECT count(*) FROM {t}_jobs"{where}{both}lease_token IS NULL',
        f'SELECT count(*) FROM {t}_jobs"{where}{both}lease_token IS NOT NULL',
        f'SELECT count(*) FROM {t}_scheduled"{where}',
        f'SELECT count(*) FROM {t}_retry"{where}',
        f'SELECT count(*) FROM {t}_dead"{where}',
        f"SELECT count(*) FROM {t}_finished\"{where}{both}state = 'completed'",
        f"SELECT count(*) FROM {t}_finished\"{where}{both}state = 'cancelled'",
    ):
        cursor: Any = raw.connection.execute(sql)
        counts.append(int(cursor.fetchone()[0]))
    return tuple(counts)


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


async def test_a_layout_3_namespace_is_upgraded_with_its_counts_seeded(
    raw: Raw, namespace: str, tmp_path: Path
) -> None:
    raw.script("v3/postgres.sql", namespace)
    for statement in V1_ROWS["postgres"]:
        for _ in range(2):
            job = new_job(payload={})
            raw.run(statement.replace("{ns}", namespace), (job.raw, job.job_id, job.job_name))
    backend = await opened(namespace, tmp_path)
    try:
        assert await backend.layout_version() == LAYOUT_VERSION == 4
        assert kept(await backend.counts()) == (2, 2, 2, 2, 2, 0, 0) == scanned(raw, namespace)
        # A second open finds the triggers and seeds nothing twice.
        again = await opened(namespace, tmp_path)
        await again.close()
        assert kept(await backend.counts()) == scanned(raw, namespace)
        # A Rust producer's plain insert is counted by the trigger.
        job = new_job(payload={})
        raw.run(V1_ROWS["postgres"][0].replace("{ns}", namespace), (job.raw, job.job_id, None))
        assert (await backend.counts()).queued == 3
    finally:
        await backend.close()


async def test_counts_stay_exact_under_concurrent_writers(
    raw: Raw, namespace: str, tmp_path: Path
) -> None:
    backends = [await opened(namespace, tmp_path) for _ in range(3)]
    try:

        async def churn(backend: Backend, k: int) -> None:
            for round_ in range(5):
                jobs = [new_job(payload={"n": n}, queue=f"q{n % 2}") for n in range(20)]
                await backend.enqueue(jobs)
                claimed = await backend.claim(
                    limit=15, lease=LEASE, worker_id=f"w{k}", queues=["q0", "q1"]
                )
                done = claimed[: len(claimed) // 2]
                await backend.complete([Completion(a, result=None, keep=60) for a in done])
                if round_ % 2:
                    await backend.complete(claimed[len(done) :])  # deleted, nothing kept

        await asyncio.gather(*(churn(b, k) for k, b in enumerate(backends)))
        assert kept(await backends[0].counts()) == scanned(raw, namespace)
        for queue in ("q0", "q1"):
            by_queue = await backends[1].counts(queue=queue)
            assert kept(by_queue) == scanned(raw, namespace, queue)
        infos = {info.name: kept(info.counts) for info in await backends[2].queues()}
        assert infos["q0"] == scanned(raw, namespace, "q0")
    finally:
        for backend in backends:
            await backend.close()
