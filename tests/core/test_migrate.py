"""``wg_core.migrate`` as a library: what it refuses (active workers unless forced,
the same storage on both sides, bad arguments), pause flags, and resuming after an
interrupted run (issue 23). Every backend's side is in tests/conformance/test_migrate.py."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.helpers import new_job
from wg_core import ActiveWorkersError, migrate, migrate_urls
from wg_core.backend import ImportedJob, JobState, StoredJob, WorkerInfo
from wg_core.backends.memory import MemoryBackend
from wg_core.backends.sqlite import SqliteBackend
from wg_core.errors import BackendUnavailableError
from wg_core.migrating import imported
from wg_core.unique import with_unique_key


def worker(last_seen: float) -> WorkerInfo:
    return WorkerInfo(worker_id="w-1", host="box", pid=1, concurrency=4, last_seen=last_seen)


async def test_active_workers_refuse_unless_forced() -> None:
    clock = [1000.0]
    source = MemoryBackend("ns", clock=lambda: clock[0])
    await source.enqueue([new_job()])
    await source.heartbeat(worker(0), attempts=[], lease=30)
    target = MemoryBackend("ns")
    with pytest.raises(ActiveWorkersError, match=r"1 active worker.*w-1 on box.*force"):
        await migrate(source, target, clock=lambda: clock[0] + 5)
    assert (await target.counts()).total == 0
    forced = await migrate(source, target, force=True, clock=lambda: clock[0] + 5)
    assert forced.active_workers == 1
    assert forced.total_copied == 1
    # A worker silent for longer than active_within has stopped: no refusal.
    quiet = await migrate(source, MemoryBackend("ns"), clock=lambda: clock[0] + 61)
    assert quiet.total_copied == 1


async def test_the_same_storage_is_refused(tmp_path: Path) -> None:
    backend = MemoryBackend("ns")
    with pytest.raises(ValueError, match="same namespace"):
        await migrate(backend, backend)
    url = f"sqlite:{tmp_path / 'a.db'}"
    with pytest.raises(ValueError, match="same URL"):
        await migrate_urls(url, url)


@pytest.mark.parametrize(
    ("options", "message"),
    [({"queue": "No Such"}, "queue"), ({"batch_size": 0}, "batch_size")],
)
async def test_bad_arguments_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        await migrate(MemoryBackend("ns"), MemoryBackend("ns"), **options)  # type: ignore[arg-type]


async def test_pause_flags_are_copied_never_resumed() -> None:
    source, target = MemoryBackend("ns"), MemoryBackend("ns")
    await source.enqueue([new_job(queue="mail"), new_job(queue="sms")])
    await source.set_paused(True)
    await source.set_paused(True, queue="mail")
    report = await migrate(source, target)
    assert report.paused == ["*", "mail"]
    assert await target.is_paused()
    assert await target.is_paused(queue="mail")
    assert not await target.is_paused(queue="sms")


class FailingTarget(MemoryBackend):
    """A target whose import fails after ``pages`` calls (a connection lost)."""

    def __init__(self, pages: int) -> None:
        super().__init__("ns")
        self.pages = pages

    async def import_jobs(self, jobs: Sequence[ImportedJob]) -> int:
        if self.pages == 0:
            raise BackendUnavailableError("connection lost")
        self.pages -= 1
        return await super().import_jobs(jobs)


async def test_an_interrupted_move_resumes_without_losing_or_repeating() -> None:
    source = MemoryBackend("ns")
    jobs = [new_job() for _ in range(10)]
    await source.enqueue(jobs)
    target = FailingTarget(pages=2)
    with pytest.raises(BackendUnavailableError):
        await migrate(source, target, move=True, batch_size=3)
    # Two pages committed and deleted from the source, the rest still there.
    assert (await source.counts()).queued == 4
    assert (await target.counts()).queued == 6
    target.pages = 99
    report = await migrate(source, target, move=True, batch_size=3)
    assert report.total_copied == 4
    assert (await source.counts()).total == 0
    attempts = await target.claim(limit=20, lease=30, worker_id="w")
    assert [a.raw for a in attempts] == [job.raw for job in jobs]


async def test_urls_sqlite_to_sqlite(tmp_path: Path) -> None:
    source_url, target_url = f"sqlite:{tmp_path / 'a.db'}", f"sqlite:{tmp_path / 'b.db'}"
    filled = SqliteBackend(source_url, "ns")
    await filled.open()
    await filled.enqueue([new_job(), new_job(delay=60)])
    await filled.close()
    dry = await migrate_urls(source_url, target_url, namespace="ns", dry_run=True)
    assert dry.found[JobState.QUEUED] == 1
    assert not (tmp_path / "b.db").exists()
    report = await migrate_urls(source_url, target_url, namespace="ns")
    assert report.copied[JobState.SCHEDULED] == 1
    assert report.total_copied == 2


@pytest.mark.parametrize(("key", "carried"), [("bill:1", "bill:1"), ("", None), ("k" * 256, None)])
def test_the_import_record_carries_the_keys(key: str, carried: str | None) -> None:
    job = new_job()
    stored = StoredJob(
        job_id=job.job_id,
        state=JobState.QUEUED,
        raw=with_unique_key(job.raw, key),
        limit_key="tenant:3",
    )
    record = imported(stored)
    # A key wg would refuse (a foreign writer's) stays in the envelope, but holds nothing.
    assert (record.unique_key, record.limit_key) == (carried, "tenant:3")
    assert record.raw == stored.raw
