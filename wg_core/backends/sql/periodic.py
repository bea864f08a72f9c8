"""The registry of periodic entries in the SQL engine (layout 4, mixed into
``SqlBackend``): ``{ns}_periodic``, one row per entry (schema.py).

A registration is one transaction: each declared entry upserted under a fresh
registration id (``periodic_register``), then every row of another id deleted
(``periodic_forget``). A fire is one transaction too: the compare-and-set on the
entry's ``last_tick`` (``periodic_fire``, an UPDATE whose row lock makes concurrent
fires of one tick wait, then match nothing) and, when it matched, the job's INSERT
through the dialect's ``_insert``, exactly as ``enqueue`` stores it. Commit or roll
back together: a tick is never claimed without its job, nor its job stored twice.
When the UPDATE matched nothing and the fire carries the pool's definition, the row
is re-created if it is missing (``periodic_revive``, an insert that does nothing on
an existing name; of concurrent re-creations the unique key admits one, the others
wait for it and insert nothing), its tick claimed, and the job stored the same way.
"""

from __future__ import annotations

import abc
import uuid
from collections.abc import Sequence
from typing import Any

from wg_core.backend import NewJob, PeriodicEntry, PeriodicInfo
from wg_core.backends.sql.session import Row, SqlSession, UnitRunner

__all__ = ["PeriodicVerbs"]


def _time(value: Any) -> float | None:
    return None if value is None else float(value)


class PeriodicVerbs(UnitRunner):
    """The periodic verbs, written over ``_run``; ``SqlBackend`` provides it."""

    @abc.abstractmethod
    async def _insert(self, session: SqlSession, block: str, jobs: Sequence[NewJob]) -> None:
        """Insert jobs (see ``SqlBackend``)."""

    async def register_periodic(self, entries: Sequence[PeriodicEntry], *, now: float) -> None:
        """Make ``{ns}_periodic`` hold exactly ``entries``, in one transaction."""
        registration = uuid.uuid4().hex

        async def body(session: SqlSession) -> None:
            # By name: concurrent registrations lock rows in one order.
            for entry in sorted(entries, key=lambda entry: entry.name):
                await session.execute(
                    "periodic_register",
                    {
                        "name": entry.name,
                        "schedule": entry.schedule,
                        "job_name": entry.job_name,
                        "queue": entry.queue,
                        "priority": entry.priority,
                        "job": entry.template,
                        "next_run": entry.next_run,
                        "baseline": entry.baseline,
                        "registration": registration,
                        "now": now,
                    },
                )
            await session.execute("periodic_forget", {"registration": registration})

        await self._run(body)

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
        """Claim ``tick`` of ``name`` and store ``job`` in one transaction (re-creating
        the entry from ``entry`` when it is missing)."""
        claim = {"name": name, "tick": tick, "now": now, "job_id": job.job_id}

        async def body(session: SqlSession) -> bool:
            claimed = await session.execute("periodic_fire", {**claim, "next_run": next_run})
            if claimed != 1 and entry is not None and tick is not None:
                # Matched nothing: the tick is taken, or the entry is missing. Only the
                # latter inserts a row (one extra statement for a pool that lost a tick).
                claimed = await session.execute(
                    "periodic_revive",
                    {
                        **claim,
                        "schedule": entry.schedule,
                        "job_name": entry.job_name,
                        "queue": entry.queue,
                        "priority": entry.priority,
                        "job": entry.template,
                        "next_run": entry.next_run if next_run is None else next_run,
                    },
                )
            if claimed != 1:
                return False
            await self._insert(
                session, "enqueue_scheduled" if job.delay > 0 else "enqueue_jobs", [job]
            )
            return True

        fired = await self._run(body)
        if fired and job.delay <= 0:
            self._signal()
        return fired

    async def periodic_entries(self) -> list[PeriodicInfo]:
        """The rows of ``{ns}_periodic``, by name."""

        async def body(session: SqlSession) -> list[Row]:
            return await session.fetch("periodic_list")

        return [
            PeriodicInfo(
                name=str(name),
                schedule=str(schedule),
                job_name=str(job_name),
                queue=str(queue),
                priority=int(priority),
                template=str(template),
                next_run=_time(next_run),
                last_tick=_time(last_tick),
                last_run_at=_time(last_run_at),
                last_job_id=None if last_job_id is None else str(last_job_id),
                registered_at=_time(registered_at),
            )
            for (
                name,
                schedule,
                job_name,
                queue,
                priority,
                template,
                next_run,
                last_tick,
                last_run_at,
                last_job_id,
                registered_at,
            ) in await self._run(body, read=True)
        ]
