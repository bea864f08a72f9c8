"""The memory backend's registry of periodic entries (layout 4): a dictionary by name,
read and written under the backend's lock, so that a fire's compare-and-set on the
entry's last tick and the store of its job are one step (the reference model of
``Backend.fire_periodic``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from wg_core.backend import NewJob, PeriodicEntry, PeriodicInfo
from wg_core.backends.memory_admin import MemoryAdmin

__all__ = ["MemoryPeriodic"]


def _info(entry: PeriodicEntry, *, registered_at: float) -> PeriodicInfo:
    """``entry`` as newly registered: its definition, ``last_tick`` its baseline."""
    return PeriodicInfo(
        name=entry.name,
        schedule=entry.schedule,
        job_name=entry.job_name,
        queue=entry.queue,
        priority=entry.priority,
        template=entry.template,
        next_run=entry.next_run,
        last_tick=entry.baseline,
        registered_at=registered_at,
    )


class MemoryPeriodic(MemoryAdmin):
    """``MemoryAdmin`` with the periodic verbs; ``MemoryBackend`` adds producing and
    working."""

    def __init__(self, namespace: str = "wg", *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(namespace, clock=clock)
        self._periodic: dict[str, PeriodicInfo] = {}

    async def register_periodic(self, entries: Sequence[PeriodicEntry], *, now: float) -> None:
        with self._lock:
            registry: dict[str, PeriodicInfo] = {}
            for entry in entries:
                known = self._periodic.get(entry.name)
                fresh = known is None or known.schedule != entry.schedule
                registry[entry.name] = replace(
                    _info(entry, registered_at=now),
                    last_tick=entry.baseline if fresh or known is None else known.last_tick,
                    last_run_at=None if known is None else known.last_run_at,
                    last_job_id=None if known is None else known.last_job_id,
                )
            self._periodic = registry

    async def fire_periodic(
        self,
        name: str,
        *,
        tick: float | None,
        job: NewJob,
        now: float,
        next_run: float | None,
        entry: PeriodicEntry | None = None,
    ) -> bool:
        with self._lock:
            known = self._periodic.get(name)
            if known is None:
                if entry is None or tick is None:
                    return False
                # Deleted by another pool's registration: re-created from this pool's
                # definition, from this tick (its baseline does not apply).
                known = replace(_info(entry, registered_at=now), last_tick=None)
            if tick is not None and known.last_tick is not None and known.last_tick >= tick:
                return False
            self._store_new([job])
            self._periodic[name] = replace(
                known,
                last_tick=known.last_tick if tick is None else tick,
                last_run_at=now,
                last_job_id=job.job_id,
                next_run=known.next_run if next_run is None else next_run,
            )
        self._waiters.wake_all()
        return True

    async def periodic_entries(self) -> list[PeriodicInfo]:
        with self._lock:
            return [self._periodic[name] for name in sorted(self._periodic)]
