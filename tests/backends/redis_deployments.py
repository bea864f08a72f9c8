"""The private Redis deployments of tests/backends/test_redis_sentinel.py and
test_redis_cluster.py (chaos/sentinels.py, chaos/clusters.py): started or the test
skipped where redis-server is not installed, and a worker pool drained across one
failover (issue 23): 120 jobs, one pool of 4, the failover once a third of them ran;
nothing lost, nothing left stored, duplicates no more than the jobs in flight."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from chaos.servers import ServerMissing
from wg_core import Client, WorkerPool, backend_from_url
from wg_core.backend import StateCounts
from wg_core.errors import BackendUnavailableError

__all__ = ["JOBS", "WORKERS", "answered", "deployed", "drain_across_failover"]

T = TypeVar("T")
D = TypeVar("D")


@contextlib.contextmanager
def deployed(
    started: Callable[[Path], contextlib.AbstractContextManager[D]], directory: Path
) -> Iterator[D]:
    """``started(directory)``'s deployment (``sentinel_set``, ``cluster_set``), stopped
    at the end; the test skipped where redis-server is not installed."""
    try:
        with started(directory) as deployment:
            yield deployment
    except ServerMissing as exc:
        pytest.skip(str(exc))


JOBS = 120
WORKERS = 4
FAST: dict[str, Any] = {
    "workers": WORKERS,
    "fetch_timeout": 0.5,
    "reaper_interval": 0.1,
    "heartbeat_interval": 0.5,
    # A failover silences heartbeats for about a second: not long enough to count the
    # pool as dead and take its jobs (the default is 3 heartbeats).
    "silent_after": 5.0,
    # Longer than the pool's backoff through the failover (acknowledgements retried up
    # to 5 s apart), so that a finished job waiting for its acknowledgement is not
    # reaped and run again meanwhile.
    "lease": 6.0,
    "shutdown_timeout": 5.0,
    "retry_jitter": 0.0,
    # Claim only for free slots: the jobs a pool holds are the ones it runs (and their
    # acknowledgements, batched), which bounds what a failover can make run twice.
    "prefetch": 0,
}


async def answered(call: Callable[[], Awaitable[T]]) -> T:
    """``call()``'s result once the server answers (the test's own calls see the
    failover too)."""
    for _ in range(100):
        try:
            return await call()
        except BackendUnavailableError:
            await asyncio.sleep(0.1)
    return await call()


async def drain_across_failover(
    client: Client,
    url: str,
    fail_over: Callable[[], Awaitable[object]],
    queues: Sequence[str] = ("default",),
) -> collections.Counter[int]:
    """Enqueue ``JOBS`` jobs through ``client`` (connected to ``url``), shared over
    ``queues`` in turn, drain them with one pool of ``WORKERS`` serving those queues
    and ``await fail_over()`` once a third of them ran (the jobs in flight then wait
    until it returns: the failover always falls in the middle of the drain, however
    slow on a loaded machine, and their acknowledgements go to the new master); check
    that every job ran, nothing is left stored and the duplicates stay within every
    slot's job and its unwritten acknowledgement. The runs per job."""
    namespace = client.namespace
    runs: collections.Counter[int] = collections.Counter()

    async def fresh_counts() -> StateCounts:
        # A new connection: one opened before the failover may still read the old
        # master until Sentinel demotes it (about 10 s).
        reader = backend_from_url(url, namespace)
        await reader.open(create=False)
        try:
            return await reader.counts()
        finally:
            await reader.close()

    third, failed_over = asyncio.Event(), asyncio.Event()

    async def handler(job: dict[str, Any]) -> None:
        runs[job["n"]] += 1
        if len(runs) >= JOBS // 3:
            third.set()
            await asyncio.wait_for(failed_over.wait(), timeout=60)
        await asyncio.sleep(0.02)

    for index, queue in enumerate(queues):
        share = [{"n": n} for n in range(JOBS) if n % len(queues) == index]
        await client.enqueue_many(share, job_name="work", queue=queue)
    pool = WorkerPool(handler, url=url, namespace=namespace, queues=list(queues), **FAST)
    await pool.start()
    try:
        await asyncio.wait_for(third.wait(), timeout=30)
        await fail_over()
        failed_over.set()
        assert len(runs) < JOBS, "the drain was not cut in the middle"
        deadline = asyncio.get_running_loop().time() + 30
        left = None
        while len(runs) < JOBS or (left := await answered(fresh_counts)).total:
            assert asyncio.get_running_loop().time() < deadline, (
                f"the drain stalled: {len(runs)} of {JOBS} ran, {left}"
            )
            await asyncio.sleep(0.1)
    finally:
        pool.shutdown()
        await asyncio.wait_for(pool.wait_closed(), timeout=30)
    assert sorted(runs) == list(range(JOBS)), "lost jobs"
    assert (await answered(fresh_counts)).total == 0
    duplicates = sum(count - 1 for count in runs.values())
    print(f"failover mid-drain: {duplicates} duplicate(s)")
    # At most every slot's job and every slot's unwritten acknowledgement.
    assert duplicates <= 2 * WORKERS
    return runs
