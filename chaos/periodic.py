"""Scenario 13: periodic entries under SIGKILL, in real time (issue 19).

Three worker processes run the entry ``chaos-tick`` (``every=1s``). Every couple of
seconds one of them, chosen at random, is SIGKILLed mid-run and a fresh one started, so
at least two pools run the entry at any moment. At the end the registry's last tick
says how many ticks passed since the entry was first registered; every job the entry
stored completes once (its ``processed`` count), so:

* ``duplicates``: jobs stored beyond one per tick (a tick enqueued twice) — must be 0;
* ``lost``: ticks without a job. With pools always running, the policy (``catch_up``
  ``"one"``) allows none; a tick is only skipped if every pool's scheduler was late by
  more than the period, which a loaded machine can cause, so up to ``LOST_TOLERANCE``
  are reported but not failed.

    python -m chaos run --scenario 13-periodic --backend all
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Final

from chaos.checker import Verdict
from chaos.harness import Harness
from chaos.profiles import Profile
from chaos.worker import PERIODIC_ENTRY

__all__ = ["periodic_kills"]

EVERY: Final = 1.0
POOLS: Final = 3
LOST_TOLERANCE: Final = 1
"""Ticks a loaded machine may skip (every scheduler late past the period) unflagged."""


async def periodic_kills(harness: Harness, profile: Profile) -> Verdict:
    """13. SIGKILL pools running an ``every=1s`` entry; each tick is enqueued once."""
    verdict = Verdict("13-periodic", harness.backend_name, harness.seed)
    args = ("--workers", "2", "--lease", "1.0", "--periodic-every", str(EVERY))
    for _ in range(POOLS):
        harness.spawn(*args)
    first_registered = await _first_registration(harness)
    for _ in range(max(5, profile.kills)):
        await asyncio.sleep(harness.rng.uniform(1.5, 2.5))
        live = harness.live
        harness.kill(harness.rng.choice(live))
        verdict.faults += 1
        harness.spawn(*args)
    await asyncio.sleep(2.0)
    await harness.stop_all()
    settled = await harness.settle(quiet_for=8.0)
    [entry] = await harness.backend.periodic_entries()
    assert entry.last_tick is not None
    first_tick = (math.floor(first_registered / EVERY) + 1) * EVERY
    ticks = round((entry.last_tick - first_tick) / EVERY) + 1
    stored = (await harness.client.counters()).processed
    verdict.jobs = stored
    verdict.duplicates = max(0, stored - ticks)
    verdict.lost = max(0, ticks - stored)
    verdict.details.update(ticks=ticks, stored=stored)
    if not settled:
        verdict.stuck = (await harness.client.counts()).total
        verdict.fail(f"{verdict.stuck} periodic jobs never finished")
    if verdict.duplicates:
        verdict.fail(f"{verdict.duplicates} ticks enqueued twice")
    if verdict.lost > LOST_TOLERANCE:
        verdict.fail(f"{verdict.lost} ticks lost while pools were running")
    return verdict


async def _first_registration(harness: Harness, timeout: float = 60.0) -> float:
    """When the first pool registered the entry (its ``registered_at`` when first seen;
    later pools' registrations move it, so look early)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            entries = await harness.backend.periodic_entries()
        except Exception:  # the namespace may not exist yet on a fresh backend
            entries = []
        for entry in entries:
            if entry.name == PERIODIC_ENTRY and entry.registered_at is not None:
                return entry.registered_at
        await asyncio.sleep(0.02)
    raise TimeoutError(f"no pool registered {PERIODIC_ENTRY!r} within {timeout}s")
