"""``python -m benchmarks.queue_layout``: what the multi-queue drain costs SQLite (issue 17),
in-process.

Two measurements, each for one queue, for the benchmark's three queues × three
priorities (job ``i`` in queue ``i % 3`` at priority ``i // 3 % 3``, as the ``queues``
rows), and for the same jobs with each batch of 1 000 stably sorted by queue and
priority before ``enqueue_many`` ("grouped": every ordering guarantee holds):

* **WAL pages per job** written by the claim statement (batches of 150, one queue at a
  time) and the delete of each claimed batch, run directly on the database with
  checkpoints off: deterministic, and what the layout of the rows costs;
* **a drain** by a 10-slot ``WorkerPool``: the CPU per job of the asyncio thread and of
  the SQLite writer thread (``/proc/self/task``), and bytes and write calls per job
  (``/proc/self/io``). Median of ``ROUNDS`` rounds, the three layouts in turn.

docs/benchmarks.md ("Queues and retention") reports it. Linux only (``/proc``).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from wg_core import Client, JobSpec, WorkerPool

N = 10_000
ROUNDS = 3
QUEUES = ("critical", "default", "bulk")
PRIORITIES = (10, 0, -10)
LAYOUTS = ("one queue", "3 queues x 3 priorities", "grouped")

CLAIM = """UPDATE bench_jobs SET lease_token = :batch || '-' || id, lease_until = :now + 30000,
    worker_id = :worker, claimed_at = :now
WHERE id IN (SELECT id FROM bench_jobs WHERE lease_token IS NULL AND queue = :queue
             ORDER BY priority DESC, id LIMIT 150)
RETURNING id"""


async def fill(path: Path, layout: str) -> None:
    """``N`` jobs in the namespace ``bench`` of a new database at ``path``."""
    client = await Client.connect(f"sqlite://{path}", "bench")
    try:
        for start in range(0, N, 1000):
            if layout == "one queue":
                await client.enqueue_many(
                    [{"i": i} for i in range(start, start + 1000)], job_name="bench"
                )
                continue
            specs = [
                JobSpec(payload={"i": i}, queue=QUEUES[i % 3], priority=PRIORITIES[i // 3 % 3])
                for i in range(start, start + 1000)
            ]
            if layout == "grouped":
                specs.sort(key=lambda spec: (QUEUES.index(spec.queue or ""), -spec.priority))
            await client.enqueue_many(specs, job_name="bench")
    finally:
        await client.close()


def wal_pages(path: Path, queues: tuple[str, ...]) -> float:
    """WAL pages written per job by claiming and deleting every job of ``queues``."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        page = connection.execute("PRAGMA page_size").fetchone()[0]
        connection.execute("PRAGMA wal_autocheckpoint = 0")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        wal = Path(f"{path}-wal")
        before = wal.stat().st_size if wal.exists() else 0
        claimed = 0
        params = {"batch": "a" * 32, "now": int(time.time() * 1000), "worker": "host-1-abcdef12"}
        for queue in queues:
            while ids := [row[0] for row in connection.execute(CLAIM, {**params, "queue": queue})]:
                claimed += len(ids)
                connection.execute("BEGIN IMMEDIATE")
                connection.execute(
                    f"DELETE FROM bench_jobs WHERE id IN ({', '.join('?' * len(ids))})", ids
                )
                connection.execute("COMMIT")
        return (wal.stat().st_size - before) / (page + 24) / claimed
    finally:
        connection.close()


def _thread_cpu() -> dict[str, float]:
    """CPU seconds of each live thread, by name (user + system)."""
    tick = os.sysconf("SC_CLK_TCK")
    seconds: dict[str, float] = {}
    for thread in threading.enumerate():
        try:
            stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        name = "writer" if thread.name.startswith("wg-sqlite-write") else thread.name
        seconds[name] = seconds.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return seconds


def _io() -> dict[str, int]:
    lines = Path("/proc/self/io").read_text().splitlines()
    return {key: int(value) for key, value in (line.split(": ") for line in lines)}


async def drain(path: Path, layout: str) -> dict[str, float]:
    """Drain the database at ``path``: per job, µs of each thread, bytes, write calls."""
    done = asyncio.Event()
    count = 0

    async def handle(job: Any) -> None:
        nonlocal count
        count += 1
        if count == N:
            done.set()

    queues = ["default"] if layout == "one queue" else list(QUEUES)
    pool = WorkerPool(
        handler=handle, url=f"sqlite://{path}", namespace="bench", workers=10, queues=queues
    )
    await pool.start()
    cpu, io = _thread_cpu(), _io()
    await done.wait()
    cpu_after, io_after = _thread_cpu(), _io()
    pool.shutdown()
    await pool.wait_closed()
    return {
        "main µs": (cpu_after["MainThread"] - cpu["MainThread"]) / N * 1e6,
        "writer µs": (cpu_after.get("writer", 0.0) - cpu.get("writer", 0.0)) / N * 1e6,
        "bytes": (io_after["wchar"] - io["wchar"]) / N,
        "writes": (io_after["syscw"] - io["syscw"]) / N,
    }


async def main() -> None:
    for layout in LAYOUTS:
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "layout.db"
            await fill(path, layout)
            queues = ("default",) if layout == "one queue" else QUEUES
            print(f"{layout:<24} WAL pages per job (claim + delete): {wal_pages(path, queues):.2f}")
    samples: dict[str, list[dict[str, float]]] = {layout: [] for layout in LAYOUTS}
    for _ in range(ROUNDS):
        for layout in LAYOUTS:
            with tempfile.TemporaryDirectory() as directory:
                path = Path(directory) / "layout.db"
                await fill(path, layout)
                samples[layout].append(await drain(path, layout))
    for layout, runs in samples.items():
        figures = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        print(f"{layout:<24} drain, per job: " + ", ".join(
            f"{key} {value:.1f}" for key, value in figures.items()
        ))  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
