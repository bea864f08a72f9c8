"""``python -m benchmarks.migrate``: ``wg migrate`` throughput, SQLite → PostgreSQL.

Fills a fresh SQLite file with ``--jobs`` jobs (90 % queued, 5 % scheduled, 5 % dead,
in three queues), copies them to a fresh namespace on the PostgreSQL server with
``wg_core.migrate_urls`` (what ``wg migrate`` runs), and prints jobs per second; then
runs it again to time the resumed run that finds every id there, and drops the
namespace. Runs in the project's own venv (no peer queues needed)::

    .venv/bin/python -m benchmarks.migrate --jobs 100000 \\
        --to postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from wg_core import JobState, backend_from_url, migrate_urls
from wg_core.backend import Backend, NewJob
from wg_core.envelope import Envelope
from wg_core.migrating import DEFAULT_BATCH

_QUEUES = ("default", "mail", "reports")


def _job(n: int) -> NewJob:
    envelope = Envelope(
        id=str(uuid.uuid4()),
        job_name="bench",
        payload={"n": n, "to": f"user{n}@example.com"},
        max_retries=3,
        retry_count=0,
        timeout=300.0,
        retry_delay=10.0,
        status="Pending",
        created_at=int(time.time()),
    )
    return NewJob(
        job_id=envelope.id,
        job_name="bench",
        raw=envelope.encode(),
        delay=3600.0 if n % 20 == 1 else 0.0,
        queue=_QUEUES[n % len(_QUEUES)],
    )


async def _fill(source: Backend, jobs: int) -> None:
    for first in range(0, jobs, 1000):
        await source.enqueue([_job(n) for n in range(first, min(jobs, first + 1000))])
    # One job in twenty dies (a worker's bury), so dead jobs with errors are copied too.
    dead, wanted = 0, jobs // 20
    while dead < wanted:
        attempts = await source.claim(
            limit=min(100, wanted - dead), lease=60, worker_id="bench", queues=_QUEUES
        )
        if not attempts:
            break
        for attempt in attempts:
            buried = Envelope.decode(attempt.raw).evolve(status="Dead", last_error="boom")
            await source.bury(attempt, raw=buried.encode(), error="boom")
            dead += 1


async def main(jobs: int, target_url: str, batch_size: int) -> None:
    """Fill, migrate twice, print the figures."""
    namespace = "bench_" + uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as directory:
        source_url = f"sqlite:{Path(directory) / 'source.db'}"
        source = backend_from_url(source_url, namespace)
        await source.open()
        started = time.perf_counter()
        await _fill(source, jobs)
        counts = await source.counts()
        await source.close()
        print(
            f"filled {source_url} in {time.perf_counter() - started:.1f} s: "
            f"{counts.queued} queued, {counts.scheduled} scheduled, {counts.dead} dead"
        )
        try:
            started = time.perf_counter()
            report = await migrate_urls(
                source_url, target_url, namespace=namespace, batch_size=batch_size
            )
            first = time.perf_counter() - started
            started = time.perf_counter()
            again = await migrate_urls(
                source_url, target_url, namespace=namespace, batch_size=batch_size
            )
            second = time.perf_counter() - started
        finally:
            target = backend_from_url(target_url, namespace)
            await target.open()
            await target.destroy()
            await target.close()
    copied = report.total_copied
    print(f"migrate SQLite → {report.target}: {copied} jobs in {first:.1f} s")
    print(f"  pages of {batch_size}")
    print(f"  {copied / first:,.0f} jobs/s  (by state: {_states(report.copied)})")
    print(f"second run: {again.total_copied} copied, {again.total_found} skipped in {second:.1f} s")


def _states(counts: dict[JobState, int]) -> str:
    return ", ".join(f"{state} {count}" for state, count in counts.items() if count)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.migrate")
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--to", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH)
    args = parser.parse_args()
    asyncio.run(main(args.jobs, args.to, args.batch_size))
