"""Bugs the reliability suite found, each pinned by a test (docs/reliability.md, Findings).

A test whose fix is pending is marked ``xfail(strict=True)``: the default run stays
green, and turns red (XPASS) the moment the fix lands; then the mark is deleted and the
test stays as a regression test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.backends import open_backend
from tests.helpers import wait_until
from wg_core import Backend, Client, JobContext, WorkerPool
from wg_core.backend import Attempt, JobQuery


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


async def test_an_over_cap_envelope_in_storage_goes_dead(tmp_path: Path, chaos_seed: int) -> None:
    from chaos.poison import OVER_CAP, poison
    from chaos.profiles import PROFILES
    from chaos.runner import run_scenario

    async def over_cap_only(harness: Any, profile: Any) -> Any:
        return await poison(harness, profile, kinds=(OVER_CAP,))

    verdict = await run_scenario(
        over_cap_only, "sqlite", PROFILES["ci"], seed=chaos_seed, workdir=tmp_path
    )
    assert verdict.ok, verdict.summary()


@pytest.mark.parametrize(
    "name",
    ["postgres", "mysql", "sqlite"],
)
async def test_unstorable_text_is_refused_with_a_wg_error(name: str, tmp_path: Path) -> None:
    from wg_core.backend import NewJob
    from wg_core.errors import BackendError

    raw = b"\xff\xfe not utf-8".decode("utf-8", "surrogateescape")
    async with open_backend(name, tmp_path) as backend:
        try:
            await backend.enqueue([NewJob(job_id="x", job_name="x", raw=raw)])
        except BackendError:
            pass  # refused cleanly
        else:
            assert await backend.get_job("x") is not None


async def test_a_payload_that_is_not_utf8_is_a_payload_error() -> None:
    from wg_core import MemoryBackend
    from wg_core.errors import PayloadError

    with pytest.raises(PayloadError):
        await Client(MemoryBackend("findings")).enqueue({"s": "\udcff"})


@pytest.mark.parametrize(
    "name",
    [
        "memory",
        "sqlite",
        "redis",
        "postgres",
        "mysql",
    ],
)
async def test_a_malformed_job_keeps_its_id_when_buried(name: str, tmp_path: Path) -> None:
    from wg_core import JobState
    from wg_core.backend import NewJob
    from wg_core.failures import malformed_dead_envelope

    async with open_backend(name, tmp_path) as backend:
        await backend.enqueue([NewJob(job_id="bad-1", job_name="x", raw="not json {")])
        [attempt] = await backend.claim(limit=1, lease=30, worker_id="w")
        dead = malformed_dead_envelope(attempt.raw, "undecodable envelope", now=0)
        assert await backend.bury(attempt, raw=dead.encode(), error=dead.last_error)
        assert [
            job.job_id for job in await backend.list_jobs(JobQuery(state=JobState.DEAD, limit=10))
        ] == ["bad-1"]
        stored = await backend.get_job("bad-1")
        assert stored is not None
        assert stored.state is JobState.DEAD
