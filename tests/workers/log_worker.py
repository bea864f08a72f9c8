"""A worker process for crash and signal tests.

    python -m tests.workers.log_worker URL NAMESPACE LOG [--job-seconds S] [--lease S]

Each attempt appends ``start <job id> <attempt> <pid>`` and, when the handler returns,
``end <job id> <attempt> <pid>`` to LOG (one ``write`` each, so lines never interleave).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random

from wg_core import JobContext, WorkerPool


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("namespace")
    parser.add_argument("log")
    parser.add_argument("--job-seconds", type=float, default=0.02)
    parser.add_argument("--lease", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--shutdown-timeout", type=float, default=10.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    fd = os.open(args.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    pid = os.getpid()

    def note(event: str, ctx: JobContext) -> None:
        os.write(fd, f"{event} {ctx.job_id} {ctx.attempt} {pid}\n".encode())

    async def handle(job: dict[str, int], ctx: JobContext) -> None:
        note("start", ctx)
        await asyncio.sleep(args.job_seconds * (0.5 + random.random()))
        note("end", ctx)

    pool = WorkerPool(
        handle,
        url=args.url,
        namespace=args.namespace,
        workers=args.workers,
        lease=args.lease,
        heartbeat_interval=args.lease / 4,
        reaper_interval=0.2,
        scheduler_interval=0.1,
        retrier_interval=0.1,
        fetch_timeout=1.0,
        shutdown_timeout=args.shutdown_timeout,
        retry_jitter=0.0,
    )
    asyncio.run(pool.run())


if __name__ == "__main__":
    main()
