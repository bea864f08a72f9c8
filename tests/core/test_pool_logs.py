"""Per-job log lines (logger ``wg.job``), and a failure wg cannot describe still ends
its job."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.helpers import wait_until
from wg_core import Client, JobContext, JobOptions, JobState, MemoryBackend, WorkerPool

FAST = {"fetch_timeout": 0.1, "retrier_interval": 0.05, "retry_jitter": 0.0}


async def _run(
    handle: object, *jobs: tuple[dict[str, int], JobOptions]
) -> tuple[Client, list[str]]:
    backend = MemoryBackend("logs")
    client = Client(backend)
    ids = [await client.enqueue(payload, job_name="mail", options=o) for payload, o in jobs]
    pool = WorkerPool(handle, backend=backend, **FAST)
    await pool.start()

    async def settled() -> bool:
        counts = await client.counts()
        return counts.queued + counts.retry + counts.running == 0

    await wait_until(settled)
    pool.shutdown()
    await pool.wait_closed()
    return client, ids


async def test_each_job_logs_its_start_completion_retry_and_death(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="wg.job")

    async def handle(job: dict[str, int], ctx: JobContext) -> None:
        if job["n"] == 2:
            raise RuntimeError("smtp down")

    _, (ok, bad) = await _run(
        handle,
        ({"n": 1}, JobOptions()),
        ({"n": 2}, JobOptions(max_retries=1, retry_delay=0.05)),
    )
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "wg.job"]
    assert (logging.DEBUG, f"job {ok} (mail) attempt 1 started") in lines
    assert any(
        level == logging.DEBUG and text.startswith(f"job {ok} (mail) attempt 1 completed in ")
        for level, text in lines
    )
    assert (
        logging.WARNING,
        f"job {bad} (mail) attempt 1 failed, retry in 0.1s: RuntimeError: smtp down",
    ) in lines
    assert (
        logging.WARNING,
        f"job {bad} (mail) attempt 2 is dead: RuntimeError: smtp down",
    ) in lines


async def test_at_info_no_line_is_formatted_for_a_completed_job(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wg")

    async def handle(job: dict[str, int]) -> None:
        pass

    await _run(handle, ({"n": 1}, JobOptions()))
    assert [r for r in caplog.records if r.name == "wg.job"] == []


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str for you")


async def test_an_exception_whose_message_cannot_be_read_still_fails_its_job() -> None:
    async def handle(job: dict[str, int]) -> None:
        raise Unprintable

    client, (job_id,) = await _run(handle, ({"n": 1}, JobOptions(max_retries=0)))
    job = await client.get_job(job_id)
    assert job is not None
    assert job.state is JobState.DEAD
    assert "Unprintable" in (job.last_error or "")


async def test_job_lines_name_each_jobs_queue_in_a_pool_serving_several(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="wg.job")
    backend = MemoryBackend("queue_logs")
    client = Client(backend)

    async def handle(job: dict[str, int], ctx: JobContext) -> None:
        if job["n"] == 2:
            raise RuntimeError("smtp down")
        if job["n"] == 3:
            await ctx.progress(0.5)
            raise asyncio.CancelledError  # its own: a failure like any other

    ok = await client.enqueue({"n": 1}, job_name="mail", queue="emails")
    bad = await client.enqueue(
        {"n": 2}, job_name="mail", queue="emails", options=JobOptions(max_retries=0)
    )
    plain = await client.enqueue({"n": 1}, job_name="mail")
    odd = await client.enqueue(
        {"n": 3}, job_name="mail", queue="reports", options=JobOptions(max_retries=0)
    )
    pool = WorkerPool(handle, backend=backend, queues=["emails", "reports", "default"], **FAST)
    await pool.start()

    async def settled() -> bool:
        counts = await client.counts()
        return counts.queued + counts.running == 0 and counts.dead == 2

    await wait_until(settled)
    pool.shutdown()
    await pool.wait_closed()
    lines = [r.getMessage() for r in caplog.records if r.name == "wg.job"]
    assert f"job {ok} (mail, queue emails) attempt 1 started" in lines
    assert f"job {bad} (mail, queue emails) attempt 1 is dead: RuntimeError: smtp down" in lines
    assert f"job {plain} (mail) attempt 1 started" in lines
    assert f"job {odd} (mail, queue reports) attempt 1 is dead: CancelledError" in lines
