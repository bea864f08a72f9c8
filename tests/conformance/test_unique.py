"""Unique jobs on every backend (issue 19, wg_core.unique): a key is held while its job
is queued, scheduled, retrying or running, and for ``unique_for`` after the enqueue;
a duplicate stores nothing and answers the holder's id; a batch's later duplicates
lose to its first; concurrent producers store exactly one job per key.

``unique_for`` expiry runs on an injected clock where the backend has one (memory,
SQLite); the servers' clocks are their own, so there a hold of a fraction of a second
runs out for real."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.backends import make_backend, open_backend
from tests.helpers import envelope, new_job
from wg_core import UNIQUE_BY_PAYLOAD, Client, JobOptions, JobSpec, derive_unique_key
from wg_core.backend import Attempt, Backend, Completion, JobQuery, JobState, NewJob
from wg_core.dispatch import checked
from wg_core.errors import ConfigError, DuplicateJobError
from wg_core.unique import MAX_UNIQUE_KEY_LENGTH

LEASE = 30.0
KEY = "invoice:42"


@pytest.fixture
async def client(backend: Backend) -> AsyncIterator[Client]:
    return Client(backend)


def keyed(key: str = KEY, *, unique_for: float = 0.0, delay: float = 0.0) -> NewJob:
    """A new job holding ``key``."""
    job = new_job(delay=delay)
    return NewJob(
        job_id=job.job_id,
        job_name=job.job_name,
        raw=job.raw,
        delay=delay,
        unique_key=key,
        unique_for=unique_for,
    )


async def running(backend: Backend, job: NewJob) -> Attempt:
    """Enqueue ``job`` and claim it (it must be the only job queued): its attempt."""
    assert await backend.enqueue([job]) == [job.job_id]
    [attempt] = await backend.claim(limit=1, lease=LEASE, worker_id="w-unique")
    assert attempt.raw == job.raw
    return attempt


async def test_a_duplicate_stores_nothing_and_returns_the_holder(client: Client) -> None:
    first = await client.enqueue({"n": 1}, job_name="invoice", unique_key=KEY)
    again = await client.enqueue_unique({"n": 2}, job_name="invoice", unique_key=KEY)
    assert (again.job_id, again.created) == (first, False)
    assert (await client.counts()).queued == 1
    info = await client.get_job(first)
    assert info is not None
    assert (info.unique_key, info.payload) == (KEY, {"n": 1})
    fresh = await client.enqueue_unique({"n": 3}, job_name="invoice", unique_key="invoice:43")
    assert fresh.created
    assert fresh.job_id != first


async def test_a_batch_of_distinct_keys_one_held(backend: Backend) -> None:
    # The one-statement bulk paths take every key or none: one held key sends the
    # batch down the key-by-key path, which stores the others.
    held = keyed()
    await backend.enqueue([held])
    batch = [keyed("invoice:1", unique_for=60.0), keyed(), keyed("invoice:2")]
    ids = await backend.enqueue(batch)
    assert ids == [batch[0].job_id, held.job_id, batch[2].job_id]
    assert (await backend.counts()).queued == 3
    again = await backend.enqueue([keyed("invoice:1"), keyed("invoice:2")])
    assert again == [batch[0].job_id, batch[2].job_id]


async def test_a_refused_id_takes_no_key(backend: Backend) -> None:
    # The one-statement fast paths insert the key's row before the job: a job refused
    # for its id must leave the key free (its row rolled back with it).
    first = new_job()
    await backend.enqueue([first])
    other = envelope(payload={"other": True}).evolve(id=first.job_id).encode()
    again = NewJob(job_id=first.job_id, job_name="job", raw=other, unique_key=KEY)
    with pytest.raises(DuplicateJobError):
        await backend.enqueue([again])
    fresh = keyed()
    assert await backend.enqueue([fresh]) == [fresh.job_id]
    assert (await backend.counts()).queued == 2


async def test_the_key_is_held_while_scheduled_running_and_retrying(backend: Backend) -> None:
    scheduled = keyed("s", delay=3600)
    assert await backend.enqueue([scheduled]) == [scheduled.job_id]
    assert await backend.enqueue([keyed("s")]) == [scheduled.job_id]

    job = keyed()
    await running(backend, job)
    assert await backend.enqueue([keyed()]) == [job.job_id]
    counts = await backend.counts()
    assert (counts.queued, counts.running, counts.scheduled) == (0, 1, 1)


async def test_retry_keeps_the_key_and_complete_frees_it(backend: Backend) -> None:
    job = keyed()
    assert await backend.enqueue([job]) == [job.job_id]
    [attempt] = await backend.claim(limit=1, lease=LEASE, worker_id="w")
    assert await backend.retry(attempt, raw=job.raw, delay=3600, error="boom")
    assert await backend.enqueue([keyed()]) == [job.job_id]  # RETRY holds it
    assert (await backend.counts()).retry == 1

    other = keyed("done")
    attempt = await running(backend, other)
    assert await backend.complete([Completion(attempt, keep=3600)]) == 1
    successor = keyed("done")
    assert await backend.enqueue([successor]) == [successor.job_id]


async def test_dead_and_cancelled_jobs_free_the_key(backend: Backend) -> None:
    job = keyed("dies")
    attempt = await running(backend, job)
    assert await backend.bury(attempt, raw=job.raw, error="fatal")
    replacement = keyed("dies")
    assert await backend.enqueue([replacement]) == [replacement.job_id]

    await backend.cancel(replacement.job_id, keep=3600)
    third = keyed("dies")
    assert await backend.enqueue([third]) == [third.job_id]
    await backend.delete_jobs([third.job_id])
    fourth = keyed("dies")
    assert await backend.enqueue([fourth]) == [fourth.job_id]


async def test_unique_for_holds_the_key_after_the_job_ended(backend: Backend) -> None:
    job = keyed(unique_for=3600)
    attempt = await running(backend, job)
    assert await backend.complete([attempt]) == 1  # deleted at once (keep 0)
    assert await backend.get_job(job.job_id) is None
    assert await backend.enqueue([keyed()]) == [job.job_id]


async def test_an_expired_hold_is_taken_over(backend_name: str, tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    injectable = backend_name in ("memory", "sqlite")
    options = {"clock": lambda: now[0]} if injectable else {}
    async with open_backend(backend_name, tmp_path, **options) as backend:
        hold = 60.0 if injectable else 0.3
        job = keyed(unique_for=hold)
        attempt = await running(backend, job)
        assert await backend.complete([attempt]) == 1
        assert await backend.enqueue([keyed()]) == [job.job_id]
        if injectable:
            now[0] += hold + 1
        else:
            await asyncio.sleep(hold + 0.2)
        successor = keyed()
        assert await backend.enqueue([successor]) == [successor.job_id]
        assert await backend.enqueue([keyed()]) == [successor.job_id]


async def test_an_expired_hold_of_a_running_job_still_holds(
    backend_name: str, tmp_path: Path
) -> None:
    now = [1_800_000_000.0]
    if backend_name not in ("memory", "sqlite"):
        pytest.skip("needs an injectable clock: the rule is the same code on the servers")
    async with open_backend(backend_name, tmp_path, clock=lambda: now[0]) as backend:
        job = keyed(unique_for=5)
        await running(backend, job)
        now[0] += 60
        assert await backend.enqueue([keyed()]) == [job.job_id]


async def test_a_batch_stores_its_first_job_of_each_key(client: Client) -> None:
    ids = await client.enqueue_many(
        [
            JobSpec(payload={"n": 1}, unique_key="a"),
            JobSpec(payload={"n": 2}, unique_key="b"),
            JobSpec(payload={"n": 3}, unique_key="a"),
            JobSpec(payload={"n": 4}),
            JobSpec(payload={"n": 5}, unique_key="b", delay=60),
        ],
        job_name="batch",
    )
    assert ids[2] == ids[0]
    assert ids[4] == ids[1]
    assert len(set(ids)) == 3
    assert (await client.counts()).queued == 3
    again = await client.enqueue_many([{"n": 1}], job_name="batch", unique_key="a")
    assert again == [ids[0]]


async def test_a_key_derived_from_name_and_payload(client: Client) -> None:
    first = await client.enqueue_unique({"b": 2, "a": 1}, job_name="report")
    assert first.created
    same = await client.enqueue({"a": 1, "b": 2}, job_name="report", unique_key=UNIQUE_BY_PAYLOAD)
    other = await client.enqueue_unique({"a": 1, "b": 3}, job_name="report")
    renamed = await client.enqueue_unique({"a": 1, "b": 2}, job_name="summary")
    assert same == first.job_id
    assert other.created
    assert renamed.created
    info = await client.get_job(first.job_id)
    assert info is not None
    assert info.unique_key == derive_unique_key("report", {"a": 1, "b": 2})
    ids = await client.enqueue_many(
        [{"a": 1, "b": 2}, {"x": 1}, {"x": 1}], job_name="report", unique_key=UNIQUE_BY_PAYLOAD
    )
    assert ids[0] == first.job_id
    assert ids[1] == ids[2] != first.job_id


async def test_schedule_and_with_options_take_the_keywords(client: Client) -> None:
    scheduled = await client.schedule({}, 3600, job_name="later", unique_key="k", unique_for=10)
    assert await client.enqueue_with_options({}, JobOptions(), job_name="x", unique_key="k") == (
        scheduled
    )
    info = await client.get_job(scheduled)
    assert info is not None
    assert info.state is JobState.SCHEDULED
    assert info.unique_key == "k"


async def test_bad_unique_keys_are_refused_before_anything_is_stored(
    client: Client, backend: Backend
) -> None:
    for bad in ("", "k" * (MAX_UNIQUE_KEY_LENGTH + 1)):
        with pytest.raises(ConfigError):
            await client.enqueue({}, job_name="x", unique_key=bad)
    with pytest.raises(ConfigError, match="unique_for needs a unique_key"):
        await client.enqueue({}, job_name="x", unique_for=10)
    with pytest.raises(ConfigError):
        await client.enqueue({}, job_name="x", unique_key="k", unique_for=-1)
    guarded = checked(backend)
    with pytest.raises(ValueError, match="empty"):
        await guarded.enqueue([keyed("")])
    with pytest.raises(ValueError, match="unique_for"):
        await guarded.enqueue([keyed("k", unique_for=float("nan"))])
    assert (await client.counts()).total == 0


async def test_concurrent_producers_store_one_job_per_key(
    backend_name: str, backend: Backend, tmp_path: Path
) -> None:
    # The figure is 50 producers x 1,000 enqueues over 100 keys; the default
    # suite runs 20 x 50 over 25 keys (`python -m benchmarks.unique race`: the full size).
    producers, per_producer, keys = 20, 50, 25
    views = [backend]
    if backend_name != "memory":
        for _ in range(3):  # other connections and pools, as other processes would be
            other = make_backend(backend_name, backend.namespace, tmp_path)
            await other.open()
            views.append(other)
    clients = [Client(view) for view in views]

    async def produce(n: int) -> list[str]:
        client = clients[n % len(clients)]
        return [
            await client.enqueue({"n": i}, job_name="race", unique_key=f"k{(n + i) % keys}")
            for i in range(per_producer)
        ]

    try:
        results = await asyncio.gather(*(produce(n) for n in range(producers)))
    finally:
        for view in views[1:]:
            await view.close()
    assert (await backend.counts()).queued == keys
    assert len(set(itertools.chain.from_iterable(results))) == keys


async def test_concurrent_batches_of_distinct_keys_store_one_job_per_key(
    backend_name: str, backend: Backend, tmp_path: Path
) -> None:
    # Batches whose keys are all their own take the one-statement bulk paths, racing
    # over shared keys from several connections: whoever wins a key, every batch is
    # answered its holder, and each key is stored once (no lost key, no deadlock).
    producers, batches, keys = 8, 6, 12
    views = [backend]
    if backend_name != "memory":
        for _ in range(3):
            other = make_backend(backend_name, backend.namespace, tmp_path)
            await other.open()
            views.append(other)

    async def produce(n: int) -> list[tuple[str, str]]:
        view = views[n % len(views)]
        answers: list[tuple[str, str]] = []
        for b in range(batches):
            # Each batch in its own order: ascending or descending, shifted.
            names = [f"k{(n + b + i) % keys}" for i in range(keys // 2)]
            names = names[::-1] if (n + b) % 2 else names
            ids = await view.enqueue([keyed(name) for name in names])
            answers.extend(zip(names, ids, strict=True))
        return answers

    try:
        results = await asyncio.gather(*(produce(n) for n in range(producers)))
    finally:
        for view in views[1:]:
            await view.close()
    holders: dict[str, set[str]] = {}
    for name, job_id in itertools.chain.from_iterable(results):
        holders.setdefault(name, set()).add(job_id)
    assert len(holders) == keys
    assert all(len(ids) == 1 for ids in holders.values())
    assert (await backend.counts()).queued == keys
    page = await backend.list_jobs(JobQuery(state=JobState.QUEUED, limit=100))
    assert {job.job_id for job in page} == set().union(*holders.values())


async def test_prune_forgets_free_holds_and_keeps_the_others(backend: Backend) -> None:
    held = keyed("held", unique_for=3600)
    running_job = keyed("running")
    await running(backend, running_job)
    ended = keyed("ended")
    assert await backend.enqueue([held, ended]) == [held.job_id, ended.job_id]
    assert await backend.delete_jobs([held.job_id, ended.job_id]) == 2
    for _ in range(3):  # Redis resumes its scan where the last prune stopped
        await backend.prune(limit=100)
    assert await backend.enqueue([keyed("held"), keyed("running")]) == [
        held.job_id,
        running_job.job_id,
    ]
    successor = keyed("ended")
    assert await backend.enqueue([successor]) == [successor.job_id]
