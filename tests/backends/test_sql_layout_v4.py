"""SQL layout 3 -> 4 (unique keys, issue 19): a namespace written with layout 3's DDL
(main's schema block before layout 4, kept under ``layouts/v3/``) is refused by a
reader and upgraded in place by a writer: ``{ns}_unique`` is created, every job stays,
and the old jobs and new unique ones live side by side."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.backends import make_backend
from tests.backends.test_sql_layout import (  # the fixtures of that module, shared
    STATES,
    V1_ROWS,
    Raw,
    dialect,
    namespace,
    opened,
    raw,
)
from tests.helpers import new_job
from wg_core.backend import LAYOUT_VERSION, JobState, NewJob
from wg_core.errors import SchemaOutdatedError

__all__ = ["dialect", "namespace", "raw"]


def write_v3(raw: Raw, namespace: str) -> dict[JobState, str]:
    """A layout 3 namespace with one job in each waiting or running state."""
    raw.script(f"v3/{raw.dialect}.sql", namespace)
    ids = {}
    for state, statement in zip(STATES, V1_ROWS[raw.dialect], strict=True):
        job = new_job(payload={"state": state.value})
        raw.run(statement.replace("{ns}", namespace), (job.raw, job.job_id, job.job_name))
        ids[state] = job.job_id
    return ids


async def test_a_reader_refuses_layout_3(
    dialect: str, raw: Raw, namespace: str, tmp_path: Path
) -> None:
    write_v3(raw, namespace)
    before = raw.catalog(namespace)
    reader = make_backend(dialect, namespace, tmp_path)
    with pytest.raises(SchemaOutdatedError, match="layout 3, older") as refused:
        await reader.open(create=False)
    assert refused.value.found == 3
    assert raw.catalog(namespace) == before
    assert f"{namespace}_unique" not in {table for table, _ in before}


async def test_a_writer_upgrades_layout_3_to_unique_keys(
    dialect: str, raw: Raw, namespace: str, tmp_path: Path
) -> None:
    ids = write_v3(raw, namespace)
    backends = [await opened(dialect, namespace, tmp_path) for _ in range(2)]
    try:
        backend = backends[0]
        assert await backend.layout_version() == LAYOUT_VERSION >= 4
        catalog = raw.catalog(namespace)
        assert {column for table, column in catalog if table == f"{namespace}_unique"} == {
            "unique_key",
            "job_id",
            "hold_until",
        }
        for state, job_id in ids.items():
            stored = await backend.get_job(job_id)
            assert stored is not None
            assert stored.state is state
        job = new_job()
        keyed = NewJob(job.job_id, job.job_name, job.raw, unique_key="k")
        assert await backend.enqueue([keyed]) == [job.job_id]
        other = new_job()
        duplicate = NewJob(other.job_id, other.job_name, other.raw, unique_key="k")
        assert await backends[1].enqueue([duplicate]) == [job.job_id]
        assert (await backend.counts()).queued == 2
    finally:
        for backend in backends:
            await backend.close()
    reader = await opened(dialect, namespace, tmp_path, create=False)
    try:
        assert await reader.layout_version() == LAYOUT_VERSION
    finally:
        await reader.close()
