"""JSON log lines (wg_core.logs): each names the job it was logged for, sync handlers
and concurrent jobs included; exceptions are kept."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conformance.test_middleware import holds
from tests.conformance.test_pool import FAST
from tests.helpers import wait_until
from wg_core import Client, JobContext, MemoryBackend, WorkerPool
from wg_core.logs import JobLogContext, JsonFormatter, current_job


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    app = logging.getLogger("app")
    app.addHandler(handler)
    app.setLevel(logging.INFO)
    try:
        yield out
    finally:
        app.removeHandler(handler)


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def test_each_line_names_its_job(stream: io.StringIO) -> None:
    backend = MemoryBackend("logs")
    client = Client(backend)
    log = logging.getLogger("app")
    both_running = asyncio.Event()
    running = 0

    async def overlapping(job: dict[str, Any], ctx: JobContext) -> None:
        nonlocal running
        running += 1
        if running == 2:
            both_running.set()
        await both_running.wait()  # the two runs interleave on one event loop
        log.info("async %s", job["n"])

    def in_a_thread(job: dict[str, Any]) -> None:
        log.info("sync %s", job["n"])

    ids = {
        await client.enqueue({"n": n}, job_name="overlapping", queue="q"): f"async {n}"
        for n in (1, 2)
    }
    ids[await client.enqueue({"n": 3}, job_name="in_a_thread")] = "sync 3"
    handlers = {"overlapping": overlapping, "in_a_thread": in_a_thread}
    async with WorkerPool(
        handlers=handlers,
        backend=backend,
        middleware=[JobLogContext()],
        queues=["q", "default"],
        **FAST,
    ) as pool:
        await wait_until(holds(lambda: pool.stats.processed == 3), timeout=10)
    log.info("after the jobs")
    *jobs, last = lines(stream)
    assert {line["job_id"]: line["message"] for line in jobs} == ids
    assert {(line["job_name"], line["queue"], line["attempt"]) for line in jobs} == {
        ("overlapping", "q", 1),
        ("in_a_thread", "default", 1),
    }
    assert last["message"] == "after the jobs"
    assert "job_id" not in last
    assert current_job() is None


def test_exceptions_and_odd_arguments_are_kept(stream: io.StringIO) -> None:
    log = logging.getLogger("app")
    try:
        raise ValueError("bad thing")
    except ValueError:
        log.exception("it broke: %s", object)
    [line] = lines(stream)
    assert line["level"] == "ERROR"
    assert line["logger"] == "app"
    assert line["message"] == "it broke: <class 'object'>"
    assert "ValueError: bad thing" in line["exception"]
