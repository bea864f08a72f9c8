"""Child-process entry point: ``python -m benchmarks.child OP KEY [options]``.

The harness runs every system in child processes so that no two systems share an
interpreter, an event loop or imported modules:

- ``reset KEY``: wipe the system's private storage and create its schema.
- ``produce KEY --n N --mode one|bulk|latency``: enqueue N jobs, print the seconds taken
  as JSON on stdout (exit 3 if the system has no bulk API).
- ``work KEY --concurrency C``: run one worker until killed.

Server locations come in ``BENCH_SERVERS`` (JSON of ``Servers``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable

from benchmarks.adapters import load
from benchmarks.adapters.base import Adapter, Job, NotSupported, Servers

EXIT_NOT_SUPPORTED = 3


def servers_from_env() -> Servers:
    return Servers(**json.loads(os.environ["BENCH_SERVERS"]))


async def produce(adapter: Adapter, n: int, mode: str, interval: float) -> float:
    external = getattr(adapter, "produce_external", None)
    if external is not None:  # a Node peer: its own producer process times itself
        seconds: float = external(n, mode, interval)
        return seconds
    await adapter.open()
    try:
        if mode == "bulk":
            now = time.time()
            jobs: list[Job] = [{"i": i, "t": now} for i in range(n)]
            started = time.perf_counter()
            await adapter.enqueue_many(jobs)
            return time.perf_counter() - started
        started = time.perf_counter()
        for i in range(n):
            await adapter.enqueue({"i": i, "t": time.time()})
            if mode == "latency":
                await asyncio.sleep(interval)
        return time.perf_counter() - started
    finally:
        await adapter.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.child")
    parser.add_argument("op", choices=["reset", "produce", "work", "version"])
    parser.add_argument("key")
    parser.add_argument("--n", type=int, default=0)
    parser.add_argument("--mode", choices=["one", "bulk", "latency"], default="one")
    parser.add_argument("--interval", type=float, default=0.02)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args(argv)
    adapter = load(args.key, servers_from_env())
    if args.op == "reset":
        adapter.reset_storage()
        asyncio.run(adapter.setup())
    elif args.op == "version":
        print(
            json.dumps(
                {
                    "version": adapter.version(),
                    "label": adapter.label,
                    "worker_model": adapter.worker_model,
                }
            )
        )
    elif args.op == "produce":
        try:
            seconds = asyncio.run(produce(adapter, args.n, args.mode, args.interval))
        except NotSupported:
            return EXIT_NOT_SUPPORTED
        print(json.dumps({"seconds": seconds}))
    elif os.environ.get("BENCH_PROFILE"):
        _profiled(lambda: adapter.run_worker(args.concurrency), os.environ["BENCH_PROFILE"])
    else:
        adapter.run_worker(args.concurrency)
    return 0


def _profiled(work: Callable[[], None], path: str) -> None:
    """Run ``work`` under cProfile; SIGUSR1 writes the stats to ``path`` (the harness
    sends it once the last job is recorded, so start-up and idle time stay small)."""
    import cProfile

    profiler = cProfile.Profile()

    def dump(signum: int, frame: object) -> None:
        profiler.disable()
        profiler.dump_stats(path + ".part")
        os.replace(path + ".part", path)

    signal.signal(signal.SIGUSR1, dump)
    profiler.enable()
    work()


if __name__ == "__main__":
    sys.exit(main())
