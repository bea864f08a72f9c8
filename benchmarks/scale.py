"""Scale figures: ``counts()`` at a million jobs, and the million-job drain profile.

``python -m benchmarks counts --backend postgres --n 1000000``
    Streams N no-op jobs in through ``Client.enqueue_stream`` (one call), then times
    ``Client.counts()`` (median of 5 calls, and the slowest) on that backend, and the
    enqueue rate and the producer's peak RSS.

``python -m benchmarks scale --backend postgres --n 1000000 --processes 2``
    The same fill, then ``--processes`` worker processes (``WorkerPool``, concurrency
    10 each) drain it; every second the jobs done (from ``counts()``), the throughput of
    that second and the workers' RSS are printed as a JSON line, and a summary at the end.

Both use the servers of ``benchmarks/`` (namespace ``bench_scale``, wiped first and
after). They take minutes at a million jobs: run them once, not in a loop.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "bench_scale"
URLS = {
    "redis": "redis://127.0.0.1:6379/15",
    "postgres": "postgresql://postgres@127.0.0.1:5432/test",
    "mysql": "mysql://root@127.0.0.1:3306/test",
    "sqlite": "sqlite:///tmp/wg-bench-scale.db",
}


def _jobs(n: int) -> Iterator[dict[str, Any]]:
    now = time.time()
    for i in range(n):
        yield {"i": i, "t": now}


async def _wipe(url: str) -> None:
    from wg_core import Client

    async with await Client.connect(url, NAMESPACE) as client:
        for state in ("queued", "dead", "scheduled", "retry"):
            await client.purge(state)


async def fill(url: str, n: int) -> dict[str, float]:
    """Wipe the namespace and stream ``n`` jobs in with one ``enqueue_stream`` call."""
    from wg_core import Client

    await _wipe(url)
    async with await Client.connect(url, NAMESPACE) as client:
        started = time.perf_counter()
        stored = await client.enqueue_stream(_jobs(n), job_name="bench")
        seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"enqueued": stored, "enqueue_per_s": stored / seconds, "producer_peak_mb": peak_mb}


async def time_counts(url: str, rounds: int = 5) -> dict[str, float]:
    from wg_core import Client

    async with await Client.connect(url, NAMESPACE) as client:
        await client.counts()  # warm: connection, prepared statements
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            counts = await client.counts()
            times.append((time.perf_counter() - started) * 1000)
    return {"queued": counts.queued, "counts_ms_median": statistics.median(times),
            "counts_ms_max": max(times)}  # fmt: skip


def _spawn(code: str) -> subprocess.Popen[bytes]:
    """A worker process (started from the event loop's thread before anything awaits)."""
    return subprocess.Popen([sys.executable, "-c", code])


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm", "rb") as fh:
                total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            pass
    return total / 2**20


async def drain(url: str, n: int, processes: int) -> dict[str, float]:
    """Start ``processes`` workers, sample once a second until the queue is empty."""
    from wg_core import Client

    code = (
        "import asyncio,sys\n"
        "from wg_core import WorkerPool\n"
        "async def handle(job): pass\n"
        f"asyncio.run(WorkerPool(handler=handle, url={url!r}, namespace={NAMESPACE!r},"
        " workers=10, keep_finished=0).run())\n"
    )
    procs = [_spawn(code) for _ in range(processes)]
    pids = [p.pid for p in procs]
    rates: list[float] = []
    rss: list[float] = []
    try:
        async with await Client.connect(url, NAMESPACE) as client:
            started = last_t = time.monotonic()
            last_left = n
            while True:
                await asyncio.sleep(1.0)
                counts = await client.counts()
                left = counts.queued + counts.running
                now = time.monotonic()
                rate = (last_left - left) / (now - last_t)
                sample_rss = _rss_mb(pids)
                if left < n:
                    rates.append(rate)
                    rss.append(sample_rss)
                print(json.dumps({"t": round(now - started, 1), "left": left,
                                  "jobs_per_s": round(rate), "rss_mb": round(sample_rss, 1)}),
                      flush=True)  # fmt: skip
                last_t, last_left = now, left
                if left == 0:
                    break
            seconds = time.monotonic() - started
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait()
    tenth = max(1, len(rss) // 10)
    return {
        "drain_s": seconds,
        "drain_per_s": n / seconds,
        "rate_median": statistics.median(rates) if rates else 0.0,
        "rss_mb_first_10pct": statistics.mean(rss[:tenth]) if rss else 0.0,
        "rss_mb_last_10pct": statistics.mean(rss[-tenth:]) if rss else 0.0,
        "rss_mb_peak": max(rss, default=0.0),
    }


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks counts|scale")
    parser.add_argument("command", choices=["counts", "scale"])
    parser.add_argument("--backend", default="postgres", help=", ".join(URLS))
    parser.add_argument("--url", help="instead of the backend's default URL")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args(argv)
    for backend in args.backend.split(","):
        url = args.url or URLS[backend]
        result: dict[str, Any] = {"backend": backend, "n": args.n}
        result |= asyncio.run(fill(url, args.n))
        result |= asyncio.run(time_counts(url))
        if args.command == "scale":
            result |= asyncio.run(drain(url, args.n, args.processes))
        asyncio.run(_wipe(url))
        print(json.dumps({k: round(v, 2) if isinstance(v, float) else v
                          for k, v in result.items()}), flush=True)  # fmt: skip
    return 0
