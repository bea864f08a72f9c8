"""Layout 3 -> 4 of the SQL engine for queue limits (issue 20), on each dialect: a
namespace written by the wg before limits (its ``schema`` block kept verbatim under
``layouts/v3/``) is refused by readers and upgraded in place by a writer's ``open``:
the limit tables are created, the jobs already there are claimed under a new limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.backends import make_backend
from tests.backends.test_sql_layout import Raw, dialect, namespace, opened, raw
from tests.helpers import new_job
from wg_core.backend import LAYOUT_VERSION, QueueLimit
from wg_core.errors import SchemaOutdatedError

__all__ = ["dialect", "namespace", "raw"]  # the fixtures, shared with test_sql_layout

LIMIT_TABLES = ("limits", "starts", "limit_keys")
JOB_INSERT = {
    "postgres": 'INSERT INTO "{ns}_jobs" (job_json, job_id, job_name, queue) '
    "VALUES (%s, %s, %s, %s)",
    "mysql": "INSERT INTO `{ns}_jobs` (job_json, job_id, job_name, queue) VALUES (%s, %s, %s, %s)",
    "sqlite": 'INSERT INTO "{ns}_jobs" (job_json, job_id, job_name, queue, enqueued_at) '
    "VALUES (%s, %s, %s, %s, 1000)",
}


def write_v3(raw: Raw, namespace: str) -> list[str]:
    """A layout 3 namespace with three queued jobs of the queue ``api``; their ids."""
    raw.script(f"v3/{raw.dialect}.sql", namespace)
    ids = []
    for n in range(3):
        job = new_job(payload={"n": n}, queue="api")
        raw.run(
            JOB_INSERT[raw.dialect].replace("{ns}", namespace),
            (job.raw, job.job_id, job.job_name, "api"),
        )
        ids.append(job.job_id)
    return ids


def tables(raw: Raw, namespace: str) -> set[str]:
    return {table for table, _ in raw.catalog(namespace)}


async def test_a_reader_refuses_layout_3(
    dialect: str, raw: Raw, namespace: str, tmp_path: Path
) -> None:
    write_v3(raw, namespace)
    before = raw.catalog(namespace)
    reader = make_backend(dialect, namespace, tmp_path)
    with pytest.raises(SchemaOutdatedError, match="layout 3, older"):
        await reader.open(create=False)
    assert raw.catalog(namespace) == before
    assert not tables(raw, namespace) & {f"{namespace}_{t}" for t in LIMIT_TABLES}


async def test_a_writer_upgrades_layout_3_and_limits_its_jobs(
    dialect: str, raw: Raw, namespace: str, tmp_path: Path
) -> None:
    ids = write_v3(raw, namespace)
    backend = await opened(dialect, namespace, tmp_path)
    try:
        assert await backend.layout_version() == LAYOUT_VERSION >= 4
        assert tables(raw, namespace) >= {f"{namespace}_{t}" for t in LIMIT_TABLES}
        await backend.set_limit(QueueLimit(queue="api", concurrency=2))
        claimed = await backend.claim(limit=10, lease=30, worker_id="w", queues=["api"])
        assert len(claimed) == 2
        assert (await backend.counts(queue="api")).queued == len(ids) - 2
    finally:
        await backend.close()
    catalog = raw.catalog(namespace)
    again = await opened(dialect, namespace, tmp_path)  # opening again changes nothing
    reader = await opened(dialect, namespace, tmp_path, create=False)
    try:
        assert raw.catalog(namespace) == catalog
        [limit] = await reader.limits()
        assert (limit.queue, limit.concurrency, limit.running) == ("api", 2, 2)
    finally:
        await again.close()
        await reader.close()


# -- Redis: layout 3 -> 4 adds keys only, so a layout 3 namespace is any namespace whose
# meta records 3 (scripts.lua, upgrade_layout).


async def test_redis_upgrades_layout_3_and_limits_its_jobs() -> None:
    import redis.asyncio as redis_asyncio

    from tests.backends import URLS, fresh_namespace
    from wg_core.backends.redis import RedisBackend

    plain = redis_asyncio.Redis.from_url(URLS["redis"], decode_responses=True)
    try:
        await plain.ping()
    except Exception as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"redis server unreachable: {exc}")
    ns = fresh_namespace()
    writer = RedisBackend(URLS["redis"], ns)
    await writer.open()
    try:
        await writer.enqueue([new_job(queue="api") for _ in range(3)])
        await plain.hset(f"{ns}:meta", "layout", "3")  # as the wg before limits left it
        reader = RedisBackend(URLS["redis"], ns)
        with pytest.raises(SchemaOutdatedError, match="layout 3"):
            await reader.open(create=False)
        await reader.close()
        upgraded = RedisBackend(URLS["redis"], ns)
        await upgraded.open()
        try:
            meta = await plain.hgetall(f"{ns}:meta")
            assert (meta["layout"], meta["upgraded_from"]) == (str(LAYOUT_VERSION), "3")
            await upgraded.set_limit(QueueLimit(queue="api", concurrency=2))
            claimed = await upgraded.claim(limit=10, lease=30, worker_id="w", queues=["api"])
            assert len(claimed) == 2
        finally:
            await upgraded.close()
    finally:
        await writer.destroy()
        await writer.close()
        await plain.aclose()
