"""A worker process for fault injection: a real ``WorkerPool`` whose handlers log effects.

    python -m chaos.worker URL NAMESPACE LOG STATS_DIR [--workers N] [--lease S] ...

It serves every queue of ``chaos.placement.QUEUES``, in that order (``--queue Q``,
repeated, for others).

Job names it serves:

* ``work`` — payload ``{"n": int, "ms": int}``: log the start, sleep ``ms``
  milliseconds (asyncio), log the end. A payload of another shape is a decode error.
* ``sync_work`` — the same in a thread (a sync handler cannot be cancelled, so a
  stopped-then-resumed worker really tries to write its stale outcome).
* ``fail_once`` — raise on the first attempt (a retry, with its traceback stored),
  then behave like ``work`` (only the successful run is logged).
* ``crash`` — log the start, then ``os._exit(CRASH_EXIT_CODE)``: a handler that kills
  its worker on every attempt.
* ``fail`` — raise ``RuntimeError`` on every attempt (any payload).
* ``zoo`` / ``zoo_sync`` — payload ``{"raise": NAME}``: raise the ``BaseException``
  NAME names (``ZOO``: ``SystemExit(3)``, ``KeyboardInterrupt``, ``BaseException``,
  ``CancelledError``, ``GeneratorExit``), in the event loop or in a thread. The pool
  must record the failure like any other and keep running.

``--periodic-every S`` also runs the periodic entry ``chaos-tick``: a ``work`` job every
S seconds (scenario 13). Any other job name has no handler (dead at once). On a
graceful exit the pool's stats are written to ``STATS_DIR/<pid>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from chaos.effects import EffectsWriter
from chaos.placement import QUEUES
from wg_core import JobContext, JobOptions, Periodic, WorkerPool

__all__ = ["CRASH_EXIT_CODE", "PERIODIC_ENTRY", "ZOO", "ZOO_EXIT_CODE", "WorkJob", "main"]

CRASH_EXIT_CODE: Final = 17
PERIODIC_ENTRY: Final = "chaos-tick"
"""The periodic entry of ``--periodic-every`` (scenario 13)."""
ZOO_EXIT_CODE: Final = 3
"""What a pool that let a handler's ``SystemExit(3)`` through would exit with."""


def _zoo_exception(name: str) -> BaseException:
    factories: dict[str, Callable[[], BaseException]] = {
        "SystemExit": lambda: SystemExit(ZOO_EXIT_CODE),
        "KeyboardInterrupt": KeyboardInterrupt,
        "BaseException": lambda: BaseException("boom"),
        "CancelledError": asyncio.CancelledError,
        "GeneratorExit": GeneratorExit,
    }
    return factories[name]()


ZOO: Final = ("SystemExit", "KeyboardInterrupt", "BaseException", "CancelledError", "GeneratorExit")
"""The exceptions ``zoo`` handlers raise, by class name (which the failure must record)."""


@dataclass(frozen=True, slots=True)
class WorkJob:
    """The payload of ``work`` and ``sync_work`` jobs."""

    n: int
    ms: int = 0


def main(argv: list[str] | None = None) -> None:
    """Run one pool until SIGTERM/SIGINT, then write its stats."""
    parser = argparse.ArgumentParser(prog="python -m chaos.worker")
    parser.add_argument("url")
    parser.add_argument("namespace")
    parser.add_argument("log")
    parser.add_argument("stats_dir")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--lease", type=float, default=1.0)
    parser.add_argument("--shutdown-timeout", type=float, default=5.0)
    parser.add_argument("--reaper-interval", type=float, default=0.2)
    parser.add_argument("--promote-interval", type=float, default=0.05)
    parser.add_argument(
        "--queue", action="append", dest="queues", help=f"(repeatable) default: {QUEUES}"
    )
    parser.add_argument(
        "--periodic-every",
        type=float,
        default=None,
        help="also run the periodic entry 'chaos-tick': a 'work' job every S seconds",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(process)d %(name)s: %(message)s")
    effects = EffectsWriter(args.log)

    async def work(job: WorkJob, ctx: JobContext) -> None:
        start = effects.started(ctx.job_id, ctx.attempt)
        if job.ms:
            await asyncio.sleep(job.ms / 1000)
        effects.ended(ctx.job_id, ctx.attempt, start)

    def sync_work(job: WorkJob, ctx: JobContext) -> None:
        start = effects.started(ctx.job_id, ctx.attempt)
        if job.ms:
            time.sleep(job.ms / 1000)
        effects.ended(ctx.job_id, ctx.attempt, start)

    async def fail_once(job: WorkJob, ctx: JobContext) -> None:
        if ctx.attempt == 1:
            raise RuntimeError("chaos: fails on its first attempt")
        await work(job, ctx)

    def crash(job: object, ctx: JobContext) -> None:
        effects.started(ctx.job_id, ctx.attempt)
        os._exit(CRASH_EXIT_CODE)

    async def fail(job: Any, ctx: JobContext) -> None:
        raise RuntimeError("chaos: fails on every attempt")

    async def zoo(job: dict[str, Any], ctx: JobContext) -> None:
        effects.started(ctx.job_id, ctx.attempt)
        raise _zoo_exception(str(job.get("raise")))

    def zoo_sync(job: dict[str, Any], ctx: JobContext) -> None:
        effects.started(ctx.job_id, ctx.attempt)
        raise _zoo_exception(str(job.get("raise")))

    handlers: dict[str, Callable[..., Any]] = {
        "work": work, "sync_work": sync_work, "fail_once": fail_once, "crash": crash,
        "fail": fail, "zoo": zoo, "zoo_sync": zoo_sync,
    }  # fmt: skip
    pool = WorkerPool(
        handlers=handlers,
        url=args.url,
        namespace=args.namespace,
        queues=args.queues or QUEUES,
        workers=args.workers,
        lease=args.lease,
        heartbeat_interval=args.lease / 4,
        reaper_interval=args.reaper_interval,
        scheduler_interval=args.promote_interval,
        retrier_interval=args.promote_interval,
        fetch_timeout=0.5,
        shutdown_timeout=args.shutdown_timeout,
        max_retry_delay=0.5,
        retry_jitter=0.0,
        default_options=JobOptions(retry_delay=0.05),
        periodic=[]
        if args.periodic_every is None
        else [
            Periodic(
                {"n": -1, "ms": 0},
                every=args.periodic_every,
                name=PERIODIC_ENTRY,
                job_name="work",
                queue=(args.queues or QUEUES)[-1],
                options=JobOptions(max_retries=50, retry_delay=0.05, timeout=60),
            )
        ],
    )
    asyncio.run(pool.run())
    stats = json.dumps(dataclasses.asdict(pool.stats))
    (Path(args.stats_dir) / f"{os.getpid()}.json").write_text(stats)


if __name__ == "__main__":
    main()
