"""Helpers shared by the test modules: building envelopes, waiting on conditions."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from wg_core.backend import Attempt, Backend, NewJob
from wg_core.envelope import Envelope
from wg_core.queues import DEFAULT_QUEUE


def envelope(
    job_name: str = "job",
    payload: Any = None,
    *,
    max_retries: int = 3,
    retry_delay: float | None = 10.0,
    timeout: float | None = 300.0,
    job_id: str | None = None,
) -> Envelope:
    """A fresh envelope as the Client would write it."""
    return Envelope(
        id=job_id or str(uuid.uuid4()),
        job_name=job_name,
        payload=payload if payload is not None else {},
        max_retries=max_retries,
        retry_count=0,
        timeout=timeout,
        retry_delay=retry_delay,
        status="Pending",
        created_at=int(time.time()),
    )


def new_job(
    job_name: str = "job",
    payload: Any = None,
    *,
    delay: float = 0.0,
    queue: str = DEFAULT_QUEUE,
    priority: int = 0,
    limit_key: str | None = None,
) -> NewJob:
    """A ``NewJob`` ready for ``Backend.enqueue``, in ``queue`` at ``priority``."""
    env = envelope(job_name, payload)
    return NewJob(
        job_id=env.id,
        job_name=job_name,
        raw=env.encode(),
        delay=delay,
        queue=queue,
        priority=priority,
        limit_key=limit_key,
    )


async def wait_until(
    condition: Callable[[], Awaitable[bool]], *, timeout: float = 10.0, interval: float = 0.02
) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


async def start_job(
    backend: Backend,
    job: NewJob | None = None,
    *,
    lease: float = 30.0,
    worker_id: str = "w-test",
) -> tuple[NewJob, Attempt]:
    """Enqueue ``job`` (a fresh one of the queue ``default`` unless given) and claim it:
    the job and its attempt. Its queue must have nothing else queued."""
    job = job or new_job()
    await backend.enqueue([job])
    attempts = await backend.claim(limit=1, lease=lease, worker_id=worker_id, queues=[job.queue])
    assert len(attempts) == 1, "the job was not claimed"
    [attempt] = attempts
    assert attempt.raw == job.raw, "another job was claimed"
    return job, attempt
