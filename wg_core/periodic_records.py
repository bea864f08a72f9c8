"""The periodic entries' value types of the backend contract (``wg_core.backend``):
what ``register_periodic`` stores and ``periodic_entries`` returns. Plain frozen
dataclasses, no behaviour; ``wg_core.periodic`` builds them from ``Periodic``."""

from __future__ import annotations

from dataclasses import dataclass

from wg_core.queues import DEFAULT_QUEUE

__all__ = ["PeriodicEntry", "PeriodicInfo"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PeriodicEntry:
    """One periodic entry as a pool registers it.

    ``schedule`` is its schedule as text (``*/5 * * * * UTC``, ``every 30s``): the
    registry compares it to tell a changed schedule. ``template`` is the JSON text
    ``wg_core.periodic`` writes (payload and job options) from which each run's job is
    built, so that ``wg periodic run`` can enqueue one with no code at hand.
    ``baseline``: the tick the entry counts as its last one when it is new or its
    schedule changed (its latest tick at registration: the first run is the next
    tick, not one from before it existed). ``next_run``: its next tick then. Times
    are Unix seconds."""

    name: str
    schedule: str
    job_name: str
    queue: str = DEFAULT_QUEUE
    priority: int = 0
    template: str = "{}"
    baseline: float | None = None
    next_run: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PeriodicInfo:
    """One registered periodic entry as operators see it (``wg periodic ls``).

    ``last_tick``: the latest tick claimed (its scheduled time; a new entry's baseline
    until it first runs); ``last_run_at`` and ``last_job_id``: when the last run was
    enqueued and its job (``None`` until it first runs; a run by hand counts);
    ``next_run``: its next tick as the last pool to look computed it;
    ``registered_at``: when a pool last registered it. Unix seconds."""

    name: str
    schedule: str
    job_name: str
    queue: str = DEFAULT_QUEUE
    priority: int = 0
    template: str = "{}"
    next_run: float | None = None
    last_tick: float | None = None
    last_run_at: float | None = None
    last_job_id: str | None = None
    registered_at: float | None = None
