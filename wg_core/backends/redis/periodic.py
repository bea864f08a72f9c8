"""The registry of periodic entries on Redis (layout 4): ``{ns}:periodic`` (name ->
the entry's definition, JSON) and ``{ns}:periodic_runs`` (name -> its last tick, last
run, next run and last job id, as text). Registration is one script
(``periodic_register``); a fire is one script (``periodic_fire``) that claims the tick
with a compare-and-set and stores the job with the ``enqueue`` script's own code, so
the two happen together or not at all, and a repeated call (its reply lost) is
recognised by its job id instead of failing. A fire carries the pool's definition of
the entry, which the script stores when the entry is missing (another pool's
registration deleted it), so that the tick is claimed and the entry re-created in that
same call."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from wg_core.backend import NewJob, PeriodicEntry, PeriodicInfo
from wg_core.backends.redis.keys import Keys
from wg_core.backends.redis.transport import Transport
from wg_core.errors import BackendError, WgError

__all__ = ["RedisPeriodic"]

_NONE = "-"


def _text(value: float | None) -> str:
    # repr: the shortest text that reads back as the same float, in Lua as in Python.
    return _NONE if value is None else repr(float(value))


def _number(text: str) -> float | None:
    return None if text == _NONE else float(text)


def _definition(entry: PeriodicEntry, *, registered_at: float) -> str:
    """What ``{ns}:periodic`` keeps of ``entry`` (JSON)."""
    definition = {
        "schedule": entry.schedule,
        "job_name": entry.job_name,
        "queue": entry.queue,
        "priority": entry.priority,
        "template": entry.template,
        "registered_at": registered_at,
    }
    return json.dumps(definition, separators=(",", ":"))


class RedisPeriodic:
    """The periodic verbs of ``RedisBackend`` (a mixin: it needs the transport, the
    keys and the enqueue script's arguments)."""

    _keys: Keys
    _transport: Transport

    def _enqueue_script(self, jobs: Sequence[NewJob]) -> tuple[tuple[str, ...], list[Any]]:
        raise NotImplementedError  # RedisBackend's

    def _duplicate(self, exc: BackendError, jobs: Sequence[NewJob]) -> WgError:
        raise NotImplementedError  # RedisBackend's

    async def register_periodic(self, entries: Sequence[PeriodicEntry], *, now: float) -> None:
        args: list[Any] = [len(entries)]
        for entry in entries:
            args += [
                entry.name,
                _definition(entry, registered_at=now),
                entry.schedule,
                _text(entry.baseline),
                _text(entry.next_run),
            ]
        k = self._keys
        await self._transport.run_idempotent(
            "periodic_register", (k.periodic, k.periodic_runs), args
        )

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
        return await self._fire(name, tick=tick, job=job, now=now, next_run=next_run, entry=entry)

    async def _fire(
        self,
        name: str,
        *,
        tick: float | None,
        job: NewJob,
        now: float,
        next_run: float | None,
        entry: PeriodicEntry | None,
        pending: str | None = None,
    ) -> bool:
        """``fire_periodic``; given ``pending`` (a tick's pending record, JSON), the tick
        is claimed and recorded (the job's id its last job) and ``pending`` kept in
        ``{ns}:periodic_pending`` under the job's id, but the job is not stored: the
        caller stores it in its queue's own slot, then deletes the record (slots.py)."""
        keys, args = self._enqueue_script([job])
        k = self._keys
        definition = _NONE if entry is None else _definition(entry, registered_at=now)
        defined_next = _NONE if entry is None else _text(entry.next_run)
        try:
            fired = await self._transport.run_idempotent(
                "periodic_fire",
                (*keys, k.periodic, k.periodic_runs, k.periodic_pending),
                [
                    *args,
                    name,
                    _text(tick),
                    _text(now),
                    _text(next_run),
                    job.job_id,
                    definition,
                    defined_next,
                    "1" if pending is None else pending,
                ],
            )
        except BackendError as exc:
            raise self._duplicate(exc, [job]) from None
        return bool(fired)

    async def periodic_entries(self) -> list[PeriodicInfo]:
        k = self._keys
        definitions, runs = await self._transport.snapshot(
            ("HGETALL", k.periodic), ("HGETALL", k.periodic_runs)
        )
        entries: list[PeriodicInfo] = []
        for name in sorted(definitions):
            try:
                doc = json.loads(definitions[name])
                last_tick, last_run, next_run, last_job = runs.get(name, "- - - -").split(" ")
            except ValueError as exc:
                raise BackendError(
                    f"periodic entry {name!r} in {k.periodic} is unreadable: {exc}"
                ) from None
            entries.append(
                PeriodicInfo(
                    name=name,
                    schedule=str(doc["schedule"]),
                    job_name=str(doc["job_name"]),
                    queue=str(doc["queue"]),
                    priority=int(doc["priority"]),
                    template=str(doc["template"]),
                    next_run=_number(next_run),
                    last_tick=_number(last_tick),
                    last_run_at=_number(last_run),
                    last_job_id=None if last_job == _NONE else last_job,
                    registered_at=float(doc["registered_at"]),
                )
            )
        return entries
