"""Bugs the reliability suite found, each pinned by a test that fails until it is fixed.

They are marked ``xfail(strict=True)`` so the default run stays green while the fix is
pending, and turns red (XPASS) the moment the fix lands: then delete the mark.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.backends import open_backend
from tests.helpers import wait_until
from wg_core import Attempt, Backend, Client, JobContext, WorkerPool


class SlowAcks:
    """A real backend whose ``complete`` takes a while: it widens a race, fakes nothing."""

    def __init__(self, backend: Backend, delay: float) -> None:
        self._backend = backend
        self._delay = delay
        self.completing = asyncio.Event()

    async def complete(self, attempts: Sequence[Attempt]) -> int:
        self.completing.set()
        await asyncio.sleep(self._delay)
        return await self._backend.complete(attempts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


@pytest.mark.xfail(
    strict=True,
    reason="WorkerPool drain cancels an in-flight acknowledgement and releases the job: "
    "a job that finished during a graceful shutdown runs again (chaos scenario 3)",
)
@pytest.mark.parametrize("name", ["memory", "sqlite"])
async def test_a_job_finished_while_draining_is_not_released(name: str, tmp_path: Path) -> None:
    async with open_backend(name, tmp_path) as real:
        backend = SlowAcks(real, delay=0.3)
        client = Client(real)
        await client.enqueue({"n": 1}, job_name="work")
        finished = asyncio.Event()

        async def work(job: dict[str, int], ctx: JobContext) -> None:
            finished.set()

        pool = WorkerPool(
            handlers={"work": work},
            backend=backend,
            lease=5.0,
            heartbeat_interval=1.0,
            fetch_timeout=0.2,
        )
        await pool.start()
        await asyncio.wait_for(finished.wait(), 10)
        await asyncio.wait_for(backend.completing.wait(), 10)
        pool.shutdown()  # graceful: the handler has returned, its ack is on its way
        await pool.wait_closed()

        async def settled() -> bool:
            return (await client.counts()).running == 0

        await wait_until(settled)
        assert (await client.counters()).processed == 1
        assert (await client.counts()).queued == 0, "the finished job was released to run again"
