"""Cancellation on every backend (issue 18): a waiting job is CANCELLED at once and never
runs; a running one is marked, its worker learns through its heartbeat (woken by
``wait_cancel_request``) and finishes it cancelled, unless its completion wins; exactly
one of the two takes effect, whatever the order or the timing."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers import envelope, new_job, start_job, wait_until
from wg_core.backend import (
    Attempt,
    Backend,
    CancelOutcome,
    Completion,
    JobQuery,
    JobState,
    Move,
    NewJob,
    WorkerInfo,
)

LEASE = 30.0
KEEP = 3600.0
SHORT = 0.2
WORKER = WorkerInfo(worker_id="w-test", host="h", pid=1, concurrency=4, started_at=1.0)


async def assert_cancelled(
    backend: Backend, job: NewJob, *, error: str | None = None, any_error: bool = False
) -> None:
    """``job`` is CANCELLED, kept ``KEEP``, with its queue, priority and envelope, and
    ``error`` as its last error (unless ``any_error``)."""
    stored = await backend.get_job(job.job_id)
    assert stored is not None
    assert (stored.state, stored.queue, stored.priority, stored.raw) == (
        JobState.CANCELLED,
        job.queue,
        job.priority,
        job.raw,
    )
    assert stored.finished_at is not None
    assert stored.expires_at == pytest.approx(stored.finished_at + KEEP, abs=1.0)
    if not any_error:
        assert stored.last_error == error


async def reclaim_all(backend: Backend) -> list[Attempt]:
    """Wait until some expired lease is reclaimed; the reclaimed attempts."""
    reclaimed: list[Attempt] = []

    async def expired() -> bool:
        reclaimed.extend(await backend.reclaim_expired(limit=10, lease=LEASE, worker_id="r"))
        return bool(reclaimed)

    await wait_until(expired)
    return reclaimed


# -- waiting jobs: cancelled at once -------------------------------------------------------


async def test_cancel_a_queued_job(backend: Backend, twin: Backend) -> None:
    job = new_job(queue="mail", priority=3)
    other = new_job(queue="mail")
    await backend.enqueue([job, other])
    assert await twin.cancel(job.job_id, keep=KEEP) is CancelOutcome.CANCELLED
    await assert_cancelled(backend, job)
    attempts = await backend.claim(limit=10, lease=LEASE, worker_id="w", queues=["mail"])
    assert [a.raw for a in attempts] == [other.raw]
    counts = await backend.counts(queue="mail")
    assert (counts.queued, counts.running, counts.cancelled, counts.total) == (0, 1, 1, 1)
    assert (await backend.counts()).cancelled == 1
    [listed] = await backend.list_jobs(JobQuery(state=JobState.CANCELLED, limit=10, queue="mail"))
    assert listed.job_id == job.job_id
    counters = await backend.counters()
    assert (counters.processed, counters.failed) == (0, 0)


async def test_cancel_scheduled_and_retry_jobs_they_are_never_promoted(backend: Backend) -> None:
    scheduled = new_job(delay=SHORT)
    retried, attempt = await start_job(backend)
    raw = envelope().evolve(id=retried.job_id, retry_count=1, last_error="boom").encode()
    assert await backend.retry(attempt, raw=raw, delay=SHORT, error="boom")
    await backend.enqueue([scheduled])
    assert await backend.cancel(scheduled.job_id, keep=KEEP) is CancelOutcome.CANCELLED
    assert await backend.cancel(retried.job_id, keep=KEEP) is CancelOutcome.CANCELLED
    await assert_cancelled(backend, scheduled)
    stored = await backend.get_job(retried.job_id)
    assert stored is not None
    assert (stored.state, stored.raw) == (JobState.CANCELLED, raw)  # the envelope as it was
    await asyncio.sleep(2 * SHORT)  # both would be due now
    assert await backend.promote(JobState.SCHEDULED, limit=10) == 0
    assert await backend.promote(JobState.RETRY, limit=10) == 0
    assert await backend.claim(limit=10, lease=LEASE, worker_id="w") == []
    counts = await backend.counts()
    assert (counts.scheduled, counts.retry, counts.cancelled) == (0, 0, 2)


async def test_cancel_a_dead_job(backend: Backend) -> None:
    job, attempt = await start_job(backend)
    assert await backend.bury(attempt, raw=attempt.raw, error="fatal")
    assert await backend.cancel(job.job_id, keep=KEEP) is CancelOutcome.CANCELLED
    await assert_cancelled(backend, job, any_error=True)  # it may keep its burial's error
    counts = await backend.counts()
    assert (counts.dead, counts.cancelled) == (0, 1)
    assert (await backend.counters()).failed == 1  # the burial still counted, once


async def test_cancel_with_keep_zero_deletes_the_job(backend: Backend) -> None:
    job = new_job()
    await backend.enqueue([job])
    assert await backend.cancel(job.job_id, keep=0) is CancelOutcome.CANCELLED
    assert await backend.get_job(job.job_id) is None
    assert await backend.claim(limit=1, lease=LEASE, worker_id="w") == []
    counts = await backend.counts()
    assert (counts.cancelled, counts.total) == (0, 0)


async def test_finished_and_unknown_jobs_are_not_cancellable(backend: Backend) -> None:
    done, attempt = await start_job(backend)
    assert await backend.complete([Completion(attempt, result="1", keep=KEEP)]) == 1
    cancelled = new_job()
    await backend.enqueue([cancelled])
    assert await backend.cancel(cancelled.job_id, keep=KEEP) is CancelOutcome.CANCELLED
    for job_id in (done.job_id, cancelled.job_id, "no-such-job"):
        assert await backend.cancel(job_id, keep=KEEP) is CancelOutcome.NOT_CANCELLABLE
    stored = await backend.get_job(done.job_id)
    assert stored is not None
    assert (stored.state, stored.result) == (JobState.COMPLETED, "1")


async def test_a_cancelled_job_can_be_requeued_deleted_and_purged(backend: Backend) -> None:
    first, second, third = (new_job(queue="q", priority=4) for _ in range(3))
    await backend.enqueue([first, second, third])
    for job in (first, second, third):
        assert await backend.cancel(job.job_id, keep=KEEP) is CancelOutcome.CANCELLED
    fresh = envelope().evolve(id=first.job_id).encode()
    assert await backend.move_to_queue([Move(first.job_id, JobState.CANCELLED, fresh)]) == 1
    [again] = await backend.claim(limit=10, lease=LEASE, worker_id="w", queues=["q"])
    assert (again.raw, again.queue) == (fresh, "q")
    stored = await backend.get_job(first.job_id)
    assert stored is not None
    assert (stored.state, stored.priority) == (JobState.RUNNING, 4)
    assert await backend.delete_jobs([second.job_id]) == 1
    assert await backend.purge(JobState.CANCELLED, queue="other") == 0
    assert await backend.purge(JobState.CANCELLED, queue="q") == 1
    assert (await backend.counts()).cancelled == 0


# -- running jobs: requested, then finished cancelled --------------------------------------


async def test_cancel_a_running_job_through_its_heartbeat(backend: Backend, twin: Backend) -> None:
    job, attempt = await start_job(backend)
    _, bystander = await start_job(backend)
    assert await twin.cancel(job.job_id, keep=KEEP) is CancelOutcome.REQUESTED
    assert await twin.cancel(job.job_id, keep=KEEP) is CancelOutcome.REQUESTED  # still running
    stored = await backend.get_job(job.job_id)
    assert stored is not None
    assert (stored.state, stored.cancel_requested) == (JobState.RUNNING, True)
    reply = await backend.heartbeat(WORKER, attempts=[attempt, bystander], lease=LEASE)
    assert (reply.cancelled, reply.lost) == (frozenset({attempt.token}), frozenset())
    assert await backend.finish_cancelled(attempt, keep=KEEP, error="cancelled by request")
    assert not await backend.finish_cancelled(attempt, keep=KEEP, error="again")
    await assert_cancelled(backend, job, error="cancelled by request")
    counters = await backend.counters()
    assert (counters.processed, counters.failed) == (0, 0)
    counts = await backend.counts()
    assert (counts.running, counts.cancelled) == (1, 1)
    reply = await backend.heartbeat(WORKER, attempts=[attempt, bystander], lease=LEASE)
    assert (reply.cancelled, reply.lost) == (frozenset(), frozenset({attempt.token}))
    assert await backend.cancel(job.job_id, keep=KEEP) is CancelOutcome.NOT_CANCELLABLE


async def test_finish_cancelled_with_keep_zero_deletes(backend: Backend) -> None:
    job, attempt = await start_job(backend)
    assert await backend.cancel(job.job_id, keep=KEEP) is CancelOutcome.REQUESTED
    assert await backend.finish_cancelled(attempt, keep=0, error="cancelled")
    assert await backend.get_job(job.job_id) is None
    assert (await backend.counts()).total == 0


async def test_a_reaped_job_brings_its_cancel_request_along(backend: Backend) -> None:
    job, crashed = await start_job(backend, lease=SHORT)
    assert await backend.cancel(job.job_id, keep=KEEP) is CancelOutcome.REQUESTED
    [reclaimed] = await reclaim_all(backend)
    assert (reclaimed.key, reclaimed.raw, reclaimed.cancel_requested) == (
        crashed.key,
        crashed.raw,
        True,
    )
    assert reclaimed.token != crashed.token
    # The crashed worker's token is stale: only the reaper finishes the job.
    assert not await backend.finish_cancelled(crashed, keep=KEEP, error="cancelled")
    assert await backend.finish_cancelled(reclaimed, keep=KEEP, error="cancelled")
    await assert_cancelled(backend, job, error="cancelled")


async def test_releasing_a_cancel_requested_job_cancels_it(backend: Backend) -> None:
    # A worker shutting down releases what it holds; one whose cancel was requested
    # must not run again (the cancel reported it as good as done): it ends cancelled,
    # kept as the cancel asked.
    job, attempt = await start_job(backend)
    other, bystander = await start_job(backend)
    assert await backend.cancel(job.job_id, keep=KEEP) is CancelOutcome.REQUESTED
    assert await backend.release([attempt, bystander]) == 2
    await assert_cancelled(backend, job)
    [again] = await backend.claim(limit=10, lease=LEASE, worker_id="w")
    assert again.raw == other.raw
    counters = await backend.counters()
    assert (counters.processed, counters.failed) == (0, 0)


async def test_a_failed_attempt_of_a_cancel_requested_job_is_not_retried(
    backend: Backend,
) -> None:
    # The handler failed before its worker learned of the cancel: the failure counts,
    # but the job must not run again (the cancel reported it as good as done).
    job, attempt = await start_job(backend)
    assert await backend.cancel(job.job_id, keep=KEEP) is CancelOutcome.REQUESTED
    raw = envelope().evolve(id=job.job_id, retry_count=1, last_error="boom").encode()
    assert await backend.retry(attempt, raw=raw, delay=0, error="boom")
    stored = await backend.get_job(job.job_id)
    assert stored is not None
    assert stored.state is JobState.CANCELLED
    assert stored.finished_at is not None
    assert stored.expires_at == pytest.approx(stored.finished_at + KEEP, abs=1.0)
    assert await backend.promote(JobState.RETRY, limit=10) == 0
    assert await backend.claim(limit=1, lease=LEASE, worker_id="w") == []
    counts = await backend.counts()
    assert (counts.retry, counts.cancelled) == (0, 1)
    assert (await backend.counters()).failed == 1


# -- cancel racing completion --------------------------------------------------------------


async def test_a_completion_after_the_request_wins(backend: Backend) -> None:
    job, attempt = await start_job(backend)
    assert await backend.cancel(job.job_id, keep=KEEP) is CancelOutcome.REQUESTED
    assert await backend.complete([Completion(attempt, result='"done"', keep=KEEP)]) == 1
    assert not await backend.finish_cancelled(attempt, keep=KEEP, error="cancelled")
    stored = await backend.get_job(job.job_id)
    assert stored is not None
    assert (stored.state, stored.result) == (JobState.COMPLETED, '"done"')
    assert (await backend.counters()).processed == 1
    assert (await backend.counts()).cancelled == 0


async def test_a_cancel_finished_first_wins(backend: Backend) -> None:
    job, attempt = await start_job(backend)
    assert await backend.cancel(job.job_id, keep=KEEP) is CancelOutcome.REQUESTED
    assert await backend.finish_cancelled(attempt, keep=KEEP, error="cancelled")
    assert await backend.complete([Completion(attempt, result='"done"', keep=KEEP)]) == 0
    await assert_cancelled(backend, job, error="cancelled")
    assert (await backend.counters()).processed == 0


async def test_a_completed_job_ignores_a_later_cancel(backend: Backend) -> None:
    job, attempt = await start_job(backend)
    assert await backend.complete([Completion(attempt, result="7", keep=KEEP)]) == 1
    assert await backend.cancel(job.job_id, keep=KEEP) is CancelOutcome.NOT_CANCELLABLE
    stored = await backend.get_job(job.job_id)
    assert stored is not None
    assert (stored.state, stored.result, stored.cancel_requested) == (
        JobState.COMPLETED,
        "7",
        False,
    )


async def test_concurrent_completion_and_cancellation_exactly_one_wins(
    backend: Backend, twin: Backend
) -> None:
    total = 30
    await backend.enqueue([new_job(payload={"n": n}) for n in range(total)])
    attempts = await backend.claim(limit=total, lease=LEASE, worker_id="w")
    assert len(attempts) == total
    running = await backend.list_jobs(JobQuery(state=JobState.RUNNING, limit=total))
    by_raw = {job.raw: job.job_id for job in running}
    for attempt in attempts:
        assert await twin.cancel(by_raw[attempt.raw], keep=KEEP) is CancelOutcome.REQUESTED

    async def race(n: int, attempt: Attempt) -> tuple[bool, bool]:
        completion = Completion(attempt, result=str(n), keep=KEEP)
        done, cancelled = await asyncio.gather(
            (backend if n % 2 else twin).complete([completion]),
            (twin if n % 2 else backend).finish_cancelled(attempt, keep=KEEP, error="cancelled"),
        )
        return done == 1, cancelled

    outcomes = await asyncio.gather(*(race(n, a) for n, a in enumerate(attempts)))
    for (done, cancelled), attempt in zip(outcomes, attempts, strict=True):
        assert done != cancelled, "exactly one of the completion and the cancel wins"
        stored = await backend.get_job(by_raw[attempt.raw])
        assert stored is not None
        assert stored.state is (JobState.COMPLETED if done else JobState.CANCELLED)
    wins = sum(done for done, _ in outcomes)
    counts = await backend.counts()
    assert (counts.running, counts.completed, counts.cancelled) == (0, wins, total - wins)
    assert (await backend.counters()).processed == wins


async def test_cancel_racing_claim_never_runs_a_cancelled_job(
    backend: Backend, twin: Backend
) -> None:
    total = 60
    jobs = [new_job(payload={"n": n}) for n in range(total)]
    await backend.enqueue(jobs)
    claimed: list[Attempt] = []

    async def claimer() -> None:
        while attempts := await backend.claim(limit=3, lease=LEASE, worker_id="w"):
            claimed.extend(attempts)
            await asyncio.sleep(0)

    async def canceller() -> list[CancelOutcome]:
        outcomes = []
        for job in jobs:
            outcomes.append(await twin.cancel(job.job_id, keep=KEEP))
        return outcomes

    _, outcomes = await asyncio.gather(claimer(), canceller())
    ran = {attempt.raw for attempt in claimed}
    for job, outcome in zip(jobs, outcomes, strict=True):
        # Claimed before the cancel: requested; otherwise cancelled and never claimed.
        expected = CancelOutcome.REQUESTED if job.raw in ran else CancelOutcome.CANCELLED
        assert outcome is expected
    assert await backend.claim(limit=total, lease=LEASE, worker_id="w") == []
    counts = await backend.counts()
    assert (counts.running, counts.cancelled, counts.queued) == (len(ran), total - len(ran), 0)


# -- waking the worker and the waiters -----------------------------------------------------


async def test_wait_cancel_request_wakes_on_a_cancel(backend: Backend, twin: Backend) -> None:
    assert not await backend.wait_cancel_request(timeout=0.1)
    job, attempt = await start_job(backend)
    waiter = asyncio.create_task(backend.wait_cancel_request(timeout=60))
    await asyncio.sleep(0.1)
    assert await twin.cancel(job.job_id, keep=KEEP) is CancelOutcome.REQUESTED
    assert await asyncio.wait_for(waiter, 30)
    reply = await backend.heartbeat(WORKER, attempts=[attempt], lease=LEASE)
    assert reply.cancelled == frozenset({attempt.token})


async def test_wait_finished_wakes_on_a_cancel(backend: Backend, twin: Backend) -> None:
    queued = new_job()
    await backend.enqueue([queued])
    waiter = asyncio.create_task(backend.wait_finished(queued.job_id, timeout=60))
    await asyncio.sleep(0.1)
    assert not waiter.done()
    assert await twin.cancel(queued.job_id, keep=KEEP) is CancelOutcome.CANCELLED
    stored = await asyncio.wait_for(waiter, 30)
    assert stored is not None
    assert stored.state is JobState.CANCELLED


async def test_wait_finished_wakes_on_a_running_jobs_cancel(
    backend: Backend, twin: Backend
) -> None:
    job, attempt = await start_job(backend)
    waiter = asyncio.create_task(backend.wait_finished(job.job_id, timeout=60))
    assert await twin.cancel(job.job_id, keep=KEEP) is CancelOutcome.REQUESTED
    await asyncio.sleep(0.1)
    assert not waiter.done()  # requested is not finished
    assert await twin.finish_cancelled(attempt, keep=KEEP, error="cancelled")
    stored = await asyncio.wait_for(waiter, 30)
    assert stored is not None
    assert (stored.state, stored.last_error) == (JobState.CANCELLED, "cancelled")
