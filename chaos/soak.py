"""11. Soak: one worker processes many mixed jobs; memory must stay flat, no fd leaks.

The harness samples the worker's resident memory (``VmRSS``) and open descriptors
(sockets included, so a leaked connection shows) against the ``processed`` counter,
and fits a line through the second half of the run (after warm-up): the slope is
reported in KiB per 10 000 jobs. Large profile only.
"""

from __future__ import annotations

import asyncio
import os
from typing import Final

from chaos.checker import Verdict, check
from chaos.harness import Harness
from chaos.profiles import Profile
from chaos.scenarios import MAX_RETRIES, QUIET_LEASE, REAPER, enqueue_work

__all__ = ["soak"]

MAX_SLOPE_KIB: Final = 512.0
"""Per 10 000 jobs; a leak of 50 bytes per job would already show as 488."""
MAX_FD_GROWTH: Final = 4


def _sample(pid: int) -> tuple[int, int]:
    with open(f"/proc/{pid}/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def _slope(points: list[tuple[int, int]]) -> float:
    """Least-squares slope of y over x."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / var if var else 0.0


async def soak(harness: Harness, profile: Profile) -> Verdict:
    """Run the soak; ``profile.soak_jobs`` of 0 skips it."""
    verdict = Verdict("11-soak", harness.backend_name, harness.seed)
    if not profile.soak_jobs:
        verdict.details["skipped"] = "large profile only"
        return verdict
    # No fault is injected: the long lease makes any duplicate a bug, not a renewal
    # that waited past a 1 s lease on a loaded machine (as scenarios 7 and 8).
    harness.worker_args = ("--workers", "16", "--lease", str(QUIET_LEASE), "--reaper-interval",
                           str(REAPER))  # fmt: skip
    worker = harness.spawn()
    ids: list[str] = []
    samples: list[tuple[int, int, int]] = []
    # ``processed`` counts completions only; retries of fail_once jobs add ``failed``.
    chunk = 5_000
    while len(ids) < profile.soak_jobs:
        counts = await harness.client.counts()
        if counts.queued < chunk:
            size = min(chunk, profile.soak_jobs - len(ids))
            # Mixed: mostly async jobs, some in threads, some failing once (a retry
            # with a stored traceback), so every path of the pool runs many times.
            ids += await enqueue_work(harness, size - 2 * (size // 10), ms=(0, 2))
            ids += await enqueue_work(harness, size // 10, ms=(0, 2), job_name="sync_work")
            ids += await enqueue_work(harness, size // 10, ms=(0, 2), job_name="fail_once")
        processed = (await harness.client.counters()).processed
        samples.append((processed, *_sample(worker.pid)))
        await asyncio.sleep(0.5)
    while (await harness.client.counters()).processed < len(ids):
        processed = (await harness.client.counters()).processed
        samples.append((processed, *_sample(worker.pid)))
        await asyncio.sleep(0.5)
        if worker.process.poll() is not None:
            break
    settled = await harness.settle(quiet_for=QUIET_LEASE + REAPER + 5.0)
    await harness.stop_all()
    await check(verdict, harness, good=ids, max_runs=MAX_RETRIES + 1, settled=settled)
    tail = samples[len(samples) // 2 :]
    slope = _slope([(p, rss) for p, rss, _ in tail]) * 10_000
    fd_growth = max(fd for *_, fd in tail) - min(fd for *_, fd in tail)
    verdict.details["rss_kib_first"] = samples[0][1]
    verdict.details["rss_kib_last"] = samples[-1][1]
    verdict.details["rss_slope_kib_per_10k"] = round(slope, 1)
    verdict.details["fd_growth"] = fd_growth
    if slope > MAX_SLOPE_KIB:
        verdict.fail(f"memory grows {slope:.0f} KiB per 10 000 jobs")
    if fd_growth > MAX_FD_GROWTH:
        verdict.fail(f"open descriptors grew by {fd_growth} in the second half")
    return verdict
