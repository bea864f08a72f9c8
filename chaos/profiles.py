"""Sizes of a run: ``ci`` (part of the default ``pytest`` run) and ``large`` (documented)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PROFILES", "Profile"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """How big each scenario is."""

    name: str
    kill_jobs: int
    kills: int
    kill_processes: int
    term_cycles: int
    poison_good: int
    poison_bad: int
    poison_crashers: int
    claim_jobs: int
    claim_processes: int
    claim_concurrency: int
    promote_jobs: int
    promote_processes: int
    stops: int
    outage_jobs: int
    outages: int
    soak_jobs: int
    server_crash_jobs: int
    server_crash_rounds: int
    """Each fault of the private server is injected this many times (issue 16: twice)."""


PROFILES = {
    "ci": Profile(
        name="ci",
        kill_jobs=240,
        kills=3,
        kill_processes=2,
        term_cycles=1,
        poison_good=40,
        poison_bad=40,
        poison_crashers=2,
        claim_jobs=300,
        claim_processes=3,
        claim_concurrency=16,
        promote_jobs=150,
        promote_processes=3,
        stops=1,
        outage_jobs=150,
        outages=2,
        soak_jobs=0,
        server_crash_jobs=300,
        server_crash_rounds=2,
    ),
    "large": Profile(
        name="large",
        kill_jobs=10_000,
        kills=100,
        kill_processes=4,
        term_cycles=10,
        poison_good=10_000,
        poison_bad=10_000,
        poison_crashers=10,
        claim_jobs=100_000,
        claim_processes=6,
        claim_concurrency=32,
        promote_jobs=20_000,
        promote_processes=4,
        stops=5,
        outage_jobs=5_000,
        outages=6,
        soak_jobs=200_000,
        server_crash_jobs=10_000,
        server_crash_rounds=5,
    ),
}
