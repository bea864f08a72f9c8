"""When a pool writes a finished job's completion: gathered with others' for up to
``ACK_DELAY`` while other jobs run, but at once while its claimer waits for work (no
backlog to batch for, and the slot it frees may be what a claimer of a limited queue,
here or in another process, waits for: issue 20, item 4)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.helpers import wait_until
from wg_core import Client, JobState, WorkerPool
from wg_core.backends.memory import MemoryBackend
from wg_core.worker import acks, claiming


async def state(client: Client, job_id: str) -> JobState | None:
    info = await client.get_job(job_id)
    return None if info is None else info.state


@contextlib.asynccontextmanager
async def two_running_jobs() -> AsyncIterator[tuple[Client, list[str], dict[int, asyncio.Event]]]:
    """A pool of 4 slots (no prefetch: its claimer then waits for work) running two
    jobs, each until its event is set: the client, the two ids and the events."""
    backend = MemoryBackend()
    client = Client(backend)
    finish = {0: asyncio.Event(), 1: asyncio.Event()}
    running: set[int] = set()

    async def handle(job: dict[str, Any]) -> None:
        running.add(job["n"])
        await finish[job["n"]].wait()

    pool = WorkerPool(handle, backend=backend, workers=4, prefetch=0)
    await pool.start()
    try:
        ids = await client.enqueue_many([{"n": 0}, {"n": 1}], job_name="call")

        async def both_running() -> bool:
            return running == {0, 1}

        await wait_until(both_running)  # and the queue is empty
        yield client, ids, finish
    finally:
        finish[0].set()
        finish[1].set()
        pool.shutdown()
        await pool.wait_closed()


async def test_a_completion_is_written_at_once_while_the_claimer_waits_for_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(acks, "ACK_DELAY", 60.0)  # a gathered completion would wait a minute
    monkeypatch.setattr(claiming, "WAITING_FOR_WORK", 0.0)  # no timer to wait out here
    async with two_running_jobs() as (client, (first, _), finish):
        finish[0].set()  # one of two running jobs ends; the claimer waits for work

        async def first_completed() -> bool:
            return await state(client, first) is JobState.COMPLETED

        await wait_until(first_completed)  # long before the minute is up


async def test_completions_are_gathered_while_the_claimer_finds_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The batching stays where it pays: a job ending beside another running one,
    while the claim loop is not waiting for work, is written with the next batch."""
    monkeypatch.setattr(claiming, "WAITING_FOR_WORK", 3600.0)  # never "waiting" here
    monkeypatch.setattr(acks, "ACK_DELAY", 3600.0)
    async with two_running_jobs() as (client, (first, second), finish):
        finish[0].set()
        await asyncio.sleep(0.2)  # what an immediate write would take, many times over
        assert await state(client, first) is JobState.RUNNING  # held for the batch
        finish[1].set()  # the pool goes idle: both written now

        async def both_completed() -> bool:
            states = {await state(client, first), await state(client, second)}
            return states == {JobState.COMPLETED}

        await wait_until(both_completed)
