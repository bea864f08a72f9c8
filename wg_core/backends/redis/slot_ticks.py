"""The periodic entries of ``RedisQueueSlots`` (slots.py): their registry and the
claim of each tick live in the namespace slot (exactly once across pools, as with one
slot); the job of a tick whose entry's queue has a slot of its own is stored in that
slot, which no script of the namespace slot can write. So a fire of such an entry is
three steps, none of which loses the tick's job:

1. ``periodic_fire`` claims the tick and, in the same script, records it pending in
   ``{ns}:periodic_pending`` (the job's id -> the entry's name, the claim time and the
   whole job, JSON);
2. the job is stored in its queue's slot, under the id the tick recorded (tried again
   while the slot is unreachable, ``STORE_TICK_RETRIES``); storing it again is refused
   as a duplicate of itself while its queue still knows the id (queued, scheduled,
   running, retrying, dead, or finished and kept);
3. the pending record is deleted.

A pool that dies (or gives up) between 1 and 3 leaves the record: any later fire, by
any pool, of any entry first finishes each pending tick claimed more than
``tick_grace`` seconds earlier (on the firing pools' clocks, the ``now`` they pass)
by storing its job again under the same id, then deletes the record. The tick's job is
never lost; it runs twice only when a pool died after step 2 and the job had already
finished and been forgotten (``keep`` 0, or pruned) by the time another pool finishes
the record. The grace is longer than step 2's tries, so a pool still storing is not
overtaken.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import Sequence
from typing import Any, Final

from wg_core.backend import NewJob, PeriodicEntry, PeriodicInfo
from wg_core.backends.redis.backend import RedisBackend
from wg_core.errors import BackendError, BackendUnavailableError, DuplicateJobError

__all__ = ["STORE_TICK_RETRIES", "TICK_GRACE", "SlotTicks"]

STORE_TICK_RETRIES: Final = (0.1, 0.2, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0)
"""Pauses (seconds) between the tries to store a claimed tick's job in its queue's
slot while that slot cannot be reached (a failover of its master)."""

TICK_GRACE: Final = 120.0
"""Seconds after its claim a pending tick is finished by another pool's fire: longer
than ``STORE_TICK_RETRIES`` add up to (about 31 s), plus clock skew between pools."""


def _pending_record(name: str, job: NewJob, *, now: float) -> str:
    """What ``{ns}:periodic_pending`` keeps of a tick claimed for ``job``."""
    doc = {"entry": name, "claimed_at": now, "job": dataclasses.asdict(job)}
    return json.dumps(doc, separators=(",", ":"))


class SlotTicks:
    """The periodic verbs of ``RedisQueueSlots`` (a mixin: it needs the slots)."""

    _home: RedisBackend
    _per_queue: bool
    _tick_grace: float

    async def _writer(self, queue: str) -> RedisBackend:
        raise NotImplementedError  # RedisQueueSlots'

    async def register_periodic(self, entries: Sequence[PeriodicEntry], *, now: float) -> None:
        await self._home.register_periodic(entries, now=now)

    async def periodic_entries(self) -> list[PeriodicInfo]:
        return await self._home.periodic_entries()

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
        if self._per_queue:
            await self._finish_pending(now=now)
        backend = await self._writer(job.queue)
        if backend is self._home:
            return await self._home.fire_periodic(
                name, tick=tick, job=job, now=now, next_run=next_run, entry=entry
            )
        if await backend.get_job(job.job_id) is not None:
            runs = self._home._keys.periodic_runs
            record = await self._home._transport.command("HGET", runs, name) or ""
            if tick is not None and record.split(" ")[::3] == [repr(float(tick)), job.job_id]:
                return True  # a repeated call: this tick stored this job already
            raise DuplicateJobError(f"job id already stored: {job.job_id}")
        fired = await self._home._fire(
            name,
            tick=tick,
            job=job,
            now=now,
            next_run=next_run,
            entry=entry,
            pending=_pending_record(name, job, now=now),
        )
        if fired:
            await self._store_pending(backend, job)
        return fired

    async def _store_pending(
        self, backend: RedisBackend, job: NewJob, *, pauses: Sequence[float] | None = None
    ) -> None:
        """Store a pending tick's job in its queue's slot (``pauses``: between the tries,
        ``STORE_TICK_RETRIES`` by default), then delete its record."""
        await _store_tick_job(backend, job, STORE_TICK_RETRIES if pauses is None else pauses)
        await self._home._transport.command("HDEL", self._home._keys.periodic_pending, job.job_id)

    async def _finish_pending(self, *, now: float) -> None:
        """Store the job of each tick pending for longer than the grace (its pool died
        or gave up between claiming it and storing its job). A slot that cannot be
        reached keeps its pending ticks for a later fire."""
        pending = self._home._keys.periodic_pending
        records: dict[str, str] = await self._home._transport.command("HGETALL", pending)
        for job_id, text in records.items():
            try:
                doc: dict[str, Any] = json.loads(text)
                claimed_at = float(doc["claimed_at"])
                job = NewJob(**doc["job"])
            except (ValueError, KeyError, TypeError) as exc:
                raise BackendError(
                    f"pending tick {job_id!r} in {pending} is unreadable: {exc}"
                ) from None
            if now - claimed_at < self._tick_grace:
                continue
            with contextlib.suppress(BackendUnavailableError):
                # One try: this fire's own tick is not held up by a slot that is down.
                await self._store_pending(await self._writer(job.queue), job, pauses=())


async def _store_tick_job(backend: RedisBackend, job: NewJob, pauses: Sequence[float]) -> None:
    """Store the job of a claimed tick in its queue's slot, trying again after each of
    ``pauses`` while the slot is unreachable; storing it twice is refused as a
    duplicate of itself."""
    for pause in (*pauses, None):
        try:
            await backend.enqueue([job])
            return
        except DuplicateJobError:
            return  # a repeated call (or an earlier try whose reply was lost) stored it
        except BackendUnavailableError:
            if pause is None:
                raise
            await asyncio.sleep(pause)
