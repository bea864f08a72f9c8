"""The contract's edges, on every backend: readers that create nothing, clones for
other threads, dead workers' jobs recovered early, search, death times, and the
checked-dispatch layer's guards."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from tests.backends import fresh_namespace, make_backend
from tests.helpers import envelope, new_job
from wg_core.backend import Backend, JobQuery, JobState, WorkerInfo
from wg_core.dispatch import checked
from wg_core.errors import NamespaceNotFoundError

LEASE = 30.0


def worker(worker_id: str) -> WorkerInfo:
    return WorkerInfo(worker_id=worker_id, host="h", pid=1, concurrency=1, started_at=1.0)


async def test_a_reader_opening_a_missing_namespace_creates_nothing(
    backend: Backend, backend_name: str, tmp_path: Path
) -> None:
    if backend_name == "memory":
        pytest.skip("a MemoryBackend is its own storage: it exists from construction")
    reader = make_backend(backend_name, fresh_namespace(), tmp_path)
    with pytest.raises(NamespaceNotFoundError):
        await reader.open(create=False)
    await reader.close()
    # Still missing: the failed open left nothing behind.
    again = make_backend(backend_name, reader.namespace, tmp_path)
    with pytest.raises(NamespaceNotFoundError):
        await again.open(create=False)
    await again.close()


async def test_a_reader_opens_an_existing_namespace(
    backend: Backend, backend_name: str, tmp_path: Path
) -> None:
    await backend.enqueue([new_job()])
    reader = make_backend(backend_name, backend.namespace, tmp_path)
    if backend_name == "memory":
        reader = backend
    await reader.open(create=False)
    try:
        assert (await reader.counts()).queued == 1
    finally:
        if reader is not backend:
            await reader.close()


async def test_a_clone_works_from_another_thread_and_loop(backend: Backend) -> None:
    job = new_job()
    await backend.enqueue([job])
    attempt = (await backend.claim(limit=1, lease=LEASE, worker_id="w-main"))[0]
    clone = backend.clone()

    async def renew_elsewhere() -> frozenset[str]:
        await clone.open()
        try:
            reply = await clone.heartbeat(worker("w-main"), attempts=[attempt], lease=LEASE)
            return reply.lost
        finally:
            if clone is not backend:
                await clone.close()

    result: list[frozenset[str]] = []
    thread = threading.Thread(target=lambda: result.append(asyncio.run(renew_elsewhere())))
    thread.start()
    await asyncio.to_thread(thread.join)
    assert result == [frozenset()]  # the lease was renewed, not reported lost
    assert await backend.complete([attempt]) == 1


async def test_jobs_of_a_silent_worker_are_reclaimed_before_their_lease_ends(
    backend: Backend,
) -> None:
    await backend.enqueue([new_job(), new_job()])
    await backend.heartbeat(worker("w-dead"), attempts=[], lease=LEASE)
    dead_job = (await backend.claim(limit=1, lease=LEASE, worker_id="w-dead"))[0]
    await backend.heartbeat(worker("w-live"), attempts=[], lease=LEASE)
    live_job = (await backend.claim(limit=1, lease=LEASE, worker_id="w-live"))[0]
    await asyncio.sleep(0.4)
    await backend.heartbeat(worker("w-live"), attempts=[live_job], lease=LEASE)
    # Without silent_after only expired leases count: nothing yet.
    assert await backend.reclaim_expired(limit=10, lease=LEASE, worker_id="reaper") == []
    taken = await backend.reclaim_expired(
        limit=10, lease=LEASE, worker_id="reaper", silent_after=0.3
    )
    assert [a.raw for a in taken] == [dead_job.raw]
    assert not await backend.complete([dead_job])  # the dead worker's write is refused
    assert await backend.complete([live_job]) == 1
    assert await backend.complete(taken) == 1


async def test_a_job_claimed_since_its_worker_fell_silent_is_not_reclaimed(
    backend: Backend,
) -> None:
    # After a server restart a pool's claims come back before its heartbeat does: the
    # registry says silent, but a fresh claim shows the worker alive.
    await backend.enqueue([new_job(), new_job()])
    await backend.heartbeat(worker("w-quiet"), attempts=[], lease=LEASE)
    old_job = (await backend.claim(limit=1, lease=LEASE, worker_id="w-quiet"))[0]
    await asyncio.sleep(0.4)
    fresh_job = (await backend.claim(limit=1, lease=LEASE, worker_id="w-quiet"))[0]
    taken = await backend.reclaim_expired(
        limit=10, lease=LEASE, worker_id="reaper", silent_after=0.3
    )
    assert [a.raw for a in taken] == [old_job.raw]  # claimed before the silence
    assert await backend.complete([fresh_job]) == 1


async def test_a_reaper_never_takes_its_own_workers_jobs_for_silence(
    backend: Backend,
) -> None:
    # A reaper that runs is a pool that runs, whatever its heartbeat's connection says.
    await backend.enqueue([new_job()])
    await backend.heartbeat(worker("w-self"), attempts=[], lease=LEASE)
    attempt = (await backend.claim(limit=1, lease=LEASE, worker_id="w-self"))[0]
    await asyncio.sleep(0.4)
    assert (
        await backend.reclaim_expired(limit=10, lease=LEASE, worker_id="w-self", silent_after=0.3)
        == []
    )
    taken = await backend.reclaim_expired(
        limit=10, lease=LEASE, worker_id="w-other", silent_after=0.3
    )
    assert [a.raw for a in taken] == [attempt.raw]
    assert not await backend.complete([attempt])


async def test_an_unregistered_claimer_keeps_its_jobs_until_the_lease_ends(
    backend: Backend,
) -> None:
    await backend.enqueue([new_job()])
    attempt = (await backend.claim(limit=1, lease=LEASE, worker_id="w-never-seen"))[0]
    await asyncio.sleep(0.2)
    assert (
        await backend.reclaim_expired(limit=10, lease=LEASE, worker_id="r", silent_after=0.1) == []
    )
    assert await backend.complete([attempt]) == 1


async def test_text_search_finds_ids_payload_and_errors(backend: Backend) -> None:
    first = new_job(payload={"customer": "ACME Widgets"})
    second = new_job(payload={"customer": "Globex"})
    await backend.enqueue([first, second])
    found = await backend.list_jobs(JobQuery(state=JobState.QUEUED, limit=10, text_contains="acme"))
    assert [j.job_id for j in found] == [first.job_id]
    fragment = second.job_id[-10:].upper()
    found = await backend.list_jobs(
        JobQuery(state=JobState.QUEUED, limit=10, text_contains=fragment)
    )
    assert [j.job_id for j in found] == [second.job_id]
    attempt = (await backend.claim(limit=1, lease=LEASE, worker_id="w"))[0]
    dead = envelope("kind").evolve(id=first.job_id, last_error="TimeoutError: upstream 504")
    assert await backend.bury(attempt, raw=dead.encode(), error=dead.last_error)
    found = await backend.list_jobs(
        JobQuery(state=JobState.DEAD, limit=10, text_contains="UPSTREAM 504")
    )
    assert [j.job_id for j in found] == [first.job_id]
    assert (
        await backend.list_jobs(JobQuery(state=JobState.DEAD, limit=10, text_contains="globex"))
        == []
    )


async def test_the_error_indexed_is_the_one_the_caller_passes(backend: Backend) -> None:
    job = new_job()
    await backend.enqueue([job])
    attempt = (await backend.claim(limit=1, lease=LEASE, worker_id="w"))[0]
    raw = envelope("kind").evolve(id=job.job_id, last_error="ValueError: bad row 7").encode()
    assert await backend.bury(attempt, raw=raw, error="ValueError: bad row 7")
    hits = await backend.list_jobs(
        JobQuery(state=JobState.DEAD, limit=10, error_contains="bad ROW")
    )
    assert [j.job_id for j in hits] == [job.job_id]


async def test_dead_jobs_carry_their_time_of_death(backend: Backend) -> None:
    await backend.enqueue([new_job()])
    attempt = (await backend.claim(limit=1, lease=LEASE, worker_id="w"))[0]
    assert await backend.bury(attempt, raw=attempt.raw, error=None)
    [dead] = await backend.list_jobs(JobQuery(state=JobState.DEAD, limit=1))
    assert dead.updated_at is not None
    assert dead.updated_at > 1.7e9
    stored = await backend.get_job(dead.job_id)
    assert stored is not None
    assert stored.updated_at == pytest.approx(dead.updated_at, abs=1)


async def test_the_checked_layer_refuses_bad_arguments_before_the_backend(
    backend: Backend,
) -> None:
    guarded = checked(backend)
    assert checked(guarded) is guarded
    with pytest.raises(ValueError, match="running jobs cannot be purged"):
        await guarded.purge(JobState.RUNNING)
    with pytest.raises(ValueError, match="only scheduled and retry"):
        await guarded.promote(JobState.QUEUED, limit=10)
    with pytest.raises(ValueError, match="lease"):
        await guarded.claim(limit=1, lease=0, worker_id="w")
    with pytest.raises(ValueError, match="limit"):
        await guarded.claim(limit=0, lease=LEASE, worker_id="w")
    assert await guarded.complete([]) == 0
    assert await guarded.list_jobs(JobQuery(state=JobState.QUEUED, limit=0)) == []
