"""Global concurrency and rate limits per queue, and per key, on every backend
(issue 20): enforced by the claim itself, across claimers, released by every
transition and by lease expiry.

Rates run on the backend's clock (the server's for Redis and SQL): these tests use
windows long enough that no claim can outlive them by accident (60 s: "nothing more
now"), or short real ones whose only timing claim is "a waiting claim is woken once
the window frees"; ``test_memory_rate_window_slides`` steps an injected clock.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence

import pytest

from tests.helpers import new_job, wait_until
from wg_core.backend import Attempt, Backend, Completion, JobQuery, JobState, QueueLimit
from wg_core.backends.memory import MemoryBackend
from wg_core.dispatch import checked
from wg_core.queues import DEFAULT_QUEUE

LEASE = 30.0
API = "api"


async def claim(
    backend: Backend,
    limit: int = 10,
    *,
    queues: Sequence[str] = (API,),
    lease: float = LEASE,
    wait: float = 0.0,
) -> list[Attempt]:
    return await backend.claim(
        limit=limit, lease=lease, worker_id="w-test", queues=queues, wait=wait
    )


def ids(attempts: Sequence[Attempt]) -> list[str]:
    return [json.loads(attempt.raw)["id"] for attempt in attempts]


async def fill(backend: Backend, n: int, *, queue: str = API, key: str | None = None) -> list[str]:
    jobs = [new_job(queue=queue, limit_key=key) for _ in range(n)]
    await backend.enqueue(jobs)
    return [job.job_id for job in jobs]


async def test_concurrency_caps_running_jobs(backend: Backend) -> None:
    await backend.set_limit(QueueLimit(queue=API, concurrency=2))
    await fill(backend, 5)
    first = await claim(backend)
    assert len(first) == 2
    assert await claim(backend) == []
    assert await backend.complete(first[:1]) == 1
    assert len(await claim(backend)) == 1  # the freed slot, and only it
    assert await claim(backend) == []


async def test_concurrent_claimers_never_exceed_the_limit(backend: Backend, twin: Backend) -> None:
    await backend.set_limit(QueueLimit(queue=API, concurrency=3))
    await fill(backend, 20)
    claims = [claim(b, 2) for b in (backend, twin) for _ in range(6)]
    claimed = [a for batch in await asyncio.gather(*claims) for a in batch]
    assert len(claimed) == 3
    assert (await backend.counts(queue=API)).running == 3


async def test_every_transition_frees_its_slot(backend: Backend) -> None:
    await backend.set_limit(QueueLimit(queue=API, concurrency=1))
    await fill(backend, 6)

    async def one() -> Attempt:
        [attempt] = await claim(backend)
        assert await claim(backend) == []
        return attempt

    attempt = await one()
    assert await backend.retry(attempt, raw=attempt.raw, delay=60.0, error="boom")
    attempt = await one()
    assert await backend.bury(attempt, raw=attempt.raw, error="boom")
    attempt = await one()
    assert await backend.release([attempt]) == 1
    attempt = await one()
    job_id = ids([attempt])[0]
    await backend.cancel(job_id, keep=60.0)
    assert await backend.finish_cancelled(attempt, keep=60.0, error="cancelled")
    attempt = await one()
    assert await backend.complete([attempt]) == 1
    await one()


async def test_an_expired_lease_frees_its_slot(backend: Backend) -> None:
    await backend.set_limit(QueueLimit(queue=API, concurrency=1))
    await fill(backend, 3)
    [crashed] = await claim(backend, lease=0.3)
    assert await claim(backend) == []
    await asyncio.sleep(0.4)  # the worker "crashed": its lease runs out
    [after] = await claim(backend)  # the crashed job waits for the reaper
    assert after.key != crashed.key
    assert await claim(backend) == []


async def test_a_blocked_queue_lets_the_next_queue_be_served(backend: Backend) -> None:
    await backend.set_limit(QueueLimit(queue=API, concurrency=1))
    await fill(backend, 3)
    others = await fill(backend, 2, queue=DEFAULT_QUEUE)
    first = await claim(backend, 5, queues=(API, DEFAULT_QUEUE))
    assert len(first) == 3
    assert ids(first[1:]) == others
    assert first[0].queue == API


async def test_a_claim_over_plain_and_limited_queues_keeps_the_queue_order(
    backend: Backend,
) -> None:
    """A limited queue with room, named after a plain one, comes after it in the
    claim (PostgreSQL leases the limited queue's room in a statement of its own)."""
    await backend.set_limit(QueueLimit(queue=API, concurrency=5))
    limited = await fill(backend, 2)
    plain = await fill(backend, 2, queue="plain")
    assert ids(await claim(backend, queues=("plain", API))) == plain + limited


async def test_per_key_limits_run_keys_side_by_side_and_one_key_in_order(
    backend: Backend,
) -> None:
    await backend.set_limit(QueueLimit(queue=API, concurrency=1, per_key=True))
    a = await fill(backend, 3, key="customer:7")
    b = await fill(backend, 2, key="customer:8")
    none = await fill(backend, 2)
    first = await claim(backend)
    assert sorted(ids(first)) == sorted([a[0], b[0], none[0]])
    assert await claim(backend) == []
    by_id = {ids([attempt])[0]: attempt for attempt in first}
    await backend.complete([by_id[a[0]]])
    assert ids(await claim(backend)) == [a[1]]  # the key's next job, in order


async def test_a_limit_key_travels_with_its_job(backend: Backend) -> None:
    await backend.set_limit(QueueLimit(queue=API, concurrency=1, per_key=True))
    [first, second] = await fill(backend, 2, key="k")
    [attempt] = await claim(backend)
    assert ids([attempt]) == [first]
    assert await backend.retry(attempt, raw=attempt.raw, delay=0.0, error="again")
    await wait_until(lambda: _promoted(backend))
    [again] = await claim(backend)  # the retried job went to the back: the key's next
    assert ids([again]) == [second]
    assert await claim(backend) == []  # the retried job is still under its key


async def test_a_limit_key_is_read_back_in_every_state(backend: Backend) -> None:
    # No limit on the queue: the key is stored and shown all the same.
    plain, waiting = new_job(queue=API), new_job(queue=API, limit_key="tenant:1")
    [to_run, to_bury, to_finish] = [new_job(queue=API, limit_key=f"k{n}") for n in range(3)]
    await backend.enqueue([to_run, to_bury, to_finish])
    attempts = {a.raw: a for a in await claim(backend, 3)}
    await backend.bury(attempts[to_bury.raw], raw=to_bury.raw, error="no")
    await backend.complete([Completion(attempt=attempts[to_finish.raw], keep=3600)])
    later = new_job(queue=API, limit_key="tenant:2", delay=3600)
    await backend.enqueue([plain, waiting, later])
    expected = {
        plain.job_id: None,
        waiting.job_id: "tenant:1",
        later.job_id: "tenant:2",
        to_run.job_id: "k0",
        to_bury.job_id: "k1",
        to_finish.job_id: "k2",
    }
    for job_id, key in expected.items():
        stored = await backend.get_job(job_id)
        assert stored is not None
        assert stored.limit_key == key, stored.state
    listed = {}
    for state in JobState:
        for job in await backend.list_jobs(JobQuery(state=state, limit=10, queue=API)):
            listed[job.job_id] = job.limit_key
    assert listed == expected


async def _promoted(backend: Backend) -> bool:
    return await backend.promote(JobState.RETRY, limit=10) > 0


async def test_a_limit_set_on_a_busy_queue_counts_the_jobs_already_running(
    backend: Backend,
) -> None:
    # Found by the Hypothesis model: on Redis, jobs claimed before the limit was set
    # were not counted, so a queue running 3 jobs took 2 more under a limit of 2.
    await fill(backend, 5)
    running = await claim(backend, 3)
    await backend.set_limit(QueueLimit(queue=API, concurrency=2))
    [listed] = await backend.limits()
    assert listed.running == 3
    assert await claim(backend) == []
    await backend.complete(running[:2])
    assert len(await claim(backend)) == 1


async def test_a_replaced_limit_counts_running_jobs_by_its_own_buckets(
    backend: Backend,
) -> None:
    await backend.set_limit(QueueLimit(queue=API, concurrency=1))
    await fill(backend, 2, key="a")
    await fill(backend, 2, key="b")
    [first] = await claim(backend)  # a job of key a
    await backend.set_limit(QueueLimit(queue=API, concurrency=1, per_key=True))
    [second] = await claim(backend)  # key a is busy: a job of key b
    assert ids([second]) != ids([first])
    assert await claim(backend) == []
    await backend.set_limit(QueueLimit(queue=API, concurrency=3))  # the whole queue again
    assert len(await claim(backend)) == 1


async def test_rate_caps_starts_in_the_window(backend: Backend) -> None:
    await backend.set_limit(QueueLimit(queue=API, rate=3, per=60.0))
    await fill(backend, 6)
    first = await claim(backend)
    assert len(first) == 3
    await backend.complete(first)
    assert await claim(backend) == []  # finished, but started within the window


async def test_a_rate_limited_claim_waits_for_the_window(backend: Backend) -> None:
    await backend.set_limit(QueueLimit(queue=API, rate=2, per=0.5))
    await fill(backend, 4)
    assert len(await claim(backend)) == 2
    started = time.monotonic()
    later = await claim(backend, wait=10.0)
    assert 1 <= len(later) <= 2
    assert time.monotonic() - started < 5.0  # woken by the window, not the timeout


async def test_a_freed_slot_wakes_a_waiting_claimer(backend: Backend, twin: Backend) -> None:
    await backend.set_limit(QueueLimit(queue=API, concurrency=1))
    await fill(backend, 2)
    [running] = await claim(backend)
    waiting = asyncio.create_task(claim(twin, wait=10.0))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await backend.complete([running])
    assert len(await waiting) == 1
    assert time.monotonic() - started < 5.0


async def test_limits_are_listed_with_their_use_and_cleared(backend: Backend) -> None:
    assert await backend.limits() == []
    await backend.set_limit(QueueLimit(queue="zeta", concurrency=4))  # no job yet
    await backend.set_limit(QueueLimit(queue=API, concurrency=2, rate=10, per=60.0))
    await fill(backend, 3)
    await claim(backend)
    [api, zeta] = await backend.limits()
    assert (api.queue, api.concurrency, api.rate, api.per, api.per_key) == (
        API,
        2,
        10,
        60.0,
        False,
    )
    assert (api.running, api.started) == (2, 2)
    assert (zeta.queue, zeta.concurrency, zeta.rate, zeta.running) == ("zeta", 4, None, 0)
    await backend.set_limit(QueueLimit(queue=API, concurrency=3))  # replaces it
    assert [limit.rate for limit in await backend.limits()] == [None, None]
    assert len(await claim(backend)) == 1
    assert await backend.clear_limit(API)
    assert not await backend.clear_limit(API)
    assert [limit.queue for limit in await backend.limits()] == ["zeta"]


async def test_clearing_a_limit_frees_the_queue(backend: Backend) -> None:
    await backend.set_limit(QueueLimit(queue=API, concurrency=1))
    await fill(backend, 3)
    assert len(await claim(backend)) == 1
    await backend.clear_limit(API)
    assert len(await claim(backend)) == 2


BAD_LIMITS = (
    QueueLimit(queue=API),
    QueueLimit(queue=API, concurrency=0),
    QueueLimit(queue=API, concurrency=-1),
    QueueLimit(queue=API, rate=0, per=1.0),
    QueueLimit(queue=API, rate=5, per=0.0),
    QueueLimit(queue=API, rate=5, per=-1.0),
    QueueLimit(queue=API, rate=5),
    QueueLimit(queue=API, concurrency=1, per=1.0),
    QueueLimit(queue="Not A Queue", concurrency=1),
)


async def test_bad_limits_are_refused(backend: Backend) -> None:
    for limit in BAD_LIMITS:
        with pytest.raises(ValueError, match=r"concurrency|rate|per|queue"):
            await checked(backend).set_limit(limit)
    assert await backend.limits() == []


async def test_memory_rate_window_slides() -> None:
    now = [1000.0]
    backend = MemoryBackend("limits", clock=lambda: now[0])
    await backend.set_limit(QueueLimit(queue=API, rate=2, per=10.0))
    await fill(backend, 10)
    assert len(await claim(backend)) == 2
    now[0] += 5.0
    assert await claim(backend) == []
    now[0] += 5.0  # the first two starts leave the window together
    assert len(await claim(backend)) == 2
    now[0] += 9.999
    assert await claim(backend) == []
