"""The pool's periodic scheduler: register the pool's ``Periodic`` entries, then fire
each tick as it comes due.

Every pool that declares entries runs one. Each computes the same ticks (they depend
only on the schedule) and offers each due tick to the backend's ``fire_periodic``,
whose compare-and-set on the entry's last tick lets exactly one pool store the run's
job; the others learn the tick is taken and move on. A scheduler only remembers the
last tick it offered, so a pool joining late, or restarting, simply finds the
registry's last tick and carries on from there.

Each offer carries the pool's definition of the entry: services of one namespace may
declare different lists, and a registration deletes the entries it does not declare,
so the backend re-creates a missing entry from the offer (in the fire's atomic step)
rather than dropping the tick of a pool that still declares it.

Start-up: the pool registers its entries before its ``start`` returns (``start``), so
operators list them (``wg periodic ls``) as soon as the pool runs, not from their first
tick. A new entry's first run is its first tick after the pool *started*: the start
time is pinned at the first attempt, so a registration that fails and is retried at a
later look still counts from it, rather than skipping the ticks that passed meanwhile.

Catch-up (``Periodic.catch_up``): a scheduler only ever offers the *latest* due tick,
so after an outage of every pool, ``"one"`` fires that latest tick alone (one late run
for the whole outage, the missed ones before it are skipped); ``"none"`` fires it only
if it is at most ``late_after`` seconds old (on time, give or take the scheduler's own
delay), and otherwise skips it and waits for the next tick.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from wg_core.backend import Backend
from wg_core.errors import BackendError
from wg_core.new_jobs import JobBuilder
from wg_core.options import JobOptions
from wg_core.periodic import Periodic, unique_names

__all__ = ["PeriodicScheduler"]

logger = logging.getLogger("wg.pool")


class PeriodicScheduler:
    """Fires the ticks of ``entries`` on ``backend`` (behind the checked layer).

    ``clock``: Unix seconds (injectable: tests step it); ``interval``: seconds between
    looks (the pool's ``scheduler_interval``); ``late_after``: how late a tick may be
    found and still count as on time for ``catch_up="none"`` (default: twice the
    interval plus a second)."""

    __slots__ = (
        "_backend",
        "_clock",
        "_entries",
        "_interval",
        "_jobs",
        "_last",
        "_registered",
        "_since",
        "late_after",
    )

    def __init__(
        self,
        backend: Backend,
        entries: Sequence[Periodic],
        *,
        max_payload_bytes: int,
        clock: Callable[[], float] = time.time,
        interval: float = 1.0,
        late_after: float | None = None,
    ) -> None:
        self._backend = backend
        self._entries = unique_names(entries)
        self._clock = clock
        self._interval = interval
        self.late_after = 2 * interval + 1.0 if late_after is None else late_after
        self._jobs = JobBuilder(
            default_options=JobOptions(), max_payload_bytes=max_payload_bytes, clock=clock
        )
        self._last: dict[str, float | None] = {}
        self._since: float | None = None  # the first registration attempt's time
        self._registered = False

    @property
    def entries(self) -> tuple[Periodic, ...]:
        """The entries this scheduler fires."""
        return self._entries

    @property
    def registered(self) -> bool:
        """Whether the entries were registered (``register`` succeeded once)."""
        return self._registered

    async def start(self) -> None:
        """Register the entries now, as the pool starts; a backend failure is logged and
        the registration retried by ``run`` at its next look (from this start time)."""
        try:
            await self.register()
        except BackendError as exc:
            logger.warning("periodic entries: registering failed, retrying: %s", exc)

    async def register(self) -> None:
        """Make the registry hold this pool's entries (see ``Backend.register_periodic``)
        and learn their last ticks. A new (or rescheduled) entry starts from the time of
        this scheduler's first registration attempt (see the module docstring)."""
        now = self._clock()
        if self._since is None:
            self._since = now
        since = self._since
        entries = [entry.entry(since) for entry in self._entries]
        await self._backend.register_periodic(entries, now=now)
        known = {info.name: info.last_tick for info in await self._backend.periodic_entries()}
        # An entry missing from the read (another service's start deleted it since)
        # counts from its baseline: its tick from before this pool started is not run.
        self._last = {entry.name: known.get(entry.name, entry.baseline) for entry in entries}
        self._registered = True

    async def run_once(self) -> list[tuple[str, float]]:
        """Offer every entry's due tick to the backend; the (entry name, tick) of each
        run this scheduler stored (other pools stored the rest)."""
        stored: list[tuple[str, float]] = []
        for entry in self._entries:
            now = self._clock()
            tick = entry.latest_tick(now)
            last = self._last.get(entry.name)
            if tick is None or (last is not None and tick <= last):
                continue
            if entry.catch_up == "none" and now - tick > self.late_after:
                # Every pool was down at the tick: skip it, wait for the next one.
                self._last[entry.name] = tick
                continue
            try:
                fired = await self._backend.fire_periodic(
                    entry.name,
                    tick=tick,
                    job=entry.job(self._jobs),
                    now=now,
                    next_run=entry.next_tick(tick),
                    # Re-created from it if a pool declaring another list deleted it.
                    entry=entry.entry(now),
                )
            except BackendError as exc:
                # Not remembered as offered: the next look tries again (the backend's
                # compare-and-set keeps it once).
                logger.warning(
                    "periodic entry %r: firing tick %s failed: %s", entry.name, tick, exc
                )
                continue
            self._last[entry.name] = tick
            if fired:
                stored.append((entry.name, tick))
                logger.info("periodic entry %r: enqueued its run of %s", entry.name, tick)
        return stored

    async def run(self) -> None:
        """Register (unless ``start`` did), then look every ``interval`` seconds until
        cancelled (a failed registration is retried at the next look)."""
        while True:
            try:
                if not self._registered:
                    await self.register()
                await self.run_once()
            except BackendError as exc:
                logger.warning("periodic entries: %s", exc)
            await asyncio.sleep(self._interval)
