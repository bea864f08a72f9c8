"""``python -m benchmarks.cluster``: Redis Cluster against one Redis (issue 23).

Starts a private 6-node cluster (3 masters, 3 replicas: chaos/clusters.py) and a private
single ``redis-server`` with the same settings (no persistence), on this machine: the
figures show the cluster's overhead, not its scale (every node shares the same cores).

* **Drain**: N no-op jobs spread evenly over 3 queues, one pool serving all three
  (16 workers), first claim to last completion, on four systems: the single server and
  the cluster, each with the namespace in one slot (``?slots=namespace``, the single
  server's default) and with a slot per queue (``?slots=queue``, ``RedisQueueSlots``,
  the cluster's default). The systems rotate (each one first in turn),
  ``ROUNDS`` times each; medians of the rate, of this process's CPU per job and of the
  script calls per job the servers counted, and the ratios to the single server.
* **Keys per master**: after enqueueing 100 jobs in each of 10 queues of one namespace
  (one slot, then a slot per queue), and after enqueueing 100 jobs in each of 10
  namespaces (one queue each).

Run from the checkout: ``PYTHONPATH=. .venv/bin/python -m benchmarks.cluster [N] [ROUNDS]``.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from chaos.clusters import RedisClusterSet, cluster_set
from chaos.redis_nodes import DataServer, ask, free_ports
from wg_core import Client, WorkerPool
from wg_core.urls import backend_from_url

N = 3000
ROUNDS = 3
QUEUES = ("alpha", "beta", "gamma")


def script_calls(ports: list[int], *, reset: bool = False) -> int:
    """Script calls (``EVALSHA`` and ``EVAL``) the servers on ``ports`` ran since the last
    reset (and reset them)."""
    total = 0
    for port in ports:
        stats = ask(port, "INFO", "commandstats")
        total += sum(stats.get(f"cmdstat_{c}", {}).get("calls", 0) for c in ("evalsha", "eval"))
        if reset:
            ask(port, "CONFIG", "RESETSTAT")
    return total


async def drain(url: str, n: int, ports: list[int]) -> tuple[float, float, float]:
    """(jobs/s, this process's CPU µs per job, script calls per job) of one drain of
    ``n`` jobs over ``QUEUES`` (the servers on ``ports`` are asked for the calls)."""
    namespace = "b" + uuid.uuid4().hex[:12]
    backend = backend_from_url(url, namespace)
    client = Client(backend)
    await client.open()
    try:
        for queue in QUEUES:
            share = n // len(QUEUES)
            for start in range(0, share, 1000):
                batch = [{"n": i} for i in range(start, min(share, start + 1000))]
                await client.enqueue_many(batch, job_name="noop", queue=queue)
        total = n // len(QUEUES) * len(QUEUES)
        done = asyncio.Event()
        count = 0
        first: list[float] = []

        async def handle(job: dict[str, Any]) -> None:
            nonlocal count
            if not first:
                first.append(time.perf_counter())
            count += 1
            if count >= total:
                done.set()

        pool = WorkerPool(
            handle, backend=backend, workers=16, fetch_timeout=0.5, queues=list(QUEUES)
        )
        script_calls(ports, reset=True)
        cpu = time.process_time()
        await pool.start()
        await asyncio.wait_for(done.wait(), timeout=600)
        elapsed = time.perf_counter() - first[0]
        cpu = time.process_time() - cpu
        calls = script_calls(ports)
        pool.shutdown()
        await pool.wait_closed()
        return total / elapsed, cpu / total * 1e6, calls / total
    finally:
        await backend.destroy()
        await client.close()


async def keys_per_master(cluster: RedisClusterSet) -> None:
    """Print the keys each master holds after filling 10 queues, then 10 namespaces."""
    url = cluster.url()
    for layout, suffix in (("one slot", "?slots=namespace"), ("a slot per queue", "?slots=queue")):
        one = Client(backend_from_url(url + suffix, "kqueues"))
        await one.open()
        for q in range(10):
            await one.enqueue_many([{"n": i} for i in range(100)], job_name="x", queue=f"q{q}")
        print(f"10 queues of one namespace, {layout}, keys per master:", cluster.keys_per_master())
        await one.backend.destroy()
        await one.close()
    clients = [Client(backend_from_url(url + "?slots=namespace", f"kns{n}")) for n in range(10)]
    for client in clients:
        await client.open()
        await client.enqueue_many([{"n": i} for i in range(100)], job_name="x")
    print("10 namespaces, keys per master:           ", cluster.keys_per_master())
    for client in clients:
        await client.backend.destroy()
        await client.close()


async def main(n: int, rounds: int) -> None:
    executable = shutil.which("redis-server")
    if executable is None:
        raise SystemExit("redis-server is not installed")
    with tempfile.TemporaryDirectory(prefix="wg-bench-cluster-") as d:
        (Path(d) / "single").mkdir()
        (Path(d) / "cluster").mkdir()
        [port] = free_ports(1)
        single = DataServer(executable, Path(d) / "single", (), port)
        single.start()
        try:
            with cluster_set(Path(d) / "cluster") as cluster:
                single_url = f"redis://127.0.0.1:{port}/0"
                urls = {
                    "single": single_url,
                    "single, slot per queue": single_url + "?slots=queue",
                    "cluster": cluster.url() + "?slots=namespace",
                    "cluster, slot per queue": cluster.url() + "?slots=queue",
                }
                ports = {k: [port] if k.startswith("single") else cluster.ports for k in urls}
                samples: dict[str, list[tuple[float, float, float]]] = {k: [] for k in urls}
                names = list(urls)
                for round_ in range(rounds):
                    shift = round_ % len(names)
                    for name in names[shift:] + names[:shift]:  # each first in turn
                        samples[name].append(await drain(urls[name], n, ports[name]))
                rate = {k: statistics.median(r[0] for r in runs) for k, runs in samples.items()}
                cpu = {k: statistics.median(r[1] for r in runs) for k, runs in samples.items()}
                calls = {k: statistics.median(r[2] for r in runs) for k, runs in samples.items()}
                for name, runs in samples.items():
                    shown = ", ".join(f"{r[0]:,.0f}" for r in runs)
                    print(f"drain {n} jobs over 3 queues, {name:23}: median {rate[name]:,.0f}"
                          f" jobs/s, {cpu[name]:,.0f} CPU µs/job, {calls[name]:.2f} script"
                          f" calls/job (runs: {shown})")  # fmt: skip
                for name in names[1:]:
                    print(f"{name} / single: {rate[name] / rate['single']:.2f} jobs/s, "
                          f"{cpu[name] / cpu['single']:.2f} CPU per job")  # fmt: skip
                await keys_per_master(cluster)
        finally:
            single.stop()


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:]]
    asyncio.run(main(*(arguments + [N, ROUNDS][len(arguments) :])))
