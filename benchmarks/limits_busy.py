"""``python -m benchmarks.limits busy [--rounds R] [BACKEND...]``: do limited queues keep
their slots busy when the pools are separate processes (issue 20, item 4)?

Two figures per backend, each the median of ``--rounds`` runs on a fresh namespace:

- **concurrency**: ``set_limit("api", concurrency=3)``, 60 jobs of 0.1 s, three worker
  processes of 4 workers each (the pool's defaults otherwise: a 5 s claim wait, so a
  freed slot that wakes nobody in the other processes shows). The ideal is 2.0 s, from
  the first job's start to the last one's end; the peak is the most jobs running at
  once by the handlers' own log (never above 3).
- **rate**: ``set_limit("api", rate=20, per=1)``, 60 jobs of 10 ms, three processes
  with ``prefetch=0``: the starts spread over about 2 s (20 at once, then a window
  later 20 more, then 20 more), and no window of one second holds more than 20 claims
  (read back from the backend: each completed job's ``started_at``, its claim on the
  backend's clock, which is what a rate counts). The handlers' start times are counted
  too, in windows of ``WINDOW`` s and of 1 s: a start reaches its handler some
  milliseconds after its claim, a delay that varies from job to job, so a second at
  the handlers may hold a few more.
- **held**: ``concurrency=1``, 4 jobs of 1 s, three processes: 4 s, and the worker CPU
  shows what claimers held back by a limit cost while they wait (start-up included:
  compare the backends, or with a queue without a limit).

Each worker process writes its handlers' start and end times (``time.time()``, one
clock on one machine) to stdout; this process enqueues the jobs once every worker is
ready and reads them back. Memory cannot be shared by processes: its three pools share
one backend in this process instead. Backends: the servers of tests/backends and a
SQLite file in /dev/shm.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

from wg_core import Client, WorkerPool
from wg_core.urls import backend_from_url

__all__ = ["main"]

URLS: Final = {
    "memory": "memory:",
    "redis": "redis://127.0.0.1:6379/0",
    "postgres": "postgresql://postgres@127.0.0.1:5432/test",
    "mysql": "mysql://root@127.0.0.1:3306/test",
}
PROCESSES: Final = 3
WORKERS: Final = 4
JOBS: Final = 60
WINDOW: Final = 0.9
SCENARIOS: Final[dict[str, tuple[dict[str, Any], int, float, dict[str, Any]]]] = {
    # name: (set_limit keywords, jobs, seconds each job sleeps, pool keywords)
    "concurrency": ({"concurrency": 3}, JOBS, 0.1, {}),
    "rate": ({"rate": 20, "per": 1.0}, JOBS, 0.01, {"prefetch": 0, "keep_finished": 600}),
    "held": ({"concurrency": 1}, 4, 1.0, {}),
}


class Log:
    """The handlers' log as it comes in: ``S time`` and ``E time`` lines; ``done`` is
    set once ``jobs`` runs ended."""

    def __init__(self, jobs: int) -> None:
        self.lines: list[str] = []
        self.done = asyncio.Event()
        self._left = jobs

    def add(self, line: str) -> None:
        self.lines.append(line)
        if line.startswith("E"):
            self._left -= 1
            if self._left <= 0:
                self.done.set()


def _handler(scenario: str, log: Callable[[str], None]) -> Callable[[Any], Awaitable[None]]:
    sleep = SCENARIOS[scenario][2]

    async def handle(job: dict[str, Any]) -> None:
        log(f"S {time.time()!r}")
        try:
            await asyncio.sleep(sleep)
        finally:
            log(f"E {time.time()!r}")

    return handle


async def _child(url: str, namespace: str, scenario: str) -> None:
    """A worker process: serve ``api`` until SIGTERM, logging each run to stdout."""

    def log(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    options = SCENARIOS[scenario][3]
    pool = WorkerPool(
        _handler(scenario, log), url=url, namespace=namespace, workers=WORKERS,
        queues=["api"], **options,
    )  # fmt: skip
    await pool.start()
    log("ready")
    await pool.wait_closed()


def figures(lines: list[str]) -> tuple[float, int, float, int, int]:
    """(first start to last end, most running at once, first start to last start, most
    starts in any window of ``WINDOW`` seconds, and of one second) of the handlers' log
    ``lines``."""
    events = sorted(
        (float(line[2:]), 1 if line[0] == "S" else -1) for line in lines if line[0] in "SE"
    )
    starts = [t for t, step in events if step == 1]
    running = peak = 0
    for _, step in events:  # at a tie, an end (-1) sorts before a start
        running += step
        peak = max(peak, running)
    window = max(sum(1 for s in starts if t <= s < t + WINDOW) for t in starts)
    second = max(sum(1 for s in starts if t <= s < t + 1.0) for t in starts)
    return events[-1][0] - starts[0], peak, starts[-1] - starts[0], window, second


async def _enqueue(client: Client, scenario: str) -> None:
    jobs = SCENARIOS[scenario][1]
    await client.enqueue_many([{"n": n} for n in range(jobs)], job_name="call", queue="api")


async def claims_in_a_second(client: Client, jobs: int) -> int:
    """The most claims in any one-second window, by the backend's own record of each
    completed job's claim (``started_at``, the backend's clock): what a rate limits."""
    done = await client.list_jobs("completed", queue="api", limit=jobs + 1)
    claims = sorted(job.started_at or 0.0 for job in done)
    return max(sum(1 for c in claims if t <= c < t + 1.0) for t in claims)


async def run_once(url: str, scenario: str) -> tuple[float, int, float, int, int, float, int]:
    """One run of ``scenario`` on a fresh namespace of ``url``: its ``figures``, the
    CPU seconds its worker processes used (start-up included; 0 for memory) and, for
    the rate, ``claims_in_a_second`` (else 0)."""
    namespace = "b" + uuid.uuid4().hex[:12]
    backend = backend_from_url(url, namespace)
    client = Client(backend)
    await client.open()
    log = Log(SCENARIOS[scenario][1])
    try:
        await client.set_limit("api", **SCENARIOS[scenario][0])
        cpu = 0.0
        if url == "memory:":
            await _in_process(client, scenario, log)
        else:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            await _in_children(url, namespace, client, scenario, log)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        claims = await claims_in_a_second(client, JOBS) if scenario == "rate" else 0
        return (*figures(log.lines), cpu, claims)
    finally:
        await backend.destroy()
        await client.close()


async def _in_children(url: str, namespace: str, client: Client, scenario: str, log: Log) -> None:
    command = [sys.executable, "-m", "benchmarks.limits_busy", url, namespace, scenario]
    children = [
        await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
        for _ in range(PROCESSES)
    ]

    async def read(child: asyncio.subprocess.Process) -> None:
        assert child.stdout is not None
        async for raw in child.stdout:
            log.add(raw.decode().strip())

    try:
        for child in children:
            assert child.stdout is not None
            assert (await asyncio.wait_for(child.stdout.readline(), 60)).strip() == b"ready"
        readers = [asyncio.create_task(read(child)) for child in children]
        await _enqueue(client, scenario)
        await asyncio.wait_for(log.done.wait(), 120)
    finally:
        for child in children:
            child.terminate()
        for child in children:
            await child.wait()
    for reader in readers:
        reader.cancel()


async def _in_process(client: Client, scenario: str, log: Log) -> None:
    options = SCENARIOS[scenario][3]
    handle = _handler(scenario, log.add)
    pools = [
        WorkerPool(handle, backend=client.backend, workers=WORKERS, queues=["api"], **options)
        for _ in range(PROCESSES)
    ]
    for pool in pools:
        await pool.start()
    await _enqueue(client, scenario)
    await asyncio.wait_for(log.done.wait(), 120)
    for pool in pools:
        pool.shutdown()
    for pool in pools:
        await pool.wait_closed()


async def _main(names: list[str], rounds: int, scratch: str | None) -> None:
    with tempfile.TemporaryDirectory(dir=scratch) as d:
        urls = {**URLS, "sqlite": f"sqlite:{d}/bench.db"}
        for name in names or ["memory", "sqlite", "redis", "postgres", "mysql"]:
            for scenario in SCENARIOS:
                runs = [await run_once(urls[name], scenario) for _ in range(rounds)]
                took, spread, cpu = (statistics.median(run[i] for run in runs) for i in (0, 2, 5))
                peak, window = max(run[1] for run in runs), max(run[3] for run in runs)
                listed = ", ".join(f"{r[2 if scenario == 'rate' else 0]:.2f}" for r in runs)
                if scenario == "concurrency":
                    figure = f"concurrency 3: 60 x 0.1 s in {took:5.2f} s"
                elif scenario == "rate":
                    figure = f"rate 20/1s: 60 starts over {spread:5.2f} s"
                else:
                    figure = f"concurrency 1: 4 x 1 s in {took:5.2f} s"
                second, claims = max(run[4] for run in runs), max(run[6] for run in runs)
                most = (
                    f"claims in any 1 s {claims}; starts at the handlers in {WINDOW} s "
                    f"{window}, in 1 s {second}"
                    if scenario == "rate"
                    else f"peak {peak}"
                )
                print(
                    f"{name:9} {figure} (median of {rounds}: {listed}), {most}, "
                    f"worker CPU {cpu:.2f} s",
                    flush=True,
                )


def main(argv: list[str]) -> None:
    """``busy [--rounds R] [BACKEND...]`` (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.limits busy")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("backends", nargs="*")
    args = parser.parse_args(argv)
    scratch = "/dev/shm" if Path("/dev/shm").exists() else None
    asyncio.run(_main(args.backends, args.rounds, scratch))


if __name__ == "__main__":
    asyncio.run(_child(*sys.argv[1:4]))
