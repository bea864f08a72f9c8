"""SQL layout 4 -> 5 (state counts kept by triggers, issue 24): a namespace written with
layout 4's DDL (main's schema blocks before layout 5, kept under ``layouts/v4/``) is
refused by a reader and upgraded in place by a writer, its jobs counted exactly; from
then on every writer is counted, a Rust producer's plain INSERT and an operator's
DELETE included, whichever way the dialect counts (PostgreSQL: ``{ns}_counts``, kept by
statement-level triggers; SQLite and MySQL: by the tables themselves)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.backends import make_backend
from tests.backends.test_sql_layout import (  # the fixtures of that module, shared
    RUST_INSERT,
    STATES,
    V1_ROWS,
    Raw,
    dialect,
    namespace,
    opened,
    raw,
)
from tests.helpers import new_job
from wg_core.backend import LAYOUT_VERSION, JobState, StateCounts
from wg_core.errors import SchemaOutdatedError

__all__ = ["dialect", "namespace", "raw"]

QUOTE = {"postgres": '"', "sqlite": '"', "mysql": "`"}


def write_v4(raw: Raw, namespace: str) -> dict[JobState, str]:
    """A layout 4 namespace with one job in each waiting or running state, plus two
    more queued ones."""
    raw.script(f"v4/{raw.dialect}.sql", namespace)
    ids = {}
    for state, statement in zip(STATES, V1_ROWS[raw.dialect], strict=True):
        job = new_job(payload={"state": state.value})
        raw.run(statement.replace("{ns}", namespace), (job.raw, job.job_id, job.job_name))
        ids[state] = job.job_id
    for _ in range(2):
        raw.run(RUST_INSERT[raw.dialect].replace("{ns}", namespace), (new_job().raw,))
    return ids


def per_state(counts: StateCounts) -> tuple[int, ...]:
    return (counts.queued, counts.running, counts.scheduled, counts.retry, counts.dead)


async def test_a_reader_refuses_layout_4(
    dialect: str, raw: Raw, namespace: str, tmp_path: Path
) -> None:
    write_v4(raw, namespace)
    before = raw.catalog(namespace)
    reader = make_backend(dialect, namespace, tmp_path)
    with pytest.raises(SchemaOutdatedError, match="layout 4, older") as refused:
        await reader.open(create=False)
    assert refused.value.found == 4
    assert raw.catalog(namespace) == before


async def test_a_writer_upgrades_layout_4_and_counts_its_jobs(
    dialect: str, raw: Raw, namespace: str, tmp_path: Path
) -> None:
    ids = write_v4(raw, namespace)
    backends = [await opened(dialect, namespace, tmp_path) for _ in range(2)]
    try:
        backend = backends[0]
        assert await backend.layout_version() == LAYOUT_VERSION == 5
        assert per_state(await backend.counts()) == (3, 1, 1, 1, 1)
        for state, job_id in ids.items():
            stored = await backend.get_job(job_id)
            assert stored is not None
            assert stored.state is state
        # A Rust producer's plain INSERT and an operator's DELETE are counted.
        q = QUOTE[dialect]
        raw.run(RUST_INSERT[dialect].replace("{ns}", namespace), (new_job().raw,))
        assert (await backends[1].counts()).queued == 4
        raw.run(f"DELETE FROM {q}{namespace}_dead{q}")
        assert (await backend.counts()).dead == 0
        # wg's own moves, from both backends.
        assert len(await backend.claim(limit=2, lease=30, worker_id="w")) == 2
        assert per_state(await backends[1].counts()) == (2, 3, 1, 1, 0)
        [queue] = [info for info in await backend.queues() if info.name == "default"]
        assert (queue.counts.queued, queue.counts.running) == (2, 3)
        # The oldest queued job is read from the claim's index (SQLite has no clock of
        # its own: a Rust producer's row there has no enqueue time).
        assert (queue.counts.oldest_queued_at is None) is (dialect == "sqlite")
    finally:
        for backend in backends:
            await backend.close()
    reader = await opened(dialect, namespace, tmp_path, create=False)
    try:
        assert await reader.layout_version() == LAYOUT_VERSION
        assert per_state(await reader.counts()) == (2, 3, 1, 1, 0)
    finally:
        await reader.close()
