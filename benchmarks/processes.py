"""``python -m benchmarks.processes URL``: drain throughput of ``wg worker --processes N``.

Enqueues ``--jobs`` no-op task jobs (``benchmarks.task_app``) in a fresh namespace, then
runs ``wg worker benchmarks.task_app:app --burst --processes N`` until it exits, for each
N of ``--processes`` (default ``1,2``), ``--runs`` times each, alternating. The drain
time is read from the jobs themselves: from the first job's start to the last one's
finish (the kept completed jobs' ``started_at`` and ``finished_at``), so the processes'
start-up and the burst run's final looks are not counted. Prints jobs/s per N (the
median run) and each N's ratio to the first, and the CPU the worker processes used per
job (all of ``wg worker``'s processes, start-up included: steadier than jobs/s).

    python -m benchmarks.processes postgresql://postgres@127.0.0.1:5432/test
    python -m benchmarks.processes redis://127.0.0.1:6379/0 --jobs 20000 --processes 1,2,4
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from wg_core import Client

ROOT = Path(__file__).resolve().parent.parent


def _wg() -> list[str]:
    script = Path(sys.executable).parent / "wg"
    return [str(script)] if script.exists() else [sys.executable, "-m", "wg_cli"]


async def _fill(url: str, namespace: str, jobs: int) -> None:
    client = await Client.connect(url, namespace)
    try:
        for start in range(0, jobs, 1000):
            batch = [{"i": i} for i in range(start, min(start + 1000, jobs))]
            await client.enqueue_many(batch, job_name="bench")
    finally:
        await client.close()


def _burst(url: str, namespace: str, processes: int, workers: int) -> float:
    """Run the burst worker; the CPU seconds it and its processes used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [*_wg(), "-u", url, "-n", namespace, "--log-level", "WARNING", "worker",
         "benchmarks.task_app:app", "--burst", "--processes", str(processes),
         "--workers", str(workers)],
        cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


async def _drain_seconds(url: str, namespace: str, jobs: int) -> float:
    """From the first job's start to the last job's finish."""
    client = await Client.connect(url, namespace)
    try:
        done = await client.list_jobs("completed", limit=jobs + 1)
    finally:
        await client.close()
    if len(done) != jobs:
        raise SystemExit(f"{len(done)} of {jobs} jobs completed")
    first = min(job.started_at or 0.0 for job in done)
    last = max(job.finished_at or 0.0 for job in done)
    return last - first


def _drop(url: str, namespace: str) -> None:
    subprocess.run(
        [*_wg(), "-u", url, "-n", namespace, "drop", "--yes"],
        cwd=ROOT, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--processes", default="1,2")
    parser.add_argument("--workers", type=int, default=10, help="slots per process")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    counts = [int(n) for n in args.processes.split(",")]
    rates: dict[int, list[float]] = {n: [] for n in counts}
    cpu: dict[int, list[float]] = {n: [] for n in counts}
    for _ in range(args.runs):
        for n in counts:
            namespace = f"bp{uuid.uuid4().hex[:10]}"
            try:
                asyncio.run(_fill(args.url, namespace, args.jobs))
                started = time.monotonic()
                used = _burst(args.url, namespace, n, args.workers)
                wall = time.monotonic() - started
                seconds = asyncio.run(_drain_seconds(args.url, namespace, args.jobs))
            finally:
                _drop(args.url, namespace)
            rates[n].append(args.jobs / max(seconds, 1e-3))
            cpu[n].append(used / args.jobs * 1e6)
            print(
                f"  {n} process(es): drained in {seconds:.2f}s ({wall:.2f}s in all)",
                file=sys.stderr,
            )
    first = statistics.median(rates[counts[0]])
    for n in counts:
        rate = statistics.median(rates[n])
        per_job = statistics.median(cpu[n])
        print(
            f"--processes {n}: {rate:8.0f} jobs/s  ({rate / first:.2f}x), "
            f"worker CPU {per_job:.0f} µs/job (start-up included)"
        )


if __name__ == "__main__":
    main()
