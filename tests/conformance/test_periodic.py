"""The registry of periodic entries and the atomic fire of a tick, on every backend
(issue 19: ``register_periodic``, ``fire_periodic``, ``periodic_entries``)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from tests.helpers import new_job
from wg_core.backend import Backend, JobState, PeriodicEntry, PeriodicInfo
from wg_core.dispatch import checked
from wg_core.errors import DuplicateJobError

NOW = 1_800_000_000.0


def entry(name: str = "digest", **fields: object) -> PeriodicEntry:
    values: dict[str, object] = {
        "schedule": "every 60s",
        "job_name": "digest",
        "template": '{"options":null,"payload":{"n":1}}',
        "baseline": NOW - 60,
        "next_run": NOW + 60,
    }
    values.update(fields)
    return PeriodicEntry(name=name, **values)  # type: ignore[arg-type]


async def info(backend: Backend, name: str = "digest") -> PeriodicInfo:
    found = {item.name: item for item in await backend.periodic_entries()}
    return found[name]


async def test_registered_entries_are_listed_by_name(backend: Backend) -> None:
    await backend.register_periodic(
        [entry("zeta", queue="reports", priority=5), entry("alpha")], now=NOW
    )
    listed = await backend.periodic_entries()
    assert [item.name for item in listed] == ["alpha", "zeta"]
    zeta = listed[1]
    assert (zeta.schedule, zeta.job_name, zeta.queue, zeta.priority) == (
        "every 60s",
        "digest",
        "reports",
        5,
    )
    assert zeta.template == '{"options":null,"payload":{"n":1}}'
    assert (zeta.last_tick, zeta.next_run, zeta.registered_at) == (NOW - 60, NOW + 60, NOW)
    assert (zeta.last_run_at, zeta.last_job_id) == (None, None)


async def test_fire_claims_the_tick_and_stores_its_job(backend: Backend) -> None:
    await backend.register_periodic([entry()], now=NOW)
    job = new_job("digest", {"n": 1}, queue="reports", priority=3)
    assert await backend.fire_periodic(
        "digest", tick=NOW, job=job, now=NOW + 0.5, next_run=NOW + 60
    )
    stored = await backend.get_job(job.job_id)
    assert stored is not None
    assert (stored.state, stored.queue, stored.priority) == (JobState.QUEUED, "reports", 3)
    fired = await info(backend)
    assert (fired.last_tick, fired.last_run_at, fired.last_job_id, fired.next_run) == (
        NOW,
        NOW + 0.5,
        job.job_id,
        NOW + 60,
    )


async def test_a_tick_is_claimed_once_and_only_newer_ticks_after_it(backend: Backend) -> None:
    await backend.register_periodic([entry()], now=NOW)
    assert await backend.fire_periodic("digest", tick=NOW, job=new_job(), now=NOW, next_run=None)
    again = new_job()
    assert not await backend.fire_periodic("digest", tick=NOW, job=again, now=NOW, next_run=None)
    older = new_job()
    assert not await backend.fire_periodic(
        "digest", tick=NOW - 60, job=older, now=NOW, next_run=None
    )
    assert await backend.get_job(again.job_id) is None
    assert await backend.get_job(older.job_id) is None
    assert await backend.fire_periodic(
        "digest", tick=NOW + 60, job=new_job(), now=NOW + 60, next_run=None
    )
    assert (await backend.counts()).queued == 2
    assert (await info(backend)).next_run == NOW + 60  # None kept the stored next run


async def test_an_unregistered_entry_fires_nothing(backend: Backend) -> None:
    job = new_job()
    assert not await backend.fire_periodic("nobody", tick=NOW, job=job, now=NOW, next_run=None)
    assert await backend.get_job(job.job_id) is None


async def test_a_fire_re_creates_its_missing_entry_from_the_pool_definition(
    backend: Backend,
) -> None:
    # Another service's registration declared only "cleanup": "digest" was deleted.
    await backend.register_periodic([entry("digest"), entry("cleanup")], now=NOW)
    await backend.register_periodic([entry("cleanup")], now=NOW + 1)
    job = new_job("digest", {"n": 1}, queue="reports")
    definition = entry(queue="reports", priority=2, baseline=NOW + 3600, next_run=NOW + 120)
    assert await backend.fire_periodic(
        "digest", tick=NOW + 60, job=job, now=NOW + 61, next_run=None, entry=definition
    )
    assert await backend.get_job(job.job_id) is not None
    revived = await info(backend)
    assert (revived.schedule, revived.job_name, revived.queue, revived.priority) == (
        "every 60s",
        "digest",
        "reports",
        2,
    )
    assert revived.template == definition.template
    # From this tick (not the definition's baseline), with this run.
    assert (revived.last_tick, revived.last_run_at, revived.last_job_id) == (
        NOW + 60,
        NOW + 61,
        job.job_id,
    )
    assert (revived.next_run, revived.registered_at) == (NOW + 120, NOW + 61)
    # The tick is taken like any other; the next one is not.
    again = new_job()
    assert not await backend.fire_periodic(
        "digest", tick=NOW + 60, job=again, now=NOW + 61, next_run=None, entry=definition
    )
    assert await backend.get_job(again.job_id) is None
    assert await backend.fire_periodic(
        "digest", tick=NOW + 120, job=new_job(), now=NOW + 121, next_run=NOW + 180, entry=definition
    )
    assert (await info(backend)).next_run == NOW + 180
    # A registration that does not declare it deletes it again.
    await backend.register_periodic([entry("cleanup")], now=NOW + 130)
    assert [item.name for item in await backend.periodic_entries()] == ["cleanup"]
    assert (await backend.counts()).queued == 2


async def test_a_fire_leaves_a_registered_definition_alone(backend: Backend) -> None:
    await backend.register_periodic([entry()], now=NOW)
    other = entry(schedule="every 30s", job_name="other", queue="elsewhere", baseline=NOW + 90)
    assert await backend.fire_periodic(
        "digest", tick=NOW, job=new_job(), now=NOW, next_run=None, entry=other
    )
    kept = await info(backend)
    assert (kept.schedule, kept.job_name, kept.queue, kept.registered_at) == (
        "every 60s",
        "digest",
        "default",
        NOW,
    )
    assert (kept.last_tick, kept.next_run) == (NOW, NOW + 60)


async def test_concurrent_re_creations_of_one_tick_store_one_job(
    backend: Backend, twin: Backend
) -> None:
    jobs = [new_job() for _ in range(12)]
    results = await asyncio.gather(
        *(
            (backend if index % 2 else twin).fire_periodic(
                "digest", tick=NOW, job=job, now=NOW, next_run=None, entry=entry()
            )
            for index, job in enumerate(jobs)
        )
    )
    assert sum(results) == 1
    winner = jobs[results.index(True)]
    assert (await backend.counts()).queued == 1
    revived = await info(backend)
    assert (revived.last_tick, revived.last_job_id) == (NOW, winner.job_id)


async def test_a_refused_job_re_creates_no_entry(backend: Backend) -> None:
    taken = new_job()
    await backend.enqueue([taken])
    clash = replace(new_job(payload={"other": True}), job_id=taken.job_id)
    with pytest.raises(DuplicateJobError):
        await backend.fire_periodic(
            "digest", tick=NOW, job=clash, now=NOW, next_run=None, entry=entry()
        )
    assert await backend.periodic_entries() == []


async def test_a_run_by_hand_is_recorded_but_claims_no_tick(backend: Backend) -> None:
    await backend.register_periodic([entry()], now=NOW)
    first, second = new_job(), new_job()
    assert await backend.fire_periodic("digest", tick=None, job=first, now=NOW, next_run=None)
    assert await backend.fire_periodic("digest", tick=None, job=second, now=NOW + 1, next_run=None)
    manual = await info(backend)
    assert (manual.last_tick, manual.last_job_id, manual.last_run_at) == (
        NOW - 60,
        second.job_id,
        NOW + 1,
    )
    assert (await backend.counts()).queued == 2
    # The tick after the baseline is still to claim.
    assert await backend.fire_periodic("digest", tick=NOW, job=new_job(), now=NOW, next_run=None)


async def test_a_scheduled_job_of_a_fire_waits_for_its_time(backend: Backend) -> None:
    await backend.register_periodic([entry()], now=NOW)
    job = new_job(delay=3600)
    assert await backend.fire_periodic("digest", tick=NOW, job=job, now=NOW, next_run=None)
    stored = await backend.get_job(job.job_id)
    assert stored is not None
    assert stored.state is JobState.SCHEDULED


async def test_concurrent_fires_of_one_tick_store_one_job(backend: Backend, twin: Backend) -> None:
    await backend.register_periodic([entry()], now=NOW)
    jobs = [new_job() for _ in range(12)]
    results = await asyncio.gather(
        *(
            (backend if index % 2 else twin).fire_periodic(
                "digest", tick=NOW, job=job, now=NOW, next_run=None
            )
            for index, job in enumerate(jobs)
        )
    )
    assert sum(results) == 1
    winner = jobs[results.index(True)]
    assert (await backend.counts()).queued == 1
    assert (await info(backend)).last_job_id == winner.job_id


async def test_a_refused_job_claims_no_tick(backend: Backend) -> None:
    await backend.register_periodic([entry()], now=NOW)
    taken = new_job()
    await backend.enqueue([taken])
    # Another job under a stored id (an identical one is a repeated call to Redis).
    clash = replace(new_job(payload={"other": True}), job_id=taken.job_id)
    with pytest.raises(DuplicateJobError):
        await backend.fire_periodic("digest", tick=NOW, job=clash, now=NOW, next_run=None)
    unchanged = await info(backend)
    assert (unchanged.last_tick, unchanged.last_job_id) == (NOW - 60, None)
    assert await backend.fire_periodic("digest", tick=NOW, job=new_job(), now=NOW, next_run=None)


async def test_registering_again_keeps_the_runs_and_deletes_undeclared_entries(
    backend: Backend,
) -> None:
    await backend.register_periodic([entry("digest"), entry("cleanup")], now=NOW)
    job = new_job()
    await backend.fire_periodic("digest", tick=NOW, job=job, now=NOW, next_run=None)
    await backend.register_periodic(
        [
            entry(
                "digest", job_name="digest2", queue="other", baseline=NOW + 600, next_run=NOW + 660
            )
        ],
        now=NOW + 1,
    )
    [kept] = await backend.periodic_entries()
    assert (kept.name, kept.job_name, kept.queue) == ("digest", "digest2", "other")
    # Same schedule: the last tick, run and job stay (the baseline is for new entries).
    assert (kept.last_tick, kept.last_job_id, kept.last_run_at) == (NOW, job.job_id, NOW)
    assert (kept.next_run, kept.registered_at) == (NOW + 660, NOW + 1)


async def test_a_changed_schedule_starts_again_from_its_baseline(backend: Backend) -> None:
    await backend.register_periodic([entry()], now=NOW)
    job = new_job()
    await backend.fire_periodic("digest", tick=NOW, job=job, now=NOW, next_run=None)
    await backend.register_periodic(
        [entry(schedule="every 30s", baseline=NOW + 90, next_run=NOW + 120)], now=NOW + 100
    )
    changed = await info(backend)
    assert (changed.schedule, changed.last_tick, changed.last_job_id) == (
        "every 30s",
        NOW + 90,
        job.job_id,
    )
    assert not await backend.fire_periodic(
        "digest", tick=NOW + 60, job=new_job(), now=NOW + 100, next_run=None
    )


async def test_destroy_removes_the_registry(backend: Backend) -> None:
    await backend.register_periodic([entry()], now=NOW)
    await backend.destroy()
    await backend.open()
    assert await backend.periodic_entries() == []


async def test_the_checked_layer_refuses_bad_arguments(backend: Backend) -> None:
    guarded = checked(backend)
    with pytest.raises(ValueError, match="share a name"):
        await guarded.register_periodic([entry(), entry()], now=NOW)
    with pytest.raises(ValueError, match="finite"):
        await guarded.fire_periodic(
            "digest", tick=float("nan"), job=new_job(), now=NOW, next_run=None
        )
    with pytest.raises(ValueError, match="entry name"):
        await guarded.fire_periodic("", tick=NOW, job=new_job(), now=NOW, next_run=None)
    with pytest.raises(ValueError, match="definition of 'cleanup'"):
        await guarded.fire_periodic(
            "digest", tick=NOW, job=new_job(), now=NOW, next_run=None, entry=entry("cleanup")
        )
    with pytest.raises(ValueError, match="by hand"):
        await guarded.fire_periodic(
            "digest", tick=None, job=new_job(), now=NOW, next_run=None, entry=entry()
        )
    with pytest.raises(ValueError, match="queue"):
        await guarded.fire_periodic(
            "digest", tick=NOW, job=new_job(), now=NOW, next_run=None, entry=entry(queue="")
        )
    assert await backend.periodic_entries() == []
