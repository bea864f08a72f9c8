"""The admin side of named queues, on every backend: per-queue pause, counts, counters,
the list of queues, purge and listing filters, the workers' queues, the layout version,
and bad names and priorities refused before anything is stored (issue 17)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.backends import make_backend
from tests.helpers import envelope, new_job
from wg_core.backend import (
    LAYOUT_VERSION,
    Attempt,
    Backend,
    Counters,
    JobQuery,
    JobState,
    NewJob,
    QueueInfo,
    StateCounts,
    WorkerInfo,
)
from wg_core.dispatch import checked
from wg_core.errors import ConfigError
from wg_core.queues import DEFAULT_QUEUE, MAX_PRIORITY, MAX_QUEUE_NAME_LENGTH, MIN_PRIORITY

LEASE = 30.0


async def claim(backend: Backend, queues: Sequence[str], limit: int = 10) -> list[Attempt]:
    return await backend.claim(limit=limit, lease=LEASE, worker_id="w-test", queues=queues)


def ids(attempts: Sequence[Attempt]) -> list[str]:
    return [json.loads(attempt.raw)["id"] for attempt in attempts]


def per_state(counts: StateCounts) -> tuple[int, int, int, int, int]:
    """(queued, scheduled, retry, running, dead): ``oldest_queued_at`` aside."""
    return counts.queued, counts.scheduled, counts.retry, counts.running, counts.dead


async def run_one(backend: Backend, queue: str) -> tuple[str, Attempt]:
    """Enqueue one job into ``queue`` (which has nothing else queued) and claim it."""
    job = new_job(queue=queue)
    await backend.enqueue([job])
    [attempt] = await claim(backend, [queue], limit=1)
    assert ids([attempt]) == [job.job_id]
    return job.job_id, attempt


async def bury_one(backend: Backend, queue: str) -> str:
    """Run one job of ``queue`` and bury it; its id."""
    job_id, attempt = await run_one(backend, queue)
    raw = envelope().evolve(id=job_id, last_error="fatal").encode()
    assert await backend.bury(attempt, raw=raw, error="fatal")
    return job_id


async def retry_one(backend: Backend, queue: str) -> str:
    """Run one job of ``queue`` and retry it, due in an hour; its id."""
    job_id, attempt = await run_one(backend, queue)
    assert await backend.retry(attempt, raw=attempt.raw, delay=3600, error=None)
    return job_id


async def complete_one(backend: Backend, queue: str) -> None:
    """Run one job of ``queue`` to completion."""
    _, attempt = await run_one(backend, queue)
    assert await backend.complete([attempt]) == 1


# -- pause ---------------------------------------------------------------------------------


async def test_pausing_a_queue_skips_only_that_queue(backend: Backend, twin: Backend) -> None:
    first, second = new_job(queue="first"), new_job(queue="second")
    await backend.enqueue([first, second])
    await backend.set_paused(True, queue="first")
    assert await twin.is_paused(queue="first")
    assert not await twin.is_paused(queue="second")
    assert not await twin.is_paused()
    assert await twin.claim(limit=1, lease=LEASE, worker_id="w", queues=["first"]) == []
    assert ids(await claim(twin, ["first", "second"])) == [second.job_id]
    await twin.set_paused(False, queue="first")
    assert not await backend.is_paused(queue="first")
    assert ids(await claim(backend, ["first", "second"])) == [first.job_id]


async def test_the_namespace_pause_and_a_queues_pause_are_independent(
    backend: Backend, twin: Backend
) -> None:
    first, second = new_job(queue="first"), new_job(queue="second")
    await backend.enqueue([first, second])
    await backend.set_paused(True)
    await backend.set_paused(True, queue="first")
    assert await claim(twin, ["first", "second"]) == []
    # Resuming the queue does not resume the namespace.
    await backend.set_paused(False, queue="first")
    assert await twin.is_paused()
    assert not await twin.is_paused(queue="first")
    assert await claim(twin, ["first", "second"]) == []
    # Resuming the namespace does not resume a paused queue.
    await backend.set_paused(True, queue="first")
    await backend.set_paused(False)
    assert await twin.is_paused(queue="first")
    assert ids(await claim(twin, ["first", "second"])) == [second.job_id]
    await backend.set_paused(False, queue="first")
    assert ids(await claim(twin, ["first", "second"])) == [first.job_id]


# -- counts, counters, the list of queues --------------------------------------------------


async def test_counts_per_queue_and_for_the_whole_namespace(backend: Backend) -> None:
    await bury_one(backend, "emails")
    await backend.enqueue([new_job(queue="emails"), new_job(queue="emails", priority=3)])
    await backend.enqueue([new_job(queue="reports", delay=3600), new_job()])
    await retry_one(backend, "reports")
    await backend.enqueue([new_job(queue="reports")])
    await claim(backend, ["reports"], limit=1)  # stays running
    emails = await backend.counts(queue="emails")
    reports = await backend.counts(queue="reports")
    default = await backend.counts(queue=DEFAULT_QUEUE)
    assert per_state(emails) == (2, 0, 0, 0, 1)
    assert per_state(reports) == (0, 1, 1, 1, 0)
    assert per_state(default) == (1, 0, 0, 0, 0)
    assert reports.oldest_queued_at is None  # nothing queued there
    everything = await backend.counts()
    assert per_state(everything) == (3, 1, 1, 1, 1)
    assert everything.oldest_queued_at is not None
    assert per_state(await backend.counts(queue="nowhere")) == (0, 0, 0, 0, 0)


async def test_counters_per_queue_add_up_to_the_namespace_total(backend: Backend) -> None:
    await complete_one(backend, "emails")
    await complete_one(backend, "emails")
    await retry_one(backend, "reports")
    await bury_one(backend, "reports")
    await bury_one(backend, DEFAULT_QUEUE)
    await complete_one(backend, DEFAULT_QUEUE)
    assert await backend.counters(queue="emails") == Counters(processed=2, failed=0)
    assert await backend.counters(queue="reports") == Counters(processed=0, failed=2)
    assert await backend.counters(queue=DEFAULT_QUEUE) == Counters(processed=1, failed=1)
    assert await backend.counters(queue="nowhere") == Counters()
    assert await backend.counters() == Counters(processed=3, failed=3)


async def test_a_fresh_namespace_lists_the_default_queue(backend: Backend) -> None:
    assert await backend.queues() == [
        QueueInfo(name=DEFAULT_QUEUE, counts=StateCounts(), counters=Counters(), paused=False)
    ]


async def test_queues_lists_every_queue_with_its_counts_counters_and_pause(
    backend: Backend,
) -> None:
    await backend.enqueue([new_job(queue="b-jobs"), new_job(queue="b-jobs", priority=-2)])
    await complete_one(backend, "a")  # no job left, a counter only
    await backend.set_paused(True, queue="c")  # a pause flag only
    await bury_one(backend, "d.dead")
    await backend.enqueue([new_job(queue="z9", delay=3600)])
    await retry_one(backend, "z9")
    infos = await backend.queues()
    assert [info.name for info in infos] == ["a", "b-jobs", "c", "d.dead", DEFAULT_QUEUE, "z9"]
    summary = {info.name: (per_state(info.counts), info.counters, info.paused) for info in infos}
    assert summary == {
        "a": ((0, 0, 0, 0, 0), Counters(processed=1), False),
        "b-jobs": ((2, 0, 0, 0, 0), Counters(), False),
        "c": ((0, 0, 0, 0, 0), Counters(), True),
        "d.dead": ((0, 0, 0, 0, 1), Counters(failed=1), False),
        DEFAULT_QUEUE: ((0, 0, 0, 0, 0), Counters(), False),
        "z9": ((0, 1, 1, 0, 0), Counters(failed=1), False),
    }
    # The namespace-wide pause is not a queue's.
    await backend.set_paused(True)
    assert [info.name for info in await backend.queues() if info.paused] == ["c"]


# -- purge and listing ---------------------------------------------------------------------


async def test_purge_touches_only_the_named_queue(backend: Backend) -> None:
    dead_a, dead_b = await bury_one(backend, "a"), await bury_one(backend, "b")
    await backend.enqueue([new_job(queue="a"), new_job(queue="b"), new_job(queue="b")])
    assert await backend.purge(JobState.DEAD, queue="a") == 1
    assert await backend.get_job(dead_a) is None
    assert await backend.get_job(dead_b) is not None
    assert await backend.purge(JobState.QUEUED, queue="b") == 2
    assert per_state(await backend.counts(queue="a")) == (1, 0, 0, 0, 0)
    assert await backend.purge(JobState.QUEUED, queue="nowhere") == 0
    assert await backend.purge(JobState.DEAD) == 1  # every queue
    assert per_state(await backend.counts()) == (1, 0, 0, 0, 0)


async def test_list_jobs_filters_by_queue_with_the_other_filters_and_pages(
    backend: Backend,
) -> None:
    dead_a, _ = await bury_one(backend, "a"), await bury_one(backend, "b")
    jobs = [
        new_job(
            "even" if n % 2 == 0 else "odd",
            {"n": n, "tag": "needle" if n % 3 == 0 else "hay"},
            queue="a" if n % 4 < 2 else "b",
            priority=(n * 7) % 5 - 2,
        )
        for n in range(16)
    ]
    for job in jobs:
        await backend.enqueue([job])
    in_a = [job.job_id for job in jobs if job.queue == "a"]

    def query(**filters: object) -> JobQuery:
        return JobQuery(state=JobState.QUEUED, **filters)  # type: ignore[arg-type]

    # Enqueue order, whatever the priorities (the claim's order is not the listing's).
    assert [j.job_id for j in await backend.list_jobs(query(limit=50, queue="a"))] == in_a
    pages = [await backend.list_jobs(query(limit=3, offset=o, queue="a")) for o in (0, 3, 6)]
    assert [j.job_id for page in pages for j in page] == in_a
    newest = await backend.list_jobs(query(limit=2, queue="a", newest_first=True))
    assert [j.job_id for j in newest] == in_a[::-1][:2]
    odd_b = await backend.list_jobs(query(limit=50, queue="b", job_name="odd"))
    assert [j.job_id for j in odd_b] == [
        job.job_id for job in jobs if job.queue == "b" and job.job_name == "odd"
    ]
    needles_a = await backend.list_jobs(query(limit=50, queue="a", text_contains="NEEDLE"))
    assert [j.job_id for j in needles_a] == [
        job.job_id
        for job in jobs
        if job.queue == "a" and json.loads(job.raw)["payload"]["tag"] == "needle"
    ]
    assert await backend.list_jobs(query(limit=50, queue="nowhere")) == []
    dead = await backend.list_jobs(
        JobQuery(state=JobState.DEAD, limit=10, queue="a", error_contains="FATAL")
    )
    assert [j.job_id for j in dead] == [dead_a]


# -- workers and layout --------------------------------------------------------------------


async def test_list_workers_returns_the_queues_as_heartbeated(
    backend: Backend, twin: Backend
) -> None:
    served = ("critical", "emails", DEFAULT_QUEUE)
    many = WorkerInfo(
        worker_id="w-many", host="h", pid=1, concurrency=2, started_at=200.0, queues=served
    )
    plain = WorkerInfo(worker_id="w-plain", host="h", pid=2, concurrency=1, started_at=100.0)
    await backend.heartbeat(many, attempts=[], lease=LEASE)
    await backend.heartbeat(plain, attempts=[], lease=LEASE)
    workers = {w.worker_id: w.queues for w in await twin.list_workers()}
    assert workers == {"w-many": served, "w-plain": (DEFAULT_QUEUE,)}


async def test_a_writers_open_records_the_current_layout(
    backend: Backend, backend_name: str, tmp_path: Path
) -> None:
    assert await backend.layout_version() == LAYOUT_VERSION
    if backend_name == "memory":
        return  # its own storage: no other view to open
    reader = make_backend(backend_name, backend.namespace, tmp_path)
    await reader.open(create=False)
    try:
        assert await reader.layout_version() == LAYOUT_VERSION
    finally:
        await reader.close()


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "queue",
    ["", "Emails", "has space", "-leading", "émails", "a/b", "x" * (MAX_QUEUE_NAME_LENGTH + 1)],
)
async def test_a_bad_queue_name_is_refused_and_nothing_stored(backend: Backend, queue: str) -> None:
    guarded = checked(backend)
    good = new_job()
    bad = new_job(queue=queue)
    with pytest.raises(ConfigError):
        await guarded.enqueue([good, bad])
    assert per_state(await backend.counts()) == (0, 0, 0, 0, 0)
    assert await backend.get_job(good.job_id) is None
    with pytest.raises(ConfigError, match="queue"):
        await guarded.claim(limit=1, lease=LEASE, worker_id="w", queues=[queue])
    with pytest.raises(ConfigError, match="queue"):
        await guarded.counts(queue=queue)
    with pytest.raises(ConfigError, match="queue"):
        await guarded.counters(queue=queue)
    with pytest.raises(ConfigError, match="queue"):
        await guarded.purge(JobState.DEAD, queue=queue)
    with pytest.raises(ConfigError, match="queue"):
        await guarded.set_paused(True, queue=queue)
    with pytest.raises(ConfigError, match="queue"):
        await guarded.list_jobs(JobQuery(state=JobState.QUEUED, limit=1, queue=queue))
    assert await backend.queues() == [
        QueueInfo(name=DEFAULT_QUEUE, counts=StateCounts(), counters=Counters())
    ]


@pytest.mark.parametrize("priority", [MAX_PRIORITY + 1, MIN_PRIORITY - 1, True, 1.5, "3", None])
async def test_a_priority_out_of_range_is_refused_and_nothing_stored(
    backend: Backend, priority: object
) -> None:
    good = new_job()
    env = envelope()
    bad = NewJob(job_id=env.id, job_name="job", raw=env.encode(), priority=priority)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        await checked(backend).enqueue([good, bad])
    assert per_state(await backend.counts()) == (0, 0, 0, 0, 0)
    assert await backend.get_job(good.job_id) is None


async def test_bad_queue_lists_are_refused(backend: Backend) -> None:
    guarded = checked(backend)
    await backend.enqueue([new_job()])
    for queues in ([], ["a", "a"], "default"):
        with pytest.raises(ConfigError):
            await guarded.claim(limit=1, lease=LEASE, worker_id="w", queues=queues)
    assert per_state(await backend.counts()) == (1, 0, 0, 0, 0)
