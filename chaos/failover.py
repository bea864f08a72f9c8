"""Redis Sentinel and Redis Cluster failovers in the middle of a drain (issue 23).

``python -m chaos failover [--jobs 5000] [--failovers 3] [--pools 3] [--workers 8]``
``python -m chaos cluster-failover [same options] [--crash] [--slots queue|namespace]
[--queues 3]``

A private deployment (chaos/sentinels.py: 1 master, 1 replica, 3 sentinels; the master
runs with ``min-replicas-to-write 1``), ``--jobs`` jobs enqueued through the sentinels,
``--pools`` worker pools in this process draining them, and a ``SENTINEL FAILOVER``
each time another share of the jobs has run. Every pool must follow each new master
without a restart. ``cluster-failover`` does the same on a private Redis Cluster
(chaos/clusters.py: 3 masters, 3 replicas, ``min-replicas-to-write 1``) with a
``CLUSTER FAILOVER`` on a replica of the master that holds the namespace's slot; with
``--crash``, a SIGKILL of that master instead (the cluster fails over by itself after
``cluster-node-timeout``; the killed node restarts as a replica): what a crash loses to
asynchronous replication shows as ``lost``. The cluster's namespace has a slot per
queue (the cluster URL's default; ``--slots namespace``: one slot), its jobs spread over
``--queues`` queues, and each failover takes the master of the next queue's slot.

It reports the longest pause between two job runs (what a failover costs the drain).
Pass: 0 lost (every job ran and none is left stored), nothing stuck, and duplicates no
more than the jobs in flight at the failovers: each pool's slots and their unwritten
acknowledgements (``2 × pools × workers`` per failover; pools claim for free slots only).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import random
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chaos.clusters import cluster_set
from chaos.sentinels import sentinel_set
from wg_core import BackendUnavailableError, Client, WorkerPool, backend_from_url
from wg_core.backend import StateCounts

__all__ = ["run"]

_SETTINGS: dict[str, Any] = {
    "fetch_timeout": 0.5,
    "reaper_interval": 0.2,
    "heartbeat_interval": 0.5,
    # Heartbeats fail for about a second during a failover: not long enough to count a
    # pool as dead and take its jobs.
    "silent_after": 5.0,
    # Longer than the pools' backoff through the failover (acknowledgements retried
    # up to 5 s apart): a job whose acknowledgement waits out the outage is not
    # reaped and run again meanwhile.
    "lease": 10.0,
    "shutdown_timeout": 5.0,
    "prefetch": 0,
}


def _queues(args: argparse.Namespace) -> list[str]:
    """The queues the jobs spread over: ``default`` alone but on a cluster."""
    if getattr(args, "queues", 1) <= 1:
        return ["default"]
    return [f"q{n}" for n in range(args.queues)]


async def _counts(url: str, namespace: str) -> StateCounts:
    """The counts through a new connection (one opened before a failover may read the
    old master until Sentinel demotes it), once the master answers."""
    for _ in range(300):
        reader = backend_from_url(url, namespace)
        try:
            await reader.open(create=False)
            return await reader.counts()
        except BackendUnavailableError:
            await asyncio.sleep(0.1)
        finally:
            await reader.close()
    raise RuntimeError("the master never answered")


async def _drain(
    url: str, namespace: str, fail_over: Callable[[], object], args: argparse.Namespace
) -> dict[str, Any]:
    client = await Client.connect(url, namespace)
    queues = _queues(args)
    runs: collections.Counter[int] = collections.Counter()
    rng = random.Random(args.seed)
    progressed = asyncio.Event()

    last_run, longest_pause = time.monotonic(), 0.0

    async def handler(job: dict[str, Any]) -> None:
        nonlocal last_run, longest_pause
        now = time.monotonic()
        longest_pause, last_run = max(longest_pause, now - last_run), now
        runs[job["n"]] += 1
        progressed.set()
        await asyncio.sleep(rng.uniform(0.001, 0.01))

    async def ran(count: int, *, within: float) -> bool:
        """Wait until ``count`` jobs have run (at most ``within`` seconds)."""
        deadline = time.monotonic() + within
        while len(runs) < count and time.monotonic() < deadline:
            progressed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(progressed.wait(), timeout=0.1)
        return len(runs) >= count

    for first in range(0, args.jobs, 1000):
        for index, queue in enumerate(queues):
            numbers = range(first, min(args.jobs, first + 1000))
            share = [{"n": n} for n in numbers if n % len(queues) == index]
            await client.enqueue_many(share, job_name="work", queue=queue)
    pools = [
        WorkerPool(
            handler,
            url=url,
            namespace=namespace,
            workers=args.workers,
            queues=queues,
            **_SETTINGS,
        )
        for _ in range(args.pools)
    ]
    started = time.monotonic()
    for pool in pools:
        await pool.start()
    last_run = time.monotonic()
    try:
        for failover in range(1, args.failovers + 1):
            await ran(args.jobs * failover // (args.failovers + 1), within=120)
            await asyncio.to_thread(fail_over)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if len(runs) == args.jobs and (await _counts(url, namespace)).total == 0:
                break
            await asyncio.sleep(0.2)
    finally:
        for pool in pools:
            pool.shutdown()
        for pool in pools:
            await pool.wait_closed()
    counts = await _counts(url, namespace)
    await client.close()
    return {
        "jobs": args.jobs,
        "queues": len(queues),
        "failovers": args.failovers,
        "lost": args.jobs - len(runs),
        "stuck": counts.total,
        "duplicates": sum(count - 1 for count in runs.values()),
        "bound": 2 * args.pools * args.workers * args.failovers,
        "seconds": round(time.monotonic() - started, 1),
        "longest_pause": round(longest_pause, 2),
    }


async def run(args: argparse.Namespace) -> int:
    """Run the scenario, print its verdict line; 0 when it passed."""
    namespace = "chaos_" + uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="wg-failover-") as directory:
        if args.command == "cluster-failover":
            with cluster_set(Path(directory)) as cluster:
                queues = _queues(args)
                done = [0]

                def fail_over() -> int:
                    # Each failover takes the master of the next queue's slot.
                    queue = queues[done[0] % len(queues)]
                    done[0] += 1
                    tag = (
                        namespace
                        if args.slots == "namespace" or queue == "default"
                        else (f"{namespace}:{queue}")
                    )
                    master = cluster.master_of(f"{{{tag}}}:ids")
                    if args.crash:
                        return cluster.crash(master)
                    return cluster.failover(master)

                url = cluster.url() + f"?slots={args.slots}"
                result = await _drain(url, namespace, fail_over, args)
                result["slots"] = args.slots
                if not args.crash:
                    result["failover_asks"] = "+".join(map(str, cluster.asks))
        else:
            with sentinel_set(Path(directory)) as sentinels:
                result = await _drain(sentinels.url(), namespace, sentinels.failover, args)
    passed = result["lost"] == 0 and result["stuck"] == 0
    passed = passed and result["duplicates"] <= result["bound"]
    fields = " ".join(f"{name}={value}" for name, value in result.items())
    name = "cluster-failover" if args.command == "cluster-failover" else "sentinel-failover"
    if getattr(args, "crash", False):
        name = "cluster-crash"
    print(f"{'PASS' if passed else 'FAIL'} {name} seed={args.seed} {fields}")
    return 0 if passed else 1


def add_parser(commands: Any) -> None:
    """The ``failover`` and ``cluster-failover`` commands of ``python -m chaos``."""
    for command, what in (
        ("failover", "Redis Sentinel failovers mid-drain"),
        ("cluster-failover", "Redis Cluster failovers (CLUSTER FAILOVER) mid-drain"),
    ):
        parser = commands.add_parser(command, help=what)
        parser.add_argument("--jobs", type=int, default=5000)
        parser.add_argument("--failovers", type=int, default=3)
        parser.add_argument("--pools", type=int, default=3)
        parser.add_argument("--workers", type=int, default=8)
        parser.add_argument("--seed", type=int, default=random.randrange(2**31))
        if command == "cluster-failover":
            parser.add_argument(
                "--crash",
                action="store_true",
                help="SIGKILL the master instead (an automatic failover): "
                "measures what asynchronous replication loses",
            )
            parser.add_argument(
                "--slots",
                choices=["queue", "namespace"],
                default="queue",
                help="the namespace's layout: a slot per queue (the cluster default) or one",
            )
            parser.add_argument("--queues", type=int, default=3, help="queues the jobs spread over")
