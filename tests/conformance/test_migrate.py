"""``migrate`` with every backend as the source and as the target (the memory backend
on the other side): every state arrives with its id, queue, priority, times, errors
and results; a second run copies nothing; ``move`` empties the source of what the
target holds; RUNNING jobs stay behind and are counted (issue 23); limit keys and
waiting jobs' unique keys' holds come along."""

from __future__ import annotations

import pytest

from tests.helpers import envelope, new_job
from wg_core import Client
from wg_core.backend import Backend, Completion, JobQuery, JobState, StoredJob
from wg_core.backends.memory import MemoryBackend
from wg_core.migrating import COPIED_STATES, migrate

LEASE = 30.0


async def populate(backend: Backend) -> dict[JobState, list[str]]:
    """One namespace with jobs in every state, in two queues; their ids by state."""
    queued = [new_job(), new_job(queue="mail", priority=7), new_job()]
    scheduled = new_job(delay=3600, queue="mail")
    to_retry, to_bury, to_complete, running = new_job(), new_job(), new_job(), new_job()
    await backend.enqueue([to_retry, to_bury, to_complete, running])
    attempts = await backend.claim(limit=4, lease=LEASE, worker_id="w-test")
    by_id = {a.raw: a for a in attempts}
    failed = envelope(job_id=to_retry.job_id).evolve(retry_count=1, last_error="flaky")
    await backend.retry(by_id[to_retry.raw], raw=failed.encode(), delay=600, error="flaky")
    dead = envelope(job_id=to_bury.job_id).evolve(retry_count=3, last_error="fatal: no")
    await backend.bury(by_id[to_bury.raw], raw=dead.encode(), error="fatal: no")
    kept = Completion(attempt=by_id[to_complete.raw], result='{"ok": true}', keep=3600)
    await backend.complete([kept])
    await backend.enqueue([*queued, scheduled])
    cancelled = new_job(queue="mail")
    await backend.enqueue([cancelled])
    await backend.cancel(cancelled.job_id, keep=3600)
    return {
        JobState.QUEUED: [job.job_id for job in queued],
        JobState.SCHEDULED: [scheduled.job_id],
        JobState.RETRY: [to_retry.job_id],
        JobState.DEAD: [to_bury.job_id],
        JobState.COMPLETED: [to_complete.job_id],
        JobState.CANCELLED: [cancelled.job_id],
        JobState.RUNNING: [running.job_id],
    }


async def listing(backend: Backend, state: JobState, queue: str) -> list[StoredJob]:
    return await backend.list_jobs(JobQuery(state=state, limit=100, queue=queue))


def same_job(copy: StoredJob, original: StoredJob) -> None:
    assert (copy.job_id, copy.raw, copy.state) == (original.job_id, original.raw, original.state)
    assert (copy.queue, copy.priority) == (original.queue, original.priority)
    assert copy.result == original.result
    for name in ("due_at", "finished_at", "expires_at"):
        expected = getattr(original, name)
        if expected is not None:
            assert getattr(copy, name) == pytest.approx(expected, abs=1.0), name
    if original.state is JobState.DEAD:
        assert copy.updated_at == pytest.approx(original.updated_at, abs=1.0)


@pytest.mark.parametrize("direction", ["from", "to"])
async def test_every_state_is_copied_once(backend: Backend, direction: str) -> None:
    memory = MemoryBackend(backend.namespace)
    source, target = (backend, memory) if direction == "from" else (memory, backend)
    ids = await populate(source)
    report = await migrate(source, target, batch_size=2)
    assert report.running == 1
    assert report.copied == {state: len(ids[state]) for state in COPIED_STATES}
    # Each queue's listing order survives (the order across queues is the backend's).
    for state in COPIED_STATES:
        for queue in ("default", "mail"):
            copies = await listing(target, state, queue)
            originals = await listing(source, state, queue)
            assert [job.job_id for job in copies] == [job.job_id for job in originals]
            for copy, original in zip(copies, originals, strict=True):
                same_job(copy, original)
    assert (await target.counts()).running == 0
    again = await migrate(source, target, batch_size=2)
    assert again.total_copied == 0
    assert again.skipped == report.copied
    # The queue order survives: claims on the target take the source's order.
    for queue in ("mail", "default"):
        attempts = await target.claim(limit=5, lease=LEASE, worker_id="w", queues=[queue])
        expected = await listing(source, JobState.QUEUED, queue)
        assert [a.raw for a in attempts] == [job.raw for job in expected]


async def test_move_leaves_only_running_jobs(backend: Backend) -> None:
    ids = await populate(backend)
    target = MemoryBackend(backend.namespace)
    report = await migrate(backend, target, move=True, batch_size=2)
    assert report.deleted == report.total_copied == 8
    counts = await backend.counts()
    assert counts.total == counts.running == 1
    assert counts.finished == 0
    assert (await backend.get_job(ids[JobState.RUNNING][0])) is not None
    assert (await target.get_job(ids[JobState.DEAD][0])) is not None


async def test_a_queue_alone(backend: Backend) -> None:
    await populate(backend)
    target = MemoryBackend(backend.namespace)
    report = await migrate(backend, target, queue="mail")
    assert report.total_copied == 3  # queued, scheduled, cancelled
    assert {info.name for info in await target.queues()} == {"default", "mail"}
    assert (await target.counts(queue="default")).total == 0


async def test_a_dry_run_writes_nothing(backend: Backend) -> None:
    await populate(backend)
    target = MemoryBackend(backend.namespace)
    report = await migrate(backend, target, dry_run=True, move=True)
    assert report.total_found == 8
    assert report.total_copied == report.deleted == 0
    assert (await target.counts()).total == 0
    assert (await backend.counts()).total == 7  # 6 waiting or dead, 1 running


@pytest.mark.parametrize("direction", ["from", "to"])
async def test_unique_and_limit_keys_travel(backend: Backend, direction: str) -> None:
    memory = MemoryBackend(backend.namespace)
    source, target = (backend, memory) if direction == "from" else (memory, backend)
    source_client, target_client = Client(source), Client(target)
    held = await source_client.enqueue({"n": 1}, job_name="bill", unique_key="bill:1")
    later = await source_client.schedule(
        {"n": 2}, 3600, job_name="bill", unique_key="bill:2", limit_key="tenant:9"
    )
    # A key held on the target already stays its holder's; the copy is stored anyway.
    holder = await target_client.enqueue({"n": 3}, job_name="bill", unique_key="bill:2")
    report = await migrate(source, target)
    assert report.total_copied == 2
    again = await target_client.enqueue_unique({"n": 4}, job_name="bill", unique_key="bill:1")
    assert (again.job_id, again.created) == (held, False)
    other = await target_client.enqueue_unique({"n": 5}, job_name="bill", unique_key="bill:2")
    assert (other.job_id, other.created) == (holder, False)
    info = await target_client.get_job(later)
    assert info is not None
    assert (info.unique_key, info.limit_key) == ("bill:2", "tenant:9")
