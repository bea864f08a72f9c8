"""14. Worker kills under a queue limit (issue 20): SIGKILL busy workers of a limited
queue again and again; the limit is never exceeded and no job is lost.

Every job goes to the queue ``bulk`` (concurrency 3, all pools together) or to
``critical`` (concurrency 1 per limit key, four keys); three worker processes of 8
slots each serve them. The handlers' own log (``chaos.effects``) is the judge: at no
instant do more than 3 runs of ``bulk``, or two runs of one ``critical`` key, overlap. A
killed worker's run is taken to last until its kill (its job then comes back when the
lease runs out, and only then may another worker run it). The usual checker proves
nothing lost, nothing run twice unexplained, nothing stuck.

    .venv/bin/python -m chaos run --backend all --scenario 14-limit-kill --seed N

Left out of the default ``pytest`` run (``LARGE_ONLY``): about 10 s per backend.
"""

from __future__ import annotations

import time
from typing import Final

from chaos.checker import Verdict
from chaos.effects import Run
from chaos.harness import Harness
from chaos.profiles import Profile
from chaos.scenarios import GOOD, QUIET, _finish, _worker_args
from wg_core import JobSpec

__all__ = ["check_limit", "limit_kill", "peak"]

CONCURRENCY: Final = 3
KEYS: Final = 4
LEASE: Final = 3.0
"""Longer than the other scenarios' (1 s): a live worker's lease must not run out under
load, or its job would rightly run again beside the first run."""


def peak(runs: list[Run], killed_at: dict[int, float]) -> int:
    """The most runs of ``runs`` overlapping at one instant (a run that never returned
    ends when its worker was killed, or never)."""
    events: list[tuple[float, int]] = []
    for run in runs:
        end = run.end if run.end is not None else killed_at.get(run.pid, float("inf"))
        events += [(run.start, 1), (end, -1)]
    events.sort(key=lambda event: (event[0], event[1]))  # an end before a start at a tie
    running = highest = 0
    for _, step in events:
        running += step
        highest = max(highest, running)
    return highest


def check_limit(
    verdict: Verdict, what: str, runs: list[Run], killed_at: dict[int, float], most: int
) -> int:
    """Fail ``verdict`` if more than ``most`` of ``runs`` (the handlers' own log of
    ``what``) overlapped at one instant; the most that did."""
    highest = peak(runs, killed_at)
    if highest > most:
        verdict.fail(f"{highest} {what} ran at once (limit {most})")
    return highest


async def limit_kill(harness: Harness, profile: Profile) -> Verdict:
    """14. Kill busy workers of limited queues; the limits hold, nothing is lost."""
    verdict = Verdict("14-limit-kill", harness.backend_name, harness.seed)
    client = harness.client
    await client.set_limit("bulk", concurrency=CONCURRENCY)
    await client.set_limit("critical", concurrency=1, per_key=True)
    harness.worker_args = _worker_args(workers=8, lease=LEASE)
    rng = harness.rng
    count = max(60, profile.kill_jobs // 2)
    specs: list[JobSpec] = []
    places: list[tuple[str, int]] = []
    keys: list[str | None] = []
    for n in range(count):
        queue = "bulk" if n % 2 else "critical"
        key = f"k{n % KEYS}" if queue == "critical" else None
        specs.append(
            JobSpec(
                payload={"n": n, "ms": rng.randint(50, 200)},
                job_name="work",
                options=GOOD,
                queue=queue,
                limit_key=key,
            )
        )
        places.append((queue, 0))
        keys.append(key)
    ids = await client.enqueue_many(specs)
    harness.placement.update(zip(ids, places, strict=True))
    key_of = dict(zip(ids, keys, strict=True))
    for _ in range(profile.kill_processes + 1):
        harness.spawn()
    killed_at: dict[int, float] = {}
    step = max(1, count // (profile.kills + 1))
    in_flight = 0
    for kill in range(profile.kills):
        try:
            await harness.wait_for_starts((kill + 1) * step, timeout=QUIET * 4)
        except TimeoutError:
            break
        live = harness.live
        busy = [worker for worker in live if await harness.held_by(worker)]
        victim = rng.choice(busy or live)
        harness.kill(victim)
        killed_at[victim.pid] = time.time()
        verdict.faults += 1
        in_flight += await harness.held_by(victim)
        harness.spawn()
    await _finish(verdict, harness, ids, lease=LEASE)
    log = harness.effects()
    bulk = [run for job_id in ids if key_of[job_id] is None for run in log.runs.get(job_id, [])]
    verdict.details["bulk_peak"] = check_limit(verdict, "bulk jobs", bulk, killed_at, CONCURRENCY)
    for k in range(KEYS):
        runs = [
            run for job_id in ids if key_of[job_id] == f"k{k}" for run in log.runs.get(job_id, [])
        ]
        check_limit(verdict, f"jobs of key k{k}", runs, killed_at, 1)
    verdict.details["in_flight_at_kills"] = in_flight
    if verdict.duplicates > in_flight:
        verdict.fail(f"{verdict.duplicates} duplicates > {in_flight} jobs in flight at the kills")
    return verdict
