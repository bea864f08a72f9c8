"""Periodic jobs: ``Periodic`` entries, their schedules and the jobs they enqueue.

``Periodic(job, cron="*/5 * * * *", name="digest")`` or ``Periodic(job, every=30,
name="ping")`` declares an entry; ``WorkerPool(..., periodic=[...])`` runs it
(``wg_core.worker.periodic``). Each *tick* (a time the schedule names) is enqueued
exactly once however many pools run the entry: the backend's ``fire_periodic`` claims
the tick and stores its job in one atomic step (docs/periodic.md).

Schedules:

- ``every``: seconds (or a ``timedelta``, at least a millisecond); ticks are the
  multiples of it since the Unix epoch (``every=30``: :00 and :30 of each minute), so
  every pool computes the same ticks without talking to the others.
- ``cron``: a five-field expression (an optional sixth, seconds, first) evaluated in
  ``timezone`` (IANA name, ``UTC`` by default) with cronsim, the ``wg[cron]`` extra:
  small, dependency-free, typed, and it documents its daylight-saving behaviour, that
  of Debian's cron: a job whose time is skipped when clocks go forward runs at the
  transition, one whose time repeats when they go back runs once, and an hourly or
  more frequent job keeps its spacing in real time.

Bad input is refused here, at construction, before anything is stored
(``ConfigError``, a ``ValueError``): an invalid cron expression, ``every`` ≤ 0, neither
or both of ``cron`` and ``every``, an unknown time zone, an empty or malformed name,
a catch-up policy other than ``"one"`` or ``"none"``; a payload that is not JSON is a
``PayloadError``. Two entries with one name are refused by ``WorkerPool``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from wg_core.backend import Backend, NewJob
from wg_core.errors import ConfigError, JobNotFoundError, MissingDependencyError, PayloadError
from wg_core.new_jobs import JobBuilder, validate_job_name
from wg_core.options import Duration, JobOptions, to_seconds
from wg_core.payloads import encode_payload, job_name_for
from wg_core.periodic_records import PeriodicEntry, PeriodicInfo
from wg_core.queues import DEFAULT_QUEUE, validate_priority, validate_queue

__all__ = [
    "MAX_PERIODIC_NAME_LENGTH",
    "MIN_EVERY",
    "CatchUp",
    "Periodic",
    "job_from_template",
    "run_registered",
    "unique_names",
    "validate_periodic_name",
]

CatchUp = Literal["one", "none"]
"""What a pool does about ticks that passed while no pool ran the entry: ``"one"``
enqueues the latest of them, once (at most one late run); ``"none"`` skips them all
and waits for the next tick."""

MIN_EVERY: Final = 0.001
"""The shortest ``every``: ticks are told apart to the millisecond."""

MAX_PERIODIC_NAME_LENGTH: Final = 128
_NAME: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]*")
_INSTALL: Final = "cron schedules need the 'cronsim' package: pip install 'wg[cron]'"


def validate_periodic_name(name: object) -> str:
    """``name`` if it is a valid entry name (1 to 128 ASCII letters, digits, ``_``,
    ``.``, ``:`` or ``-``, not starting with punctuation but ``_``), else ``ConfigError``."""
    if not isinstance(name, str) or not name:
        raise ConfigError("a periodic entry needs a non-empty name")
    if len(name) > MAX_PERIODIC_NAME_LENGTH or not _NAME.fullmatch(name):
        raise ConfigError(
            f"invalid periodic entry name {name!r}: use 1 to {MAX_PERIODIC_NAME_LENGTH} "
            "ASCII letters, digits, '_', '.', ':' or '-' (no spaces)"
        )
    return name


def unique_names(entries: Sequence[Periodic]) -> tuple[Periodic, ...]:
    """``entries`` as a tuple, or ``ConfigError`` if two share a name (or one is not a
    ``Periodic``)."""
    seen: set[str] = set()
    for entry in entries:
        if not isinstance(entry, Periodic):
            raise ConfigError(f"periodic= takes Periodic entries, not {type(entry).__name__}")
        if entry.name in seen:
            raise ConfigError(f"two periodic entries are named {entry.name!r}: names must differ")
        seen.add(entry.name)
    return tuple(entries)


def _cronsim() -> Any:
    try:
        import cronsim
    except ImportError:
        raise MissingDependencyError(_INSTALL) from None
    return cronsim


def _zone(name: object) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise ConfigError(f"timezone must be an IANA time zone name, not {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"unknown time zone {name!r} (use an IANA name like 'Europe/Berlin')"
        ) from None


def _seconds_text(seconds: float) -> str:
    return f"{int(seconds)}s" if seconds == int(seconds) else f"{seconds:g}s"


class Periodic:
    """A job enqueued on a schedule; give exactly one of ``cron`` and ``every``.

    ``job``: what ``Client.enqueue`` accepts (a dataclass, a pydantic-style model,
    plain JSON values); its payload is taken once, here. ``name``: the entry's name in
    the registry (``wg periodic ls``), unique per namespace. ``job_name``, ``queue``,
    ``priority`` and ``options``: as for ``Client.enqueue``. ``timezone``: where a
    ``cron`` expression is evaluated. ``catch_up``: see ``CatchUp``.
    """

    __slots__ = (
        "_cron",
        "_zone",
        "catch_up",
        "cron",
        "every",
        "job_name",
        "name",
        "options",
        "payload",
        "priority",
        "queue",
        "timezone",
    )

    def __init__(
        self,
        job: Any,
        *,
        name: str,
        cron: str | None = None,
        every: Duration | None = None,
        job_name: str | None = None,
        queue: str = DEFAULT_QUEUE,
        priority: int = 0,
        options: JobOptions | None = None,
        timezone: str = "UTC",
        catch_up: CatchUp = "one",
    ) -> None:
        self.name: Final = validate_periodic_name(name)
        if (cron is None) == (every is None):
            raise ConfigError(f"periodic entry {name!r}: give exactly one of cron= or every=")
        if catch_up not in get_args(CatchUp):
            raise ConfigError(f"catch_up must be 'one' or 'none', not {catch_up!r}")
        if options is not None and not isinstance(options, JobOptions):
            raise ConfigError(f"options must be JobOptions, not {type(options).__name__}")
        self.timezone: Final = timezone
        self._zone = _zone(timezone)
        self.catch_up: Final[CatchUp] = catch_up
        self.every: Final = None if every is None else to_seconds(every, name="every")
        if self.every is not None and self.every < MIN_EVERY:
            raise ConfigError(
                f"every must be at least {MIN_EVERY} s (a millisecond), not {every!r}"
            )
        self.cron: Final = cron
        self._cron: Any = None
        if cron is not None:
            if not isinstance(cron, str):
                raise ConfigError(f"cron must be a string, not {type(cron).__name__}")
            self._cron = _cronsim()
            try:
                self._cron.CronSim(cron, datetime.now(self._zone))
            except self._cron.CronSimError as exc:
                raise ConfigError(f"invalid cron expression {cron!r}: {exc}") from None
        self.job_name: Final = validate_job_name(
            job_name_for(job) if job_name is None else job_name
        )
        self.queue: Final = validate_queue(queue)
        self.priority: Final = validate_priority(priority)
        self.options: Final = options
        self.payload: Final = encode_payload(job)
        try:
            json.dumps(self.payload, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise PayloadError(f"payload of periodic entry {name!r} is not JSON: {exc}") from None

    def __repr__(self) -> str:
        return f"Periodic(name={self.name!r}, schedule={self.schedule!r})"

    @property
    def schedule(self) -> str:
        """The schedule as text: ``*/5 * * * * UTC`` or ``every 30s``."""
        if self.every is not None:
            return f"every {_seconds_text(self.every)}"
        return f"{self.cron} {self.timezone}"

    # -- ticks ---------------------------------------------------------------------------

    def latest_tick(self, now: float) -> float | None:
        """The latest tick at or before ``now`` (Unix seconds); ``None`` if there is none."""
        if self.every is not None:
            return math.floor(now / self.every) * self.every
        # cronsim's reverse iteration yields ticks strictly before its start, and cron
        # ticks are whole seconds: those before the next whole second are those at or
        # before now. (Not now plus an epsilon: within it of a tick, that tick came out
        # as the latest while still ahead, and a pool registering then counted it as
        # done. From the timestamp, not by adding a timedelta: that would drop the fold
        # of a repeated hour and land an hour off.)
        start = datetime.fromtimestamp(math.floor(now) + 1, self._zone)
        try:
            tick: datetime = next(self._cron.CronSim(self.cron, start, reverse=True))
        except StopIteration:
            return None
        return tick.timestamp()

    def next_tick(self, after: float) -> float:
        """The first tick strictly after ``after`` (Unix seconds)."""
        if self.every is not None:
            tick = (math.floor(after / self.every) + 1) * self.every
            return tick if tick > after else tick + self.every
        # Forward iteration yields ticks strictly after its start: from the whole
        # second (``fromtimestamp`` rounds to the microsecond, so a time just before a
        # tick would start on it and skip it).
        start = datetime.fromtimestamp(math.floor(after), self._zone)
        found: datetime = next(self._cron.CronSim(self.cron, start))
        return found.timestamp()

    # -- what is stored ------------------------------------------------------------------

    @property
    def template(self) -> str:
        """The JSON text the registry keeps to build this entry's jobs (payload and
        options), the same text for the same entry."""
        options = self.options
        return json.dumps(
            {
                "payload": self.payload,
                "options": None
                if options is None
                else {
                    "max_retries": options.max_retries,
                    "timeout": options.timeout,
                    "retry_delay": options.retry_delay,
                    "keep_finished": options.keep_finished,
                },
            },
            separators=(",", ":"),
            sort_keys=True,
        )

    def entry(self, now: float) -> PeriodicEntry:
        """The registry entry for this declaration, registered at ``now``."""
        return PeriodicEntry(
            name=self.name,
            schedule=self.schedule,
            job_name=self.job_name,
            queue=self.queue,
            priority=self.priority,
            template=self.template,
            baseline=self.latest_tick(now),
            next_run=self.next_tick(now),
        )

    def job(self, jobs: JobBuilder) -> NewJob:
        """A new job for one run."""
        return jobs.one(
            self.payload,
            job_name=self.job_name,
            options=self.options,
            delay=None,
            queue=self.queue,
            priority=self.priority,
        )


def job_from_template(info: PeriodicInfo, jobs: JobBuilder) -> NewJob:
    """A new job for one run of a registered entry, from what the registry keeps (``wg
    periodic run`` has no code at hand); ``ConfigError`` if its template is unreadable."""
    try:
        template = json.loads(info.template)
        stored = template.get("options")
        options = None if stored is None else JobOptions(**stored)
        payload = template["payload"]
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise ConfigError(
            f"periodic entry {info.name!r} has an unreadable job template: {exc}"
        ) from None
    return jobs.one(
        payload,
        job_name=info.job_name,
        options=options,
        delay=None,
        queue=info.queue,
        priority=info.priority,
    )


async def run_registered(backend: Backend, jobs: JobBuilder, name: str, *, now: float) -> str:
    """Enqueue one run of registered entry ``name`` now, from its stored template,
    recorded as its last run (its ticks untouched); the job id. ``JobNotFoundError``
    when no such entry is registered."""
    found = [info for info in await backend.periodic_entries() if info.name == name]
    if not found:
        raise JobNotFoundError(f"no periodic entry named {name!r} is registered")
    job = job_from_template(found[0], jobs)
    if not await backend.fire_periodic(name, tick=None, job=job, now=now, next_run=None):
        raise JobNotFoundError(f"periodic entry {name!r} was removed meanwhile")
    return job.job_id
