"""Importing jobs in their own states (``Backend.import_jobs``, which ``wg migrate``
calls), on every backend: each state lands where it lists, with its id, queue,
priority and times; ids already stored (in any state) are skipped, so a second import
stores nothing; bad records are refused before anything is stored (issue 23). A job's
limit key is stored with it, and a waiting job takes its unique key's hold unless
another job holds it here."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from tests.helpers import envelope, new_job
from wg_core.backend import Backend, ImportedJob, JobQuery, JobState, NewJob, Progress
from wg_core.dispatch import checked
from wg_core.unique import with_unique_key

LEASE = 30.0


def imported(state: JobState, **fields: object) -> ImportedJob:
    """A job to import in ``state``; times as a migrate from a live namespace has them."""
    now = time.time()
    env = envelope("import_me", {"n": 1})
    if state in (JobState.RETRY, JobState.DEAD):
        env = env.evolve(retry_count=1, last_error="boom: it failed")
    base: dict[str, object] = {
        "job_id": env.id,
        "job_name": "import_me",
        "raw": env.encode(),
        "state": state,
    }
    if state in (JobState.SCHEDULED, JobState.RETRY):
        base["due_at"] = now + 3600
    if state in (JobState.RETRY, JobState.DEAD):
        base["last_error"] = "boom: it failed"
    if state is JobState.DEAD:
        base["updated_at"] = now - 120
    if state in (JobState.COMPLETED, JobState.CANCELLED):
        base |= {"finished_at": now - 60, "expires_at": now + 3600, "started_at": now - 61}
    if state is JobState.COMPLETED:
        base["result"] = '{"sum": 3}'
    if state is JobState.CANCELLED:
        base["last_error"] = "cancelled by request"
    base |= fields
    return ImportedJob(**base)  # type: ignore[arg-type]


WAITING = (JobState.QUEUED, JobState.SCHEDULED, JobState.RETRY, JobState.DEAD)
FINISHED_OR_DEAD = (JobState.DEAD, JobState.COMPLETED, JobState.CANCELLED)


async def test_every_state_lands_where_it_lists(backend: Backend) -> None:
    jobs = [imported(state) for state in (*WAITING, JobState.COMPLETED, JobState.CANCELLED)]
    assert await backend.import_jobs(jobs) == len(jobs)
    counts = await backend.counts()
    assert (counts.queued, counts.scheduled, counts.retry, counts.dead) == (1, 1, 1, 1)
    assert (counts.completed, counts.cancelled) == (1, 1)
    for job in jobs:
        [stored] = await backend.list_jobs(JobQuery(state=job.state, limit=10))
        assert stored.job_id == job.job_id
        assert stored.raw == job.raw
        assert stored.state is job.state
        if job.due_at is not None:
            assert stored.due_at == pytest.approx(job.due_at, abs=1.0)
    dead = await backend.get_job(jobs[3].job_id)
    assert dead is not None
    assert dead.updated_at == pytest.approx(jobs[3].updated_at, abs=1.0)
    done = await backend.get_job(jobs[4].job_id)
    assert done is not None
    assert done.result == '{"sum": 3}'
    assert done.finished_at == pytest.approx(jobs[4].finished_at, abs=0.01)
    assert done.expires_at == pytest.approx(jobs[4].expires_at, abs=0.01)
    cancelled = await backend.get_job(jobs[5].job_id)
    assert cancelled is not None
    assert cancelled.last_error == "cancelled by request"
    found = await backend.list_jobs(JobQuery(state=JobState.DEAD, limit=10, error_contains="BOOM"))
    assert [job.job_id for job in found] == [jobs[3].job_id]


async def test_a_second_import_stores_nothing(backend: Backend) -> None:
    jobs = [imported(state) for state in (*WAITING, JobState.COMPLETED)]
    assert await backend.import_jobs(jobs) == 5
    assert await backend.import_jobs(jobs) == 0
    # An id held in another state is skipped too: the import never moves a job.
    moved = [replace(job, state=JobState.QUEUED, due_at=None) for job in jobs]
    assert await backend.import_jobs(moved) == 0
    counts = await backend.counts()
    assert (counts.queued, counts.scheduled, counts.retry, counts.dead) == (1, 1, 1, 1)


async def test_ids_enqueued_or_running_here_are_skipped(backend: Backend) -> None:
    waiting, running = new_job(), new_job()
    await backend.enqueue([running])
    await backend.claim(limit=1, lease=LEASE, worker_id="w-test")
    await backend.enqueue([waiting])
    jobs = [
        imported(JobState.DEAD, job_id=waiting.job_id),
        imported(JobState.QUEUED, job_id=running.job_id),
        fresh := imported(JobState.QUEUED),
    ]
    assert await backend.import_jobs(jobs) == 1
    stored = await backend.get_job(waiting.job_id)
    assert stored is not None
    assert stored.state is JobState.QUEUED
    assert stored.raw == waiting.raw
    assert (await backend.get_job(fresh.job_id)) is not None


async def test_imported_jobs_run_in_order_at_their_priority(backend: Backend) -> None:
    jobs = [imported(JobState.QUEUED, queue="mail", priority=p) for p in (0, 5, 0)]
    assert await backend.import_jobs(jobs) == 3
    attempts = await backend.claim(limit=3, lease=LEASE, worker_id="w-test", queues=["mail"])
    assert [a.raw for a in attempts] == [jobs[1].raw, jobs[0].raw, jobs[2].raw]
    assert {a.queue for a in attempts} == {"mail"}


async def test_due_times_are_kept(backend: Backend) -> None:
    due = imported(JobState.SCHEDULED, due_at=time.time() - 5)
    later = imported(JobState.RETRY, due_at=time.time() + 3600, queue="q2", priority=-3)
    assert await backend.import_jobs([due, later]) == 2
    assert await backend.promote(JobState.SCHEDULED, limit=10) == 1
    assert await backend.promote(JobState.RETRY, limit=10) == 0
    [attempt] = await backend.claim(limit=5, lease=LEASE, worker_id="w-test")
    assert attempt.raw == due.raw
    [waiting] = await backend.list_jobs(JobQuery(state=JobState.RETRY, limit=5, queue="q2"))
    assert waiting.priority == -3
    assert waiting.queue == "q2"


async def test_finished_jobs_keep_their_progress_and_are_pruned(backend: Backend) -> None:
    now = time.time()
    gone = imported(JobState.COMPLETED, expires_at=now - 1)
    kept = imported(
        JobState.COMPLETED, progress=Progress(fraction=0.5, message="half", updated_at=now - 62)
    )
    assert await backend.import_jobs([gone, kept]) == 2
    stored = await backend.get_job(kept.job_id)
    assert stored is not None
    assert stored.progress is not None
    assert stored.progress.fraction == 0.5
    assert stored.progress.message == "half"
    assert await backend.prune(limit=10) == 1
    assert await backend.get_job(gone.job_id) is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"state": JobState.RUNNING}, "running jobs cannot be imported"),
        ({"state": JobState.SCHEDULED, "due_at": None}, "due_at is required"),
        ({"state": JobState.COMPLETED, "expires_at": None}, "expires_at is required"),
        ({"due_at": float("nan"), "state": JobState.RETRY}, "finite number"),
        ({"job_id": ""}, "needs a job id"),
        ({"queue": "Bad Queue"}, "queue"),
        ({"unique_key": ""}, "unique key"),
        ({"limit_key": "x" * 300}, "limit_key"),
    ],
)
async def test_bad_records_are_refused(
    backend: Backend, fields: dict[str, object], message: str
) -> None:
    good = imported(JobState.QUEUED)
    bad = replace(imported(JobState.COMPLETED), **fields)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        await checked(backend).import_jobs([good, bad])
    assert await backend.get_job(good.job_id) is None


async def test_one_id_twice_in_a_batch_is_refused(backend: Backend) -> None:
    job = imported(JobState.QUEUED)
    with pytest.raises(ValueError, match="twice"):
        await checked(backend).import_jobs([job, job])


def holding(state: JobState, key: str, **fields: object) -> ImportedJob:
    """A job to import in ``state`` whose envelope carries unique key ``key``."""
    job = imported(state, **fields)
    return replace(job, raw=with_unique_key(job.raw, key), unique_key=key)


def duplicate(key: str) -> NewJob:
    """A new job asking for ``key``."""
    return replace(new_job(), unique_key=key)


@pytest.mark.parametrize("state", [JobState.QUEUED, JobState.SCHEDULED, JobState.RETRY])
async def test_a_waiting_job_takes_its_unique_key_with_it(
    backend: Backend, state: JobState
) -> None:
    job = holding(state, "invoice:7")
    assert await backend.import_jobs([job]) == 1
    assert await backend.enqueue([dup := duplicate("invoice:7")]) == [job.job_id]
    assert await backend.get_job(dup.job_id) is None
    # Importing it again changes nothing: the hold is still the job's own.
    assert await backend.import_jobs([job]) == 0
    assert await backend.enqueue([duplicate("invoice:7")]) == [job.job_id]


async def test_dead_and_finished_jobs_take_no_hold(backend: Backend) -> None:
    jobs = [holding(state, f"k{n}") for n, state in enumerate(FINISHED_OR_DEAD)]
    assert await backend.import_jobs(jobs) == len(jobs)
    for n in range(len(jobs)):
        fresh = duplicate(f"k{n}")
        assert await backend.enqueue([fresh]) == [fresh.job_id]


async def test_a_key_held_here_stays_with_its_holder(backend: Backend) -> None:
    holder = duplicate("report:1")
    assert await backend.enqueue([holder]) == [holder.job_id]
    # Two copied jobs of one key (an operator's requeue can make them): the first takes a
    # free key; a key held here stays its holder's. Both jobs are stored all the same.
    first, second = holding(JobState.QUEUED, "report:2"), holding(JobState.QUEUED, "report:2")
    held = holding(JobState.SCHEDULED, "report:1")
    assert await backend.import_jobs([held, first, second]) == 3
    assert await backend.enqueue([duplicate("report:1")]) == [holder.job_id]
    assert await backend.enqueue([duplicate("report:2")]) == [first.job_id]
    assert (await backend.counts()).queued == 3


async def test_limit_keys_are_stored_with_their_jobs(backend: Backend) -> None:
    jobs = [
        imported(state, limit_key=f"tenant:{n}")
        for n, state in enumerate((*WAITING, JobState.COMPLETED))
    ]
    plain = imported(JobState.QUEUED)
    assert await backend.import_jobs([*jobs, plain]) == len(jobs) + 1
    for n, job in enumerate(jobs):
        stored = await backend.get_job(job.job_id)
        assert stored is not None
        assert stored.limit_key == f"tenant:{n}"
    [listed] = await backend.list_jobs(JobQuery(state=JobState.DEAD, limit=5))
    assert listed.limit_key == "tenant:3"
    stored = await backend.get_job(plain.job_id)
    assert stored is not None
    assert stored.limit_key is None
