"""Layout 3 -> 4 (the registry of periodic entries, issue 19) on every durable engine: a
namespace of layout 3 (SQL: main's ``schema`` block before layout 4, kept under
``layouts/v3/``; Redis: layout 4's keys but for the registry, which is what layout 3
wrote) is refused by readers and upgraded in place by a writer, its jobs kept, and its
registry then works."""

# The fixtures (dialect, raw, namespace; plain) are test_sql_layout's and
# test_redis_layout's, imported by name.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.backends import URLS, fresh_namespace, make_backend
from tests.backends.test_redis_layout import plain  # noqa: F401  (a fixture)
from tests.backends.test_sql_layout import (  # noqa: F401  (fixtures)
    RUST_INSERT,
    Raw,
    dialect,
    namespace,
    opened,
    raw,
)
from tests.helpers import new_job
from wg_core.backend import LAYOUT_VERSION, Backend, JobState, PeriodicEntry
from wg_core.backends.redis import RedisBackend
from wg_core.errors import SchemaOutdatedError

NOW = 1_800_000_000.0
ENTRY = PeriodicEntry(
    name="digest", schedule="every 60s", job_name="digest", baseline=NOW - 60, next_run=NOW
)


async def registry_works(backend: Backend) -> None:
    """The upgraded namespace's registry: empty, then registered and fired once."""
    assert await backend.periodic_entries() == []
    await backend.register_periodic([ENTRY], now=NOW)
    job = new_job("digest")
    assert await backend.fire_periodic("digest", tick=NOW, job=job, now=NOW, next_run=NOW + 60)
    assert not await backend.fire_periodic(
        "digest", tick=NOW, job=new_job("digest"), now=NOW, next_run=None
    )
    [entry] = await backend.periodic_entries()
    assert (entry.last_tick, entry.last_job_id) == (NOW, job.job_id)


# -- SQL ---------------------------------------------------------------------------------


def write_v3(raw: Raw, namespace: str) -> str:
    """A layout 3 namespace with one job a Rust producer inserted; its id."""
    raw.script(f"v3/{raw.dialect}.sql", namespace)
    job = new_job(payload={"from": "layout 3"})
    raw.run(RUST_INSERT[raw.dialect].replace("{ns}", namespace), (job.raw,))
    return job.job_id


async def test_a_reader_refuses_sql_layout_3(
    dialect: str, raw: Raw, namespace: str, tmp_path: Path
) -> None:
    write_v3(raw, namespace)
    before = raw.catalog(namespace)
    reader = make_backend(dialect, namespace, tmp_path)
    with pytest.raises(SchemaOutdatedError, match="layout 3, older") as refused:
        await reader.open(create=False)
    assert refused.value.found == 3
    assert raw.catalog(namespace) == before
    assert f"{namespace}_periodic" not in {table for table, _ in before}


async def test_a_writer_upgrades_sql_layout_3_in_place(
    dialect: str, raw: Raw, namespace: str, tmp_path: Path
) -> None:
    job_id = write_v3(raw, namespace)
    before = raw.catalog(namespace)
    writers = [make_backend(dialect, namespace, tmp_path) for _ in range(3)]
    try:
        await asyncio.gather(*(writer.open() for writer in writers))  # at once: upgraded once
        backend = writers[0]
        assert await backend.layout_version() == LAYOUT_VERSION >= 4
        after = raw.catalog(namespace)
        assert before < after
        assert f"{namespace}_periodic" in {table for table, _ in after - before}
        stored = await backend.get_job(job_id)
        assert stored is not None
        assert stored.state is JobState.QUEUED
        await registry_works(backend)
    finally:
        for writer in writers:
            await writer.close()
    reader = await opened(dialect, namespace, tmp_path, create=False)
    try:
        assert [entry.name for entry in await reader.periodic_entries()] == ["digest"]
    finally:
        await reader.close()


# -- Redis -------------------------------------------------------------------------------


@pytest.fixture
async def v3(plain: Any) -> AsyncIterator[tuple[str, str]]:
    """A Redis namespace of layout 3 with one queued job: (namespace, job id)."""
    ns = fresh_namespace()
    writer = RedisBackend(URLS["redis"], ns)
    await writer.open()
    job = new_job()
    await writer.enqueue([job])
    await writer.close()
    await plain.hset(f"{ns}:meta", "layout", "3")
    yield ns, job.job_id
    cleaner = RedisBackend(URLS["redis"], ns)
    await cleaner.open()
    await cleaner.destroy()
    await cleaner.close()


async def test_a_reader_refuses_redis_layout_3(plain: Any, v3: tuple[str, str]) -> None:
    ns, _ = v3
    keys = sorted(await plain.keys(f"{ns}:*"))
    reader = RedisBackend(URLS["redis"], ns)
    with pytest.raises(SchemaOutdatedError) as refused:
        await reader.open(create=False)
    assert refused.value.found == 3
    assert sorted(await plain.keys(f"{ns}:*")) == keys


async def test_a_writer_upgrades_redis_layout_3_in_place(plain: Any, v3: tuple[str, str]) -> None:
    ns, job_id = v3
    writers = [RedisBackend(URLS["redis"], ns) for _ in range(3)]
    try:
        await asyncio.gather(*(writer.open() for writer in writers))
        meta = await plain.hgetall(f"{ns}:meta")
        assert (meta["layout"], meta["upgraded_from"], meta["upgrades"]) == (
            str(LAYOUT_VERSION),
            "3",
            "1",
        )
        backend = writers[0]
        stored = await backend.get_job(job_id)
        assert stored is not None
        assert stored.state is JobState.QUEUED
        await registry_works(backend)
        assert await plain.hexists(f"{ns}:periodic", "digest")
    finally:
        for writer in writers:
            await writer.close()
