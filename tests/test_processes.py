"""Real worker processes: SIGKILL loses nothing; SIGTERM drains and exits 0."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.backends import backend_url, fresh_namespace, open_backend
from wg_core import Backend, Client, JobOptions

DURABLE = ("sqlite", "redis", "postgres", "mysql")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=DURABLE)
def durable_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
async def durable(durable_name: str, tmp_path: Path) -> AsyncIterator[Backend]:
    async with open_backend(durable_name, tmp_path) as backend:
        yield backend


def spawn(url: str, namespace: str, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.workers.log_worker", url, namespace, str(log), *extra],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def events(log: Path, kind: str) -> list[str]:
    if not log.exists():
        return []
    return [line.split()[1] for line in log.read_text().splitlines() if line.startswith(kind)]


async def wait_for(predicate: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)


@pytest.mark.slow
async def test_sigkilled_workers_lose_no_job(
    durable: Backend, durable_name: str, tmp_path: Path
) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    print(f"seed={seed}")
    url = backend_url(durable_name, tmp_path)
    log = tmp_path / "effects.log"
    client = Client(durable)
    total = 300
    ids = set(
        await client.enqueue_many(
            [{"n": n} for n in range(total)], options=JobOptions(max_retries=20, retry_delay=0.05)
        )
    )
    extra = ("--job-seconds", "0.05", "--lease", "1.0")
    workers = [spawn(url, durable.namespace, log, *extra) for _ in range(2)]
    kills = 0
    try:
        for _ in range(6):
            await wait_for(lambda k=kills: len(events(log, "start")) > k * 20, timeout=60)
            victim = rng.randrange(len(workers))
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait()
            kills += 1
            workers[victim] = spawn(url, durable.namespace, log, *extra)

        async def settled() -> bool:
            counts = await client.counts()
            return counts.queued + counts.scheduled + counts.retry + counts.running == 0

        deadline = time.monotonic() + 90
        while not await settled():
            assert time.monotonic() < deadline, f"jobs stuck (seed={seed})"
            await asyncio.sleep(0.1)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=30)
    completed = set(events(log, "end"))
    dead = {job.job_id for job in await client.list_jobs("dead", limit=total)}
    lost = ids - completed - dead
    assert not lost, f"{len(lost)} jobs lost (seed={seed})"
    assert dead == set(), f"jobs went dead: {dead} (seed={seed})"
    assert (await client.counters()).processed >= total - kills * 4


@pytest.mark.slow
async def test_sigterm_drains_running_jobs_and_exits_zero(
    durable: Backend, durable_name: str, tmp_path: Path
) -> None:
    url = backend_url(durable_name, tmp_path)
    log = tmp_path / "effects.log"
    client = Client(durable)
    ids = set(await client.enqueue_many([{"n": n} for n in range(4)]))
    worker = spawn(url, durable.namespace, log, "--job-seconds", "0.6", "--workers", "4")
    try:
        await wait_for(lambda: len(events(log, "start")) == 4, timeout=60)
        worker.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(worker.wait, 30)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert code == 0
    assert set(events(log, "end")) == ids
    assert (await client.counts()).total == 0
    assert await client.workers() == []


@pytest.mark.slow
async def test_sigterm_past_the_timeout_releases_jobs_unspent(
    durable: Backend, durable_name: str, tmp_path: Path
) -> None:
    url = backend_url(durable_name, tmp_path)
    log = tmp_path / "effects.log"
    client = Client(durable)
    ids = set(await client.enqueue_many([{"n": n} for n in range(2)]))
    worker = spawn(url, durable.namespace, log, "--job-seconds", "60", "--shutdown-timeout", "0.2")
    try:
        await wait_for(lambda: len(events(log, "start")) == 2, timeout=60)
        started = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(worker.wait, 30)
        assert time.monotonic() - started < 0.2 + 10  # bounded by the timeout, not the job
    finally:
        if worker.poll() is None:
            worker.kill()
    assert code == 0
    queued = await client.list_jobs("queued")
    assert {job.job_id for job in queued} == ids
    assert all(job.retry_count == 0 for job in queued)


OPEN_SCRIPT = """
import asyncio, sys
from wg_core import backend_from_url
async def main():
    backend = backend_from_url(sys.argv[1], sys.argv[2])
    await backend.open()
    await backend.close()
asyncio.run(main())
"""


@pytest.mark.slow
@pytest.mark.parametrize("name", ["postgres", "mysql"])
async def test_processes_creating_the_schema_at_once_all_succeed(name: str, tmp_path: Path) -> None:
    namespace = fresh_namespace()
    url = backend_url(name, tmp_path)
    processes = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", OPEN_SCRIPT, url, namespace)
        for _ in range(3)
    ]
    codes = [await asyncio.wait_for(process.wait(), 60) for process in processes]
    async with open_backend(name, tmp_path, namespace=namespace) as backend:
        assert codes == [0, 0, 0]
        await Client(backend).enqueue({"n": 1})
        assert len(await backend.claim(limit=10, lease=30, worker_id="w")) == 1
