"""Redis layout 3 -> 4 (unique keys, issue 19): a namespace as layout 3 wrote it (the
spec's list, the id index, ``{ns}:meta``) is refused by a reader and upgraded in place
by a writer, which records the version: ``{ns}:unique`` is a new key, nothing moves."""

from __future__ import annotations

from typing import Any

import pytest

from tests.backends import URLS, fresh_namespace
from tests.backends.test_redis_layout import plain
from tests.helpers import new_job
from wg_core.backend import LAYOUT_VERSION, NewJob
from wg_core.backends.redis import RedisBackend
from wg_core.errors import SchemaOutdatedError

__all__ = ["plain"]


async def write_layout_3(plain: Any, ns: str) -> list[str]:
    """Two queued jobs of the queue default, as layout 3 stored them; their ids."""
    jobs = [new_job(payload={"n": n}) for n in range(2)]
    for job in jobs:
        await plain.lpush(f"{ns}:jobs", job.raw)
        await plain.hset(f"{ns}:ids", job.job_id, "q" + job.raw)
    await plain.hset(f"{ns}:meta", "layout", "3")
    return [job.job_id for job in jobs]


async def test_layout_3_is_refused_by_a_reader_and_upgraded_by_a_writer(plain: Any) -> None:
    ns = fresh_namespace()
    try:
        ids = await write_layout_3(plain, ns)
        reader = RedisBackend(URLS["redis"], ns)
        with pytest.raises(SchemaOutdatedError, match="layout 3") as refused:
            await reader.open(create=False)
        await reader.close()
        assert refused.value.found == 3

        backend = RedisBackend(URLS["redis"], ns)
        await backend.open()
        try:
            meta = await plain.hgetall(f"{ns}:meta")
            assert (meta["layout"], meta["upgraded_from"]) == (str(LAYOUT_VERSION), "3")
            assert LAYOUT_VERSION >= 4
            assert (await backend.counts()).queued == 2
            job = new_job()
            keyed = NewJob(job.job_id, job.job_name, job.raw, unique_key="k")
            assert await backend.enqueue([keyed]) == [job.job_id]
            other = new_job()
            again = NewJob(other.job_id, other.job_name, other.raw, unique_key="k")
            assert await backend.enqueue([again]) == [job.job_id]
            attempts = await backend.claim(limit=10, lease=30, worker_id="w")
            assert {a.raw for a in attempts} >= {job.raw}
            assert len(attempts) == 3
            assert await plain.hget(f"{ns}:unique", "k") == f"{job.job_id} 0"
            assert set(ids) <= {(await backend.get_job(i)).job_id for i in ids}  # type: ignore[union-attr]
        finally:
            await backend.close()
    finally:
        keys = [key async for key in plain.scan_iter(match=f"{ns}:*")]
        if keys:
            await plain.delete(*keys)
