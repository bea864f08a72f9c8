"""Named queues and priorities, on every backend: which job a claim takes, and that a
job keeps its queue and priority through every state (issue 17).

The admin side of queues (pause, counts, counters, listing, purge) is in
``test_queue_admin.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

from tests.helpers import envelope, new_job, wait_until
from wg_core.backend import Attempt, Backend, JobQuery, JobState, Move, NewJob
from wg_core.queues import DEFAULT_QUEUE, MAX_PRIORITY, MIN_PRIORITY

LEASE = 30.0


async def claim(
    backend: Backend, limit: int = 1, *, queues: Sequence[str] | None = None, lease: float = LEASE
) -> list[Attempt]:
    """Claim as a pool serving ``queues`` (the contract's default when ``None``)."""
    if queues is None:
        return await backend.claim(limit=limit, lease=lease, worker_id="w-test")
    return await backend.claim(limit=limit, lease=lease, worker_id="w-test", queues=queues)


def ids(attempts: Sequence[Attempt]) -> list[str]:
    """The job ids of ``attempts``, in order."""
    return [json.loads(attempt.raw)["id"] for attempt in attempts]


def job_ids(jobs: Sequence[NewJob]) -> list[str]:
    return [job.job_id for job in jobs]


async def place(backend: Backend, job_id: str) -> tuple[JobState, str, int]:
    """Where a job is: its state, queue and priority."""
    stored = await backend.get_job(job_id)
    assert stored is not None
    return stored.state, stored.queue, stored.priority


# -- defaults and what is returned ---------------------------------------------------------


async def test_a_job_without_queue_or_priority_is_in_default_at_zero(backend: Backend) -> None:
    env = envelope()
    await backend.enqueue([NewJob(job_id=env.id, job_name="job", raw=env.encode())])
    assert await place(backend, env.id) == (JobState.QUEUED, DEFAULT_QUEUE, 0)
    [listed] = await backend.list_jobs(JobQuery(state=JobState.QUEUED, limit=10))
    assert (listed.queue, listed.priority) == (DEFAULT_QUEUE, 0)
    assert ids(await claim(backend, queues=[DEFAULT_QUEUE])) == [env.id]


async def test_get_job_and_list_jobs_return_queue_and_priority(backend: Backend) -> None:
    queued = new_job(queue="emails", priority=7)
    scheduled = new_job(queue="reports", priority=-3, delay=3600)
    extremes = [
        new_job(queue="edge", priority=MAX_PRIORITY),
        new_job(queue="edge", priority=MIN_PRIORITY),
    ]
    await backend.enqueue([queued, scheduled, *extremes])
    assert await place(backend, queued.job_id) == (JobState.QUEUED, "emails", 7)
    assert await place(backend, scheduled.job_id) == (JobState.SCHEDULED, "reports", -3)
    assert await place(backend, extremes[0].job_id) == (JobState.QUEUED, "edge", MAX_PRIORITY)
    assert await place(backend, extremes[1].job_id) == (JobState.QUEUED, "edge", MIN_PRIORITY)
    listed = await backend.list_jobs(JobQuery(state=JobState.QUEUED, limit=10))
    assert {(j.job_id, j.queue, j.priority) for j in listed} == {
        (queued.job_id, "emails", 7),
        (extremes[0].job_id, "edge", MAX_PRIORITY),
        (extremes[1].job_id, "edge", MIN_PRIORITY),
    }
    [later] = await backend.list_jobs(JobQuery(state=JobState.SCHEDULED, limit=10))
    assert (later.queue, later.priority) == ("reports", -3)


# -- which job a claim takes ---------------------------------------------------------------


async def test_a_claim_without_queues_serves_only_default(backend: Backend) -> None:
    other = new_job(queue="emails")
    mine = new_job()
    await backend.enqueue([other, mine])
    assert ids(await claim(backend, 10)) == [mine.job_id]
    assert await claim(backend, 10) == []
    assert await place(backend, other.job_id) == (JobState.QUEUED, "emails", 0)


async def test_queues_are_served_in_strict_order(backend: Backend) -> None:
    # Enqueued interleaved, later queues first, and the later queues' jobs at higher
    # priorities: none of that lets a later queue's job go before an earlier one's.
    c = [new_job(queue="c", priority=MAX_PRIORITY) for _ in range(3)]
    b = [new_job(queue="b", priority=5) for _ in range(3)]
    a = [new_job(queue="a", priority=MIN_PRIORITY) for _ in range(3)]
    for trio in zip(c, b, a, strict=True):
        await backend.enqueue(list(trio))
    assert ids(await claim(backend, 2, queues=["a", "b", "c"])) == job_ids(a[:2])
    # One job left in "a": the claim tops up from "b", then "c", in that order.
    assert ids(await claim(backend, 5, queues=["a", "b", "c"])) == job_ids(a[2:] + b + c[:1])
    assert ids(await claim(backend, 5, queues=["c", "b", "a"])) == job_ids(c[1:])


async def test_higher_priority_runs_first_within_a_queue(backend: Backend) -> None:
    priorities = [0, 5, -5, MAX_PRIORITY, MIN_PRIORITY, 5, 0, 1]
    jobs = [new_job(payload={"n": n}, queue="work", priority=p) for n, p in enumerate(priorities)]
    for job in jobs:
        await backend.enqueue([job])
    expected = sorted(jobs, key=lambda job: -job.priority)  # stable: FIFO among equals
    assert ids(await claim(backend, len(jobs), queues=["work"])) == job_ids(expected)


async def test_one_priority_is_fifo_across_single_and_batch_enqueues(backend: Backend) -> None:
    singles = [new_job(payload={"n": n}, queue="work", priority=3) for n in range(5)]
    batch = [new_job(payload={"n": n}, queue="work", priority=3) for n in range(5, 25)]
    lower = [new_job(queue="work", priority=2) for _ in range(3)]
    await backend.enqueue(lower[:1])
    for job in singles:
        await backend.enqueue([job])
    await backend.enqueue([*lower[1:], *batch])
    claimed = ids(await claim(backend, 3, queues=["work"]))
    claimed += ids(await claim(backend, 100, queues=["work"]))
    assert claimed == job_ids(singles + batch + lower)


async def test_a_batch_over_queues_and_priorities_keeps_each_ones_fifo(backend: Backend) -> None:
    # One batch, nine queue/priority classes interleaved (SQL stores it grouped by
    # class): the ids come back in the batch's order, and each class is FIFO.
    jobs = [
        new_job(payload={"n": n}, queue=("a", "b", "c")[n % 3], priority=(5, 0, -5)[n // 3 % 3])
        for n in range(45)
    ]
    assert await backend.enqueue(jobs) == job_ids(jobs)
    claimed = ids(await claim(backend, 100, queues=["a", "b", "c"]))
    expected = sorted(jobs, key=lambda job: (job.queue, -job.priority))  # stable
    assert claimed == job_ids(expected)


async def test_a_pool_never_claims_a_queue_it_does_not_serve(backend: Backend) -> None:
    foreign = [new_job(queue="other", priority=MAX_PRIORITY) for _ in range(5)]
    served = [new_job(queue="emails") for _ in range(3)] + [new_job() for _ in range(2)]
    await backend.enqueue(foreign + served)
    claimed = ids(await claim(backend, 50, queues=["emails", DEFAULT_QUEUE]))
    assert claimed == job_ids(served)
    assert await claim(backend, 50, queues=["emails", DEFAULT_QUEUE]) == []
    assert ids(await claim(backend, 50, queues=["other"])) == job_ids(foreign)


async def test_release_returns_a_job_to_the_front_of_its_queue_and_priority(
    backend: Backend,
) -> None:
    high = [new_job(queue="emails", priority=5) for _ in range(2)]
    low = new_job(queue="emails", priority=0)
    await backend.enqueue([*high, low])
    first = await claim(backend, queues=["emails"])
    assert ids(first) == [high[0].job_id]
    later_high = new_job(queue="emails", priority=5)
    await backend.enqueue([later_high])
    assert await backend.release(first) == 1
    assert await place(backend, high[0].job_id) == (JobState.QUEUED, "emails", 5)
    assert ids(await claim(backend, 10, queues=["emails"])) == job_ids([*high, later_high, low])


async def test_a_released_job_does_not_jump_a_higher_priority_or_another_queue(
    backend: Backend,
) -> None:
    low = new_job(queue="emails", priority=0)
    await backend.enqueue([low])
    taken = await claim(backend, queues=["emails"])
    urgent = new_job(queue="emails", priority=1)
    first_queue = new_job(queue="critical", priority=MIN_PRIORITY)
    await backend.enqueue([urgent, first_queue])
    assert await backend.release(taken) == 1
    assert ids(await claim(backend, 10, queues=["critical", "emails"])) == job_ids(
        [first_queue, urgent, low]
    )


# -- a job keeps its queue and priority through every state ----------------------------


async def test_scheduled_jobs_keep_queue_and_priority_when_promoted(backend: Backend) -> None:
    waiting = new_job(queue="emails", priority=0)
    later = new_job(queue="emails", priority=9, delay=0.2)
    await backend.enqueue([waiting, later])
    assert await place(backend, later.job_id) == (JobState.SCHEDULED, "emails", 9)

    async def promoted() -> bool:
        return await backend.promote(JobState.SCHEDULED, limit=10) == 1

    await wait_until(promoted)
    assert await place(backend, later.job_id) == (JobState.QUEUED, "emails", 9)
    assert await claim(backend, 10) == []  # not in default
    assert ids(await claim(backend, 10, queues=["emails"])) == job_ids([later, waiting])


async def test_retried_jobs_keep_queue_and_priority(backend: Backend) -> None:
    job = new_job(queue="emails", priority=4)
    await backend.enqueue([job])
    [attempt] = await claim(backend, queues=["emails"])
    lower = new_job(queue="emails", priority=3)
    await backend.enqueue([lower])
    retried = envelope().evolve(id=job.job_id, retry_count=1, last_error="boom").encode()
    assert await backend.retry(attempt, raw=retried, delay=0, error="boom")
    assert await place(backend, job.job_id) == (JobState.RETRY, "emails", 4)
    [listed] = await backend.list_jobs(JobQuery(state=JobState.RETRY, limit=10))
    assert (listed.queue, listed.priority) == ("emails", 4)

    async def promoted() -> bool:
        return await backend.promote(JobState.RETRY, limit=10) == 1

    await wait_until(promoted)
    assert await place(backend, job.job_id) == (JobState.QUEUED, "emails", 4)
    assert await claim(backend, 10) == []
    again = await claim(backend, 10, queues=["emails"])
    assert ids(again) == job_ids([job, lower])
    assert again[0].raw == retried


async def test_buried_jobs_keep_them_and_a_requeue_restores_them(backend: Backend) -> None:
    job = new_job(queue="emails", priority=-7)
    await backend.enqueue([job])
    [attempt] = await claim(backend, queues=["emails"])
    dead = envelope().evolve(id=job.job_id, status="Dead", last_error="bad address").encode()
    assert await backend.bury(attempt, raw=dead, error="bad address")
    assert await place(backend, job.job_id) == (JobState.DEAD, "emails", -7)
    [listed] = await backend.list_jobs(JobQuery(state=JobState.DEAD, limit=10))
    assert (listed.queue, listed.priority) == ("emails", -7)
    fresh = envelope().evolve(id=job.job_id).encode()
    assert await backend.move_to_queue([Move(job.job_id, JobState.DEAD, fresh)]) == 1
    assert await place(backend, job.job_id) == (JobState.QUEUED, "emails", -7)
    # Behind a higher priority of its queue, ahead of a lower one; never in default.
    ahead, behind = new_job(queue="emails", priority=0), new_job(queue="emails", priority=-8)
    await backend.enqueue([ahead, behind])
    assert await claim(backend, 10) == []
    assert ids(await claim(backend, 10, queues=["emails"])) == job_ids([ahead, job, behind])


async def test_run_now_keeps_a_scheduled_jobs_queue_and_priority(backend: Backend) -> None:
    job = new_job(queue="reports", priority=2, delay=3600)
    await backend.enqueue([job])
    assert await backend.move_to_queue([Move(job.job_id, JobState.SCHEDULED, job.raw)]) == 1
    assert await place(backend, job.job_id) == (JobState.QUEUED, "reports", 2)
    assert await claim(backend, 10) == []
    assert ids(await claim(backend, 10, queues=["reports"])) == [job.job_id]


async def test_reclaimed_jobs_keep_queue_and_priority(backend: Backend) -> None:
    job = new_job(queue="emails", priority=6)
    await backend.enqueue([job])
    await claim(backend, queues=["emails"], lease=0.2)
    reclaimed: list[Attempt] = []

    async def expired() -> bool:
        reclaimed.extend(await backend.reclaim_expired(limit=10, lease=LEASE, worker_id="reaper"))
        return bool(reclaimed)

    await wait_until(expired)
    assert await place(backend, job.job_id) == (JobState.RUNNING, "emails", 6)
    [attempt] = reclaimed
    assert await backend.retry(attempt, raw=attempt.raw, delay=0, error="worker lost")

    async def promoted() -> bool:
        return await backend.promote(JobState.RETRY, limit=10) == 1

    await wait_until(promoted)
    assert await place(backend, job.job_id) == (JobState.QUEUED, "emails", 6)
    assert await claim(backend, 10) == []
    assert ids(await claim(backend, 10, queues=["emails"])) == [job.job_id]


# -- waiting and racing --------------------------------------------------------------------


async def test_a_waiting_claim_is_woken_by_an_enqueue_into_its_queue(
    backend: Backend, twin: Backend
) -> None:
    waiter = asyncio.create_task(
        backend.claim(limit=1, lease=LEASE, worker_id="w", wait=10, queues=["emails"])
    )
    await asyncio.sleep(0.05)
    assert not waiter.done()
    job = new_job(queue="emails", priority=7)
    await twin.enqueue([job])
    attempts = await asyncio.wait_for(waiter, timeout=20)
    assert ids(attempts) == [job.job_id]


async def test_claimers_over_overlapping_queues_never_share_a_job(
    backend: Backend, twin: Backend
) -> None:
    names = ("alpha", "beta", "gamma")
    jobs = [new_job(payload={"n": n}, queue=names[n % 3], priority=n % 4 - 1) for n in range(240)]
    await backend.enqueue(jobs)
    served = [["alpha", "beta"], ["beta", "gamma"], ["gamma", "alpha"], list(names)]
    seen: list[str] = []

    async def claimer(source: Backend, queues: list[str]) -> None:
        while attempts := await source.claim(limit=5, lease=LEASE, worker_id="w", queues=queues):
            seen.extend(ids(attempts))

    await asyncio.gather(
        *(claimer(backend if i % 2 else twin, served[i % len(served)]) for i in range(8))
    )
    assert sorted(seen) == sorted(job_ids(jobs))
    assert (await backend.counts()).running == len(jobs)
