"""The backend contract, verb by verb, on every backend."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.helpers import envelope, new_job, wait_until
from wg_core.backend import Attempt, Backend, JobQuery, JobState, Move, NewJob, WorkerInfo
from wg_core.errors import DuplicateJobError

LEASE = 30.0

RUST_NEW = (
    '{"id":"0b7f5c9e-3d1a-4f2b-9c8e-5a6d7e8f9012","job_name":"send_email","payload":'
    '{"to":"user@example.com","subject":"Hello","body":"World"},"options":{"max_retries":3,'
    '"retry_count":0,"timeout":300000,"retry_delay":10000},"status":"Pending",'
    '"created_at":1767225600,"scheduled_at":null,"last_error":null}'
)


async def claim(backend: Backend, limit: int = 1, *, lease: float = LEASE) -> list[Attempt]:
    return await backend.claim(limit=limit, lease=lease, worker_id="w-test")


async def claim_one(backend: Backend, *, lease: float = LEASE) -> Attempt:
    attempts = await claim(backend, lease=lease)
    assert len(attempts) == 1
    return attempts[0]


def job_id_of(attempt: Attempt) -> str:
    document = json.loads(attempt.raw)
    assert isinstance(document["id"], str)
    return document["id"]


# -- enqueue and claim ---------------------------------------------------------------------


async def test_claim_is_fifo_and_returns_the_stored_text(backend: Backend) -> None:
    jobs = [new_job(payload={"n": n}) for n in range(5)]
    for job in jobs:
        await backend.enqueue([job])
    attempts = await claim(backend, 10)
    assert [a.raw for a in attempts] == [j.raw for j in jobs]
    assert len({a.token for a in attempts}) == 5


async def test_claim_respects_the_limit_and_empty_queue(backend: Backend) -> None:
    assert await claim(backend, 5) == []
    await backend.enqueue([new_job() for _ in range(7)])
    assert len(await claim(backend, 3)) == 3
    assert len(await claim(backend, 10)) == 4
    assert await claim(backend, 10) == []


async def test_enqueue_many_is_one_ordered_batch(backend: Backend) -> None:
    jobs = [new_job(payload={"n": n}) for n in range(50)]
    await backend.enqueue(jobs)
    assert (await backend.counts()).queued == 50
    attempts = await claim(backend, 50)
    assert [json.loads(a.raw)["payload"]["n"] for a in attempts] == list(range(50))


async def test_rust_envelope_and_unicode_round_trip_byte_for_byte(backend: Backend) -> None:
    unicode_job = new_job(payload={"text": 'héllo ✓ 日本 \u2028 \\ "q"'})
    rust = NewJob(
        job_id="0b7f5c9e-3d1a-4f2b-9c8e-5a6d7e8f9012", job_name="send_email", raw=RUST_NEW
    )
    await backend.enqueue([rust, unicode_job])
    attempts = await claim(backend, 2)
    assert [a.raw for a in attempts] == [RUST_NEW, unicode_job.raw]


async def test_waiting_claim_is_woken_by_an_enqueue(backend: Backend, twin: Backend) -> None:
    waiter = asyncio.create_task(backend.claim(limit=1, lease=LEASE, worker_id="w", wait=30))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    job = new_job()
    await twin.enqueue([job])
    # Woken long before the 30 s wait would have run out.
    attempts = await asyncio.wait_for(waiter, timeout=10)
    assert [a.raw for a in attempts] == [job.raw]


async def test_waiting_claim_times_out_empty(backend: Backend) -> None:
    assert await backend.claim(limit=1, lease=LEASE, worker_id="w", wait=0.1) == []


async def test_cancelling_a_waiting_claim_loses_nothing(backend: Backend) -> None:
    waiter = asyncio.create_task(backend.claim(limit=1, lease=LEASE, worker_id="w", wait=30))
    await asyncio.sleep(0.05)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    job = new_job()
    await backend.enqueue([job])
    assert [a.raw for a in await claim(backend)] == [job.raw]


async def test_concurrent_claimers_never_share_an_attempt(backend: Backend, twin: Backend) -> None:
    total = 300
    await backend.enqueue([new_job(payload={"n": n}) for n in range(total)])
    seen: list[str] = []

    async def claimer(source: Backend) -> None:
        while attempts := await source.claim(limit=7, lease=LEASE, worker_id="w"):
            seen.extend(job_id_of(a) for a in attempts)

    await asyncio.gather(*(claimer(backend if i % 2 else twin) for i in range(8)))
    assert len(seen) == total
    assert len(set(seen)) == total
    assert (await backend.counts()).running == total


# -- transitions ---------------------------------------------------------------------------


async def test_complete_deletes_counts_and_is_compare_and_set(backend: Backend) -> None:
    await backend.enqueue([new_job(), new_job()])
    first, second = await claim(backend, 2)
    forged = Attempt(key=second.key, token="not-the-token", raw=second.raw)
    assert await backend.complete([first, forged]) == 1
    assert await backend.complete([first]) == 0  # already done
    counts = await backend.counts()
    assert (counts.queued, counts.running) == (0, 1)
    assert (await backend.counters()).processed == 1
    assert await backend.complete([second]) == 1
    assert (await backend.counters()).processed == 2
    assert (await backend.counts()).total == 0


async def test_retry_stores_the_new_envelope_until_due(backend: Backend) -> None:
    job = new_job()
    await backend.enqueue([job])
    attempt = await claim_one(backend)
    retried = envelope().evolve(id=job.job_id, retry_count=1, status="Retry", last_error="boom")
    assert await backend.retry(attempt, raw=retried.encode(), delay=0.3, error=retried.last_error)
    assert not await backend.retry(
        attempt, raw=retried.encode(), delay=0.3, error=retried.last_error
    )  # not held now
    counts = await backend.counts()
    assert (counts.running, counts.retry) == (0, 1)
    assert (await backend.counters()).failed == 1
    assert await backend.promote(JobState.RETRY, limit=10) == 0  # not due yet
    assert await claim(backend) == []

    async def promoted() -> bool:
        return await backend.promote(JobState.RETRY, limit=10) == 1

    await wait_until(promoted)
    again = await claim_one(backend)
    assert again.raw == retried.encode()


async def test_bury_keeps_the_job_with_its_error(backend: Backend) -> None:
    job = new_job()
    await backend.enqueue([job])
    attempt = await claim_one(backend)
    dead = envelope().evolve(id=job.job_id, status="Dead", last_error="Invalid email address")
    assert await backend.bury(attempt, raw=dead.encode(), error=dead.last_error)
    assert not await backend.bury(attempt, raw=dead.encode(), error=dead.last_error)
    [stored] = await backend.list_jobs(JobQuery(state=JobState.DEAD, limit=10))
    assert stored.raw == dead.encode()
    assert stored.job_id == job.job_id
    assert (await backend.counts()).dead == 1
    assert (await backend.counters()).failed == 1


async def test_release_puts_jobs_back_at_the_front_unchanged(backend: Backend) -> None:
    jobs = [new_job(payload={"n": n}) for n in range(4)]
    await backend.enqueue(jobs)
    first, second = await claim(backend, 2)
    assert await backend.release([first, second]) == 2
    assert await backend.release([first]) == 0
    attempts = await claim(backend, 4)
    assert [a.raw for a in attempts] == [j.raw for j in jobs]
    assert (await backend.counters()).failed == 0


async def test_expired_leases_are_reclaimed_and_stale_writes_refused(backend: Backend) -> None:
    await backend.enqueue([new_job()])
    crashed = await claim_one(backend, lease=0.2)
    assert await backend.reclaim_expired(limit=10, lease=LEASE, worker_id="reaper") == []

    reclaimed: list[Attempt] = []

    async def expired() -> bool:
        reclaimed.extend(await backend.reclaim_expired(limit=10, lease=LEASE, worker_id="reaper"))
        return bool(reclaimed)

    await wait_until(expired)
    [attempt] = reclaimed
    assert attempt.raw == crashed.raw
    assert attempt.token != crashed.token
    # The crashed worker wakes up: none of its writes may land.
    assert await backend.complete([crashed]) == 0
    assert not await backend.retry(crashed, raw=crashed.raw, delay=0, error=None)
    assert not await backend.bury(crashed, raw=crashed.raw, error=None)
    assert await backend.release([crashed]) == 0
    assert (await backend.counts()).running == 1
    assert await backend.complete([attempt]) == 1


async def test_heartbeat_renews_leases_and_reports_lost_ones(backend: Backend) -> None:
    await backend.enqueue([new_job(), new_job()])
    live, lost = await claim(backend, 2, lease=0.3)
    await backend.complete([lost])
    worker = WorkerInfo(worker_id="w1", host="h", pid=1, concurrency=2, started_at=1.0)
    reply = await backend.heartbeat(worker, attempts=[live, lost], lease=LEASE)
    assert reply.lost == frozenset({lost.token})
    await asyncio.sleep(0.4)  # past the original lease
    assert await backend.reclaim_expired(limit=10, lease=LEASE, worker_id="r") == []
    assert await backend.complete([live]) == 1


async def test_scheduled_jobs_wait_for_their_time(backend: Backend) -> None:
    later = new_job(delay=0.3)
    await backend.enqueue([later, new_job(delay=3600)])
    counts = await backend.counts()
    assert (counts.queued, counts.scheduled) == (0, 2)
    assert await backend.promote(JobState.SCHEDULED, limit=10) == 0
    assert await claim(backend) == []

    async def promoted() -> bool:
        return await backend.promote(JobState.SCHEDULED, limit=10) == 1

    await wait_until(promoted)
    assert [a.raw for a in await claim(backend)] == [later.raw]
    assert (await backend.counts()).scheduled == 1


async def test_promotion_moves_each_due_job_exactly_once(backend: Backend, twin: Backend) -> None:
    total = 120
    await backend.enqueue([new_job(payload={"n": n}, delay=0.2) for n in range(total)])
    await asyncio.sleep(0.3)
    moved = await asyncio.gather(
        *((backend if i % 2 else twin).promote(JobState.SCHEDULED, limit=25) for i in range(10))
    )
    assert sum(moved) == total
    assert (await backend.counts()).queued == total
    ids = [job_id_of(a) for a in await claim(backend, total + 10)]
    assert len(ids) == len(set(ids)) == total


async def test_promote_respects_the_batch_limit(backend: Backend) -> None:
    await backend.enqueue([new_job(delay=0.1) for _ in range(5)])
    await asyncio.sleep(0.2)
    assert await backend.promote(JobState.SCHEDULED, limit=2) == 2
    assert await backend.promote(JobState.SCHEDULED, limit=10) == 3


async def test_pause_stops_claims_until_resumed(backend: Backend, twin: Backend) -> None:
    await backend.enqueue([new_job()])
    assert not await backend.is_paused()
    await backend.set_paused(True)
    assert await twin.is_paused()
    assert await twin.claim(limit=1, lease=LEASE, worker_id="w", wait=0.1) == []
    await backend.set_paused(False)
    assert len(await claim(twin)) == 1


# -- admin ---------------------------------------------------------------------------------


async def fill_every_state(backend: Backend) -> dict[JobState, str]:
    """One job in each state; returns their ids."""
    queued, running, retry, dead = (new_job(f"kind{n}") for n in range(4))
    scheduled = new_job("kind4", delay=3600)
    await backend.enqueue([retry, dead, running])
    r, d, _running = await claim(backend, 3)
    raw = envelope("kind0").evolve(id=retry.job_id, last_error="Temporary FAILURE 42").encode()
    assert await backend.retry(r, raw=raw, delay=3600, error="Temporary FAILURE 42")
    raw = envelope("kind1").evolve(id=dead.job_id, last_error="fatal: bad address").encode()
    assert await backend.bury(d, raw=raw, error="fatal: bad address")
    await backend.enqueue([queued, scheduled])
    return {
        JobState.QUEUED: queued.job_id,
        JobState.SCHEDULED: scheduled.job_id,
        JobState.RETRY: retry.job_id,
        JobState.RUNNING: running.job_id,
        JobState.DEAD: dead.job_id,
    }


async def test_counts_get_and_list_cover_every_state(backend: Backend) -> None:
    ids = await fill_every_state(backend)
    counts = await backend.counts()
    assert (counts.queued, counts.scheduled, counts.retry, counts.running, counts.dead) == (
        1,
        1,
        1,
        1,
        1,
    )
    assert counts.oldest_queued_at is not None
    for state, job_id in ids.items():
        stored = await backend.get_job(job_id)
        assert stored is not None
        assert (stored.state, stored.job_id) == (state, job_id)
        listed = await backend.list_jobs(JobQuery(state=state, limit=10))
        assert [job.job_id for job in listed] == [job_id]
    running = await backend.get_job(ids[JobState.RUNNING])
    assert running is not None
    assert running.lease_until is not None
    assert running.worker_id == "w-test"
    scheduled = await backend.get_job(ids[JobState.SCHEDULED])
    assert scheduled is not None
    assert scheduled.due_at is not None
    assert await backend.get_job("no-such-job") is None


async def test_list_pages_orders_and_filters(backend: Backend) -> None:
    jobs = [new_job("even" if n % 2 == 0 else "odd", {"n": n}) for n in range(10)]
    await backend.enqueue(jobs)
    page1 = await backend.list_jobs(JobQuery(state=JobState.QUEUED, limit=4))
    page2 = await backend.list_jobs(JobQuery(state=JobState.QUEUED, limit=4, offset=4))
    page3 = await backend.list_jobs(JobQuery(state=JobState.QUEUED, limit=4, offset=8))
    assert [j.job_id for j in page1 + page2 + page3] == [j.job_id for j in jobs]
    newest = await backend.list_jobs(JobQuery(state=JobState.QUEUED, limit=3, newest_first=True))
    assert [j.job_id for j in newest] == [j.job_id for j in reversed(jobs)][:3]
    odd = await backend.list_jobs(JobQuery(state=JobState.QUEUED, limit=10, job_name="odd"))
    assert [j.job_id for j in odd] == [j.job_id for j in jobs[1::2]]


async def test_list_filters_by_error_text(backend: Backend) -> None:
    ids = await fill_every_state(backend)
    found = await backend.list_jobs(
        JobQuery(state=JobState.RETRY, limit=10, error_contains="temporary failure")
    )
    assert [j.job_id for j in found] == [ids[JobState.RETRY]]
    assert (
        await backend.list_jobs(JobQuery(state=JobState.RETRY, limit=10, error_contains="fatal"))
        == []
    )
    dead = await backend.list_jobs(
        JobQuery(state=JobState.DEAD, limit=10, error_contains="BAD ADDRESS")
    )
    assert [j.job_id for j in dead] == [ids[JobState.DEAD]]


async def test_move_to_queue_requeues_only_from_the_named_state(backend: Backend) -> None:
    ids = await fill_every_state(backend)
    fresh = envelope("kind1").evolve(id=ids[JobState.DEAD]).encode()
    moves = [
        Move(job_id=ids[JobState.DEAD], from_state=JobState.DEAD, raw=fresh),
        Move(job_id=ids[JobState.SCHEDULED], from_state=JobState.RETRY, raw="{}"),  # wrong state
        Move(job_id="missing", from_state=JobState.DEAD, raw="{}"),
    ]
    assert await backend.move_to_queue(moves) == 1
    moved = await backend.get_job(ids[JobState.DEAD])
    assert moved is not None
    assert (moved.state, moved.raw) == (JobState.QUEUED, fresh)
    # Requeued jobs go to the back of the queue.
    attempts = await claim(backend, 5)
    assert [job_id_of(a) for a in attempts] == [ids[JobState.QUEUED], ids[JobState.DEAD]]


async def test_delete_and_purge(backend: Backend) -> None:
    ids = await fill_every_state(backend)
    assert await backend.delete_jobs([ids[JobState.RUNNING], ids[JobState.DEAD], "missing"]) == 1
    assert await backend.get_job(ids[JobState.DEAD]) is None
    assert await backend.get_job(ids[JobState.RUNNING]) is not None  # running: kept
    assert await backend.purge(JobState.SCHEDULED) == 1
    assert await backend.purge(JobState.RETRY) == 1
    assert await backend.purge(JobState.QUEUED) == 1
    assert await backend.purge(JobState.DEAD) == 0
    counts = await backend.counts()
    assert (counts.total, counts.running) == (1, 1)


async def test_worker_registry_and_stop_requests(backend: Backend, twin: Backend) -> None:
    worker = WorkerInfo(
        worker_id="host-1-abc", host="host", pid=1, concurrency=4, running=2, started_at=100.0
    )
    reply = await backend.heartbeat(worker, attempts=[], lease=LEASE)
    assert not reply.stop_requested
    [listed] = await twin.list_workers()
    assert (listed.worker_id, listed.host, listed.pid, listed.concurrency, listed.running) == (
        "host-1-abc",
        "host",
        1,
        4,
        2,
    )
    assert listed.started_at == pytest.approx(100.0)
    assert listed.last_seen > 0
    assert await twin.request_worker_stop("host-1-abc")
    assert not await twin.request_worker_stop("nobody")
    assert (await backend.heartbeat(worker, attempts=[], lease=LEASE)).stop_requested
    await backend.unregister_worker("host-1-abc")
    assert await twin.list_workers() == []


async def test_destroy_removes_everything(backend: Backend) -> None:
    await fill_every_state(backend)
    await backend.destroy()
    await backend.open()
    assert (await backend.counts()).total == 0


async def test_a_duplicate_id_refuses_the_whole_batch(backend: Backend) -> None:
    first = new_job()
    await backend.enqueue([first])
    fresh = new_job()
    # Another job under a taken id. (Redis accepts a byte-identical re-send as the
    # retry of a call whose reply was lost: that is not a duplicate.)
    other = envelope(payload={"other": True}).evolve(id=first.job_id).encode()
    again = NewJob(job_id=first.job_id, job_name="job", raw=other)
    with pytest.raises(DuplicateJobError):
        await backend.enqueue([fresh, again])
    assert (await backend.counts()).queued == 1
    assert await backend.get_job(fresh.job_id) is None
