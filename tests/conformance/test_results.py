"""Results and history on every backend (issue 18): completing with a result and a
retention, the COMPLETED state in every admin verb, pruning, waiting for a job to
finish, progress, the attempt's queue, the layout version and the checked layer's
guards. Cancellation is in test_cancel.py.

Retention runs on the backend's clock (the server's for Redis and SQL), so expiry is
exercised with real keeps of a fraction of a second, never seconds."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from tests.helpers import envelope, new_job, start_job, wait_until
from wg_core.backend import (
    LAYOUT_VERSION,
    Attempt,
    Backend,
    CancelOutcome,
    Completion,
    JobQuery,
    JobState,
    Move,
    NewJob,
    Progress,
)
from wg_core.dispatch import checked
from wg_core.errors import DuplicateJobError

LEASE = 30.0
KEEP = 3600.0
SHORT = 0.2
"""A keep that runs out during the test (real time: the backends' clocks are theirs)."""
RESULT = '{"resized":40,"name":"h\u00e9llo \u2713 \u65e5\u672c"}'


async def completed(backend: Backend, result: str | None = RESULT, **job: object) -> str:
    """Run one job (``job``: new_job's arguments) to COMPLETED, kept ``KEEP``; its id."""
    stored, attempt = await start_job(backend, new_job(**job))  # type: ignore[arg-type]
    assert await backend.complete([Completion(attempt, result=result, keep=KEEP)]) == 1
    return stored.job_id


# -- complete with a result ----------------------------------------------------------------


async def test_complete_with_keep_stores_the_result(backend: Backend) -> None:
    job, attempt = await start_job(backend)
    assert await backend.complete([Completion(attempt, result=RESULT, keep=KEEP)]) == 1
    stored = await backend.get_job(job.job_id)
    assert stored is not None
    assert (stored.state, stored.result, stored.raw) == (JobState.COMPLETED, RESULT, job.raw)
    assert stored.started_at is not None
    assert stored.finished_at is not None
    assert stored.started_at <= stored.finished_at
    assert stored.expires_at == pytest.approx(stored.finished_at + KEEP, abs=1.0)
    assert (stored.lease_until, stored.cancel_requested) == (None, False)
    counts = await backend.counts()
    assert (counts.completed, counts.cancelled, counts.running, counts.total) == (1, 0, 0, 0)
    assert (await backend.counters()).processed == 1


async def test_a_result_of_none_is_stored_as_none(backend: Backend) -> None:
    job_id = await completed(backend, result=None)
    stored = await backend.get_job(job_id)
    assert stored is not None
    assert (stored.state, stored.result) == (JobState.COMPLETED, None)


async def test_keep_zero_and_a_bare_attempt_delete_at_once(backend: Backend) -> None:
    first, a = await start_job(backend)
    second, b = await start_job(backend)
    assert await backend.complete([Completion(a, result=RESULT, keep=0), b]) == 2
    assert await backend.get_job(first.job_id) is None
    assert await backend.get_job(second.job_id) is None
    counts = await backend.counts()
    assert (counts.completed, counts.total) == (0, 0)
    assert (await backend.counters()).processed == 2


async def test_complete_with_a_result_is_compare_and_set(backend: Backend) -> None:
    job, attempt = await start_job(backend)
    forged = Attempt(key=attempt.key, token="not-the-token", raw=attempt.raw)
    assert await backend.complete([Completion(forged, result=RESULT, keep=KEEP)]) == 0
    assert (await backend.counts()).running == 1
    assert await backend.complete([Completion(attempt, result="1", keep=KEEP)]) == 1
    assert await backend.complete([Completion(attempt, result="2", keep=KEEP)]) == 0
    stored = await backend.get_job(job.job_id)
    assert stored is not None
    assert stored.result == "1"
    assert (await backend.counters()).processed == 1


@pytest.mark.parametrize("stale_first", [True, False], ids=["stale-first", "current-first"])
async def test_one_batch_with_a_stale_and_the_current_attempt_keeps_the_current_result(
    backend: Backend, stale_first: bool
) -> None:
    # A worker whose lease ran out may acknowledge in the same batch as the job's new
    # holder (found by the Hypothesis model: one engine stored the stale result, one
    # failed the whole batch).
    job, crashed = await start_job(backend, lease=SHORT)
    reclaimed: list[Attempt] = []

    async def expired() -> bool:
        reclaimed.extend(await backend.reclaim_expired(limit=1, lease=LEASE, worker_id="reaper"))
        return bool(reclaimed)

    await wait_until(expired)
    current = reclaimed[0]
    order = (crashed, current) if stale_first else (current, crashed)
    batch = [Completion(attempt, result=f'"{attempt.token}"', keep=KEEP) for attempt in order]
    assert await backend.complete(batch) == 1
    stored = await backend.get_job(job.job_id)
    assert stored is not None
    assert stored.state is JobState.COMPLETED
    assert stored.result == f'"{current.token}"'
    assert (await backend.counters()).processed == 1


async def test_the_result_of_a_retried_job_is_the_final_attempts(backend: Backend) -> None:
    job, crashed = await start_job(backend, lease=SHORT)
    reclaimed: list[Attempt] = []

    async def expired() -> bool:
        reclaimed.extend(await backend.reclaim_expired(limit=1, lease=LEASE, worker_id="reaper"))
        return bool(reclaimed)

    await wait_until(expired)
    retried = envelope().evolve(id=job.job_id, retry_count=1, last_error="lost").encode()
    assert await backend.retry(reclaimed[0], raw=retried, delay=0, error="lost")
    assert await backend.promote(JobState.RETRY, limit=10) == 1
    [final] = await backend.claim(limit=1, lease=LEASE, worker_id="w2")
    assert await backend.complete([Completion(final, result='"final"', keep=KEEP)]) == 1
    # The first attempt's worker comes back with its own result: refused.
    assert await backend.complete([Completion(crashed, result='"first"', keep=KEEP)]) == 0
    stored = await backend.get_job(job.job_id)
    assert stored is not None
    assert (stored.state, stored.result, stored.raw) == (JobState.COMPLETED, '"final"', retried)
    counters = await backend.counters()
    assert (counters.processed, counters.failed) == (1, 1)


# -- completed jobs in the admin verbs -----------------------------------------------------


async def test_list_completed_in_finish_order_with_filters(backend: Backend) -> None:
    jobs = [new_job(), new_job(), new_job(queue="other", priority=7)]
    attempts = {}
    for job in jobs:
        attempts[job.job_id] = (await start_job(backend, job))[1]
    finish_order = [jobs[2], jobs[0], jobs[1]]  # not the enqueue order
    for job in finish_order:
        completion = Completion(attempts[job.job_id], result=RESULT, keep=KEEP)
        assert await backend.complete([completion]) == 1
    listed = await backend.list_jobs(JobQuery(state=JobState.COMPLETED, limit=10))
    assert [j.job_id for j in listed] == [j.job_id for j in finish_order]
    assert all(j.state is JobState.COMPLETED and j.result == RESULT for j in listed)
    newest = await backend.list_jobs(JobQuery(state=JobState.COMPLETED, limit=2, newest_first=True))
    assert [j.job_id for j in newest] == [jobs[1].job_id, jobs[0].job_id]
    paged = await backend.list_jobs(JobQuery(state=JobState.COMPLETED, limit=2, offset=1))
    assert [j.job_id for j in paged] == [jobs[0].job_id, jobs[1].job_id]
    [other] = await backend.list_jobs(JobQuery(state=JobState.COMPLETED, limit=10, queue="other"))
    assert (other.job_id, other.queue, other.priority) == (jobs[2].job_id, "other", 7)
    assert (await backend.counts(queue="other")).completed == 1
    assert (await backend.counts(queue="default")).completed == 2
    assert await backend.list_jobs(JobQuery(state=JobState.QUEUED, limit=10)) == []


async def test_move_to_queue_runs_a_completed_job_again(backend: Backend) -> None:
    job_id = await completed(backend, queue="mail", priority=5)
    fresh = envelope().evolve(id=job_id).encode()
    wrong = Move(job_id=job_id, from_state=JobState.DEAD, raw=fresh)
    assert await backend.move_to_queue([wrong]) == 0
    assert await backend.move_to_queue([Move(job_id, JobState.COMPLETED, fresh)]) == 1
    stored = await backend.get_job(job_id)
    assert stored is not None
    assert (stored.state, stored.queue, stored.priority, stored.raw) == (
        JobState.QUEUED,
        "mail",
        5,
        fresh,
    )
    counts = await backend.counts(queue="mail")
    assert (counts.queued, counts.completed) == (1, 0)
    [again] = await backend.claim(limit=1, lease=LEASE, worker_id="w", queues=["mail"])
    assert again.raw == fresh
    assert await backend.complete([Completion(again, result='"again"', keep=KEEP)]) == 1
    stored = await backend.get_job(job_id)
    assert stored is not None
    assert (stored.state, stored.result) == (JobState.COMPLETED, '"again"')


async def test_delete_and_purge_finished_jobs(backend: Backend) -> None:
    first = await completed(backend)
    second = await completed(backend, queue="other")
    third = await completed(backend, queue="other")
    assert await backend.delete_jobs([first, "missing"]) == 1
    assert await backend.get_job(first) is None
    assert await backend.purge(JobState.COMPLETED, queue="default") == 0
    assert await backend.purge(JobState.COMPLETED, queue="other") == 2
    assert {await backend.get_job(second), await backend.get_job(third)} == {None}
    fourth = await completed(backend)
    assert await backend.purge(JobState.COMPLETED) == 1
    assert await backend.get_job(fourth) is None
    assert (await backend.counts()).completed == 0
    assert (await backend.counters()).processed == 4  # deleting does not uncount


async def test_a_kept_job_id_is_refused_until_the_job_is_deleted(backend: Backend) -> None:
    job_id = await completed(backend)
    # Another job under the kept id (Redis takes a byte-identical re-send for a retry).
    raw = envelope(payload={"again": True}, job_id=job_id).encode()
    before = await backend.counts()
    fresh = new_job()
    for batch in (
        [NewJob(job_id=job_id, job_name="job", raw=raw)],
        [fresh, NewJob(job_id=job_id, job_name="job", raw=raw)],
        [NewJob(job_id=job_id, job_name="job", raw=raw, delay=60.0)],
        [fresh, new_job(delay=60.0), NewJob(job_id=job_id, job_name="job", raw=raw, delay=60.0)],
    ):
        with pytest.raises(DuplicateJobError):
            await backend.enqueue(batch)
        assert await backend.counts() == before
        assert await backend.get_job(fresh.job_id) is None
    stored = await backend.get_job(job_id)
    assert stored is not None
    assert (stored.state, stored.result) == (JobState.COMPLETED, RESULT)
    assert await backend.delete_jobs([job_id]) == 1
    await backend.enqueue([NewJob(job_id=job_id, job_name="job", raw=raw)])
    stored = await backend.get_job(job_id)
    assert stored is not None
    assert (stored.state, stored.raw) == (JobState.QUEUED, raw)


# -- prune ---------------------------------------------------------------------------------


async def test_prune_deletes_only_expired_finished_jobs_in_batches(backend: Backend) -> None:
    expiring = []
    for _ in range(3):
        _, attempt = await start_job(backend)
        assert await backend.complete([Completion(attempt, result=RESULT, keep=SHORT)]) == 1
        expiring.append(attempt.key)
    kept = await completed(backend)
    cancelled_soon = new_job()
    await backend.enqueue([cancelled_soon])
    assert await backend.cancel(cancelled_soon.job_id, keep=SHORT) is CancelOutcome.CANCELLED
    # Jobs in the other states have no expiry, however old they get.
    _, dead = await start_job(backend)
    assert await backend.bury(dead, raw=dead.raw, error="fatal")
    _, _running = await start_job(backend)
    queued = new_job()
    await backend.enqueue([queued])

    await asyncio.sleep(2 * SHORT)  # the four short keeps have run out
    assert await backend.prune(limit=2) == 2
    assert await backend.prune(limit=2) == 2
    assert await backend.prune(limit=10) == 0
    assert await backend.get_job(cancelled_soon.job_id) is None
    counts = await backend.counts()
    assert (counts.completed, counts.cancelled, counts.dead, counts.running, counts.queued) == (
        1,
        0,
        1,
        1,
        1,
    )
    assert (await backend.get_job(kept)) is not None
    assert (await backend.counters()).processed == 4


async def test_prune_takes_the_oldest_expiry_first(backend: Backend) -> None:
    late_job, late = await start_job(backend)
    early_job, early = await start_job(backend)
    # Finished second, but expires first.
    assert await backend.complete([Completion(late, result="1", keep=2 * SHORT)]) == 1
    assert await backend.complete([Completion(early, result="2", keep=SHORT / 4)]) == 1
    await asyncio.sleep(3 * SHORT)  # both have expired
    assert await backend.prune(limit=1) == 1
    assert await backend.get_job(early_job.job_id) is None
    assert await backend.get_job(late_job.job_id) is not None
    assert await backend.prune(limit=1) == 1
    assert await backend.get_job(late_job.job_id) is None


async def test_concurrent_pruners_delete_each_job_exactly_once(
    backend: Backend, twin: Backend
) -> None:
    total = 40
    await backend.enqueue([new_job(payload={"n": n}) for n in range(total)])
    attempts = await backend.claim(limit=total, lease=LEASE, worker_id="w")
    assert len(attempts) == total
    done = await backend.complete(
        [Completion(a, result=str(n), keep=SHORT) for n, a in enumerate(attempts)]
    )
    assert done == total
    await asyncio.sleep(2 * SHORT)

    async def pruner(source: Backend) -> int:
        deleted = 0
        while batch := await source.prune(limit=5):
            assert batch <= 5
            deleted += batch
        return deleted

    deleted = await asyncio.gather(*(pruner(backend if i % 2 else twin) for i in range(8)))
    assert sum(deleted) == total
    assert (await backend.counts()).completed == 0


# -- wait_finished -------------------------------------------------------------------------


async def test_wait_finished_returns_at_once_for_ended_jobs(backend: Backend) -> None:
    done = await completed(backend)
    dead, attempt = await start_job(backend)
    assert await backend.bury(attempt, raw=attempt.raw, error="fatal")
    # Each would wait 60 s if the backend did not see the job had ended.
    finished = await asyncio.wait_for(backend.wait_finished(done, timeout=60), 20)
    assert finished is not None
    assert (finished.state, finished.result) == (JobState.COMPLETED, RESULT)
    buried = await asyncio.wait_for(backend.wait_finished(dead.job_id, timeout=60), 20)
    assert buried is not None
    assert buried.state is JobState.DEAD
    assert await asyncio.wait_for(backend.wait_finished("no-such-job", timeout=60), 20) is None


async def test_wait_finished_returns_the_job_as_it_is_at_the_timeout(backend: Backend) -> None:
    queued = new_job()
    await backend.enqueue([queued])
    stored = await backend.wait_finished(queued.job_id, timeout=0.1)
    assert stored is not None
    assert stored.state is JobState.QUEUED
    job, _ = await start_job(backend, new_job(queue="other"))
    stored = await backend.wait_finished(job.job_id, timeout=0.1)
    assert stored is not None
    assert stored.state is JobState.RUNNING


async def test_wait_finished_wakes_on_a_completion(backend: Backend, twin: Backend) -> None:
    job, attempt = await start_job(backend)
    waiter = asyncio.create_task(backend.wait_finished(job.job_id, timeout=60))
    await asyncio.sleep(0.1)
    assert not waiter.done()
    assert await twin.complete([Completion(attempt, result=RESULT, keep=KEEP)]) == 1
    stored = await asyncio.wait_for(waiter, 30)
    assert stored is not None
    assert (stored.state, stored.result) == (JobState.COMPLETED, RESULT)


# -- progress ------------------------------------------------------------------------------


async def test_progress_is_stored_while_running(backend: Backend, twin: Backend) -> None:
    job, attempt = await start_job(backend)
    assert await backend.set_progress(attempt, Progress(0.25, None))
    assert await backend.set_progress(attempt, Progress(0.4, "resized 40 of 100"))
    stored = await twin.get_job(job.job_id)
    assert stored is not None
    assert stored.progress is not None
    assert (stored.state, stored.progress.fraction, stored.progress.message) == (
        JobState.RUNNING,
        pytest.approx(0.4),
        "resized 40 of 100",
    )
    assert stored.progress.updated_at is not None
    assert stored.progress.updated_at == pytest.approx(time.time(), abs=60.0)  # backend clock
    forged = Attempt(key=attempt.key, token="not-the-token", raw=attempt.raw)
    assert not await backend.set_progress(forged, Progress(0.9, "forged"))
    assert await backend.complete([attempt]) == 1
    assert not await backend.set_progress(attempt, Progress(1.0, "too late"))


# -- attempts, layout, guards --------------------------------------------------------------


async def test_attempts_carry_their_queue(backend: Backend) -> None:
    _, plain = await start_job(backend)
    assert (plain.queue, plain.cancel_requested) == ("default", False)
    _, mail = await start_job(backend, new_job(queue="mail"), lease=SHORT)
    assert mail.queue == "mail"
    reclaimed: list[Attempt] = []

    async def expired() -> bool:
        reclaimed.extend(await backend.reclaim_expired(limit=10, lease=LEASE, worker_id="r"))
        return bool(reclaimed)

    await wait_until(expired)
    assert [(a.key, a.queue, a.cancel_requested) for a in reclaimed] == [(mail.key, "mail", False)]


async def test_layout_version_is_current(backend: Backend) -> None:
    # 3: finished jobs kept; 4: unique keys' holds, periodic entries, queue limits;
    # 5: the SQL engine's trigger-kept state counts.
    assert LAYOUT_VERSION == 5
    assert await backend.layout_version() == LAYOUT_VERSION


async def test_the_checked_layer_refuses_bad_arguments(backend: Backend) -> None:
    guarded = checked(backend)
    job, attempt = await start_job(backend)
    with pytest.raises(ValueError, match="keep"):
        await guarded.complete([Completion(attempt, result=RESULT, keep=-1.0)])
    with pytest.raises(ValueError, match="keep"):
        await guarded.complete([Completion(attempt, result=RESULT, keep=math.inf)])
    with pytest.raises(ValueError, match="keep"):
        await guarded.finish_cancelled(attempt, keep=math.nan, error=None)
    with pytest.raises(ValueError, match="keep"):
        await guarded.cancel(job.job_id, keep=-5)
    for fraction in (-0.1, 1.5, math.nan):
        with pytest.raises(ValueError, match="progress"):
            await guarded.set_progress(attempt, Progress(fraction, None))
    with pytest.raises(ValueError, match="progress message"):
        await guarded.set_progress(attempt, Progress(0.5, "x" * 1001))
    with pytest.raises(ValueError, match="limit"):
        await guarded.prune(limit=0)
    with pytest.raises(ValueError, match="timeout"):
        await guarded.wait_finished(job.job_id, timeout=-1)
    with pytest.raises(ValueError, match="timeout"):
        await guarded.wait_cancel_request(timeout=-1)
    stored = await backend.get_job(job.job_id)
    assert stored is not None
    assert (stored.state, stored.progress, stored.cancel_requested) == (
        JobState.RUNNING,
        None,
        False,
    )
    assert await guarded.cancel("", keep=KEEP) is CancelOutcome.NOT_CANCELLABLE
    assert await guarded.wait_finished("", timeout=0) is None
