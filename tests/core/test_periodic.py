"""``Periodic``: what it refuses at construction, its ticks (cron and every=), and the
daylight-saving transitions of a cron entry in Europe/Berlin, on a stepped clock."""

from __future__ import annotations

import asyncio
import builtins
import itertools
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from wg_core import (
    BlockingClient,
    ConfigError,
    JobOptions,
    MemoryBackend,
    PayloadError,
    Periodic,
    WorkerPool,
)
from wg_core.errors import MissingDependencyError
from wg_core.new_jobs import JobBuilder
from wg_core.periodic import job_from_template
from wg_core.periodic_records import PeriodicInfo
from wg_core.worker.periodic import PeriodicScheduler

BERLIN = ZoneInfo("Europe/Berlin")


@dataclass
class Digest:
    day: str = "today"


def at(*fields: int, zone: ZoneInfo = BERLIN) -> float:
    return datetime(*fields, tzinfo=zone).timestamp()  # type: ignore[misc]


# -- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"cron": "61 * * * *"}, "invalid cron expression"),
        ({"cron": "* * *"}, "invalid cron expression"),
        ({"every": 0}, "at least"),
        ({"every": -5}, "non-negative"),
        ({"every": timedelta(0)}, "at least"),
        ({}, "exactly one of cron= or every="),
        ({"cron": "* * * * *", "every": 30}, "exactly one of cron= or every="),
        ({"every": 30, "timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"every": 30, "timezone": ""}, "time zone"),
        ({"every": 30, "name": ""}, "non-empty name"),
        ({"every": 30, "name": "two words"}, "invalid periodic entry name"),
        ({"every": 30, "catch_up": "all"}, "catch_up"),
        ({"every": 30, "queue": "Bad Queue"}, "queue"),
        ({"every": 30, "job_name": "no spaces please"}, "job name"),
    ],
)
def test_bad_input_is_refused_at_construction(fields: dict[str, Any], message: str) -> None:
    fields.setdefault("name", "digest")
    with pytest.raises(ConfigError, match=message):
        Periodic(Digest(), **fields)


def test_a_payload_that_is_not_json_is_refused() -> None:
    with pytest.raises(PayloadError):
        Periodic(object(), every=30, name="digest")
    with pytest.raises(PayloadError):
        Periodic({"when": datetime.now()}, every=30, name="digest")


def test_two_entries_with_one_name_are_refused_by_the_pool() -> None:
    entries = [
        Periodic(Digest(), every=30, name="digest"),
        Periodic(Digest(), every=60, name="digest"),
    ]
    with pytest.raises(ConfigError, match="two periodic entries are named 'digest'"):
        WorkerPool(handler=lambda job: None, backend=MemoryBackend(), periodic=entries)


def test_a_missing_cron_parser_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_cronsim(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "cronsim":
            raise ImportError("No module named 'cronsim'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cronsim)
    with pytest.raises(MissingDependencyError, match=r"pip install 'wg\[cron\]'"):
        Periodic(Digest(), cron="* * * * *", name="digest")
    Periodic(Digest(), every=30, name="digest")  # every= needs no parser


# -- ticks -------------------------------------------------------------------------------


def test_every_ticks_are_multiples_of_it_since_the_epoch() -> None:
    entry = Periodic(Digest(), every=timedelta(seconds=30), name="digest")
    assert entry.schedule == "every 30s"
    assert entry.latest_tick(1_800_000_045.5) == 1_800_000_030
    assert entry.latest_tick(1_800_000_030) == 1_800_000_030
    assert entry.next_tick(1_800_000_030) == 1_800_000_060
    assert entry.next_tick(1_800_000_031) == 1_800_000_060


def test_cron_ticks_follow_the_expression_in_its_time_zone() -> None:
    entry = Periodic(Digest(), cron="*/5 * * * *", name="digest", timezone="Europe/Berlin")
    assert entry.schedule == "*/5 * * * * Europe/Berlin"
    noon = at(2026, 6, 1, 12, 0)
    assert entry.latest_tick(noon) == noon
    assert entry.latest_tick(noon + 299) == noon
    assert entry.next_tick(noon) == noon + 300
    daily = Periodic(Digest(), cron="0 9 * * *", name="nine", timezone="Europe/Berlin")
    assert daily.next_tick(noon) == at(2026, 6, 2, 9, 0)  # 09:00 in Berlin, 07:00 UTC
    assert daily.latest_tick(noon) == at(2026, 6, 1, 9, 0)


def test_cron_ticks_just_before_a_tick_are_the_previous_and_that_one() -> None:
    entry = Periodic(Digest(), cron="* * * * *", name="minutely")
    tick = 1_800_000_000.0  # a whole minute
    for before in (tick - 5e-7, tick - 1e-6, tick - 0.5):  # under a microsecond, and more
        assert entry.latest_tick(before) == tick - 60
        assert entry.next_tick(before) == tick
    assert entry.latest_tick(tick) == tick
    assert entry.next_tick(tick) == tick + 60


async def test_a_pool_registering_just_before_a_cron_tick_runs_that_tick() -> None:
    # The pool starts a fraction of a microsecond before the minute: the minute is its
    # entry's first tick (it was counted as done, and so lost, when "the latest tick"
    # was computed a microsecond ahead).
    tick = 1_800_000_000.0
    clock = Clock(tick - 5e-7)
    backend = MemoryBackend(clock=clock)
    entry = Periodic(Digest(), cron="* * * * *", name="minutely")
    pool = PeriodicScheduler(backend, [entry], max_payload_bytes=65536, clock=clock)
    await pool.register()
    [info] = await backend.periodic_entries()
    assert (info.last_tick, info.next_run) == (tick - 60, tick)
    clock.now = tick + 0.5
    assert await pool.run_once() == [("minutely", tick)]


def test_the_template_rebuilds_the_same_job() -> None:
    options = JobOptions(max_retries=7, timeout=60, retry_delay=None, keep_finished=10)
    entry = Periodic(
        Digest("monday"), every=60, name="digest", queue="reports", priority=4, options=options
    )
    jobs = JobBuilder(default_options=JobOptions(), max_payload_bytes=65536, clock=lambda: 1e9)
    info = PeriodicInfo(
        name="digest",
        schedule=entry.schedule,
        job_name=entry.job_name,
        queue=entry.queue,
        priority=entry.priority,
        template=entry.template,
    )
    made, rebuilt = entry.job(jobs), job_from_template(info, jobs)
    assert (rebuilt.job_name, rebuilt.queue, rebuilt.priority) == ("digest", "reports", 4)
    first, second = json.loads(made.raw), json.loads(rebuilt.raw)
    assert first["payload"] == second["payload"] == {"day": "monday"}
    assert first["options"] == second["options"]
    assert second["options"]["max_retries"] == 7
    broken = PeriodicInfo(name="x", schedule="every 1s", job_name="x", template="nope")
    with pytest.raises(ConfigError, match="unreadable job template"):
        job_from_template(broken, jobs)


# -- daylight saving, with a stepped clock -------------------------------------------------


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def fired_over(entry: Periodic, start: float, hours: float) -> list[datetime]:
    """The ticks one pool fires from ``start`` for ``hours``, looking every 20 s."""
    clock = Clock(start)
    backend = MemoryBackend(clock=clock)
    pool = PeriodicScheduler(backend, [entry], max_payload_bytes=65536, clock=clock)
    await pool.register()
    fired: list[datetime] = []
    while clock.now < start + hours * 3600:
        clock.now += 20
        fired.extend(datetime.fromtimestamp(tick, BERLIN) for _, tick in await pool.run_once())
    assert (await backend.counts()).queued == len(fired)
    return fired


async def test_a_daily_run_in_the_hour_skipped_in_march_runs_once_at_the_switch() -> None:
    entry = Periodic(Digest(), cron="30 2 * * *", name="night", timezone="Europe/Berlin")
    fired = await fired_over(entry, at(2026, 3, 28, 12, 0), hours=48)
    # 02:30 does not exist on 29 March (02:00 -> 03:00): it runs at 03:00 CEST, once.
    assert [tick.isoformat() for tick in fired] == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
    ]


async def test_a_daily_run_in_the_hour_repeated_in_october_runs_once() -> None:
    entry = Periodic(Digest(), cron="30 2 * * *", name="night", timezone="Europe/Berlin")
    fired = await fired_over(entry, at(2026, 10, 24, 12, 0), hours=48)
    # 02:30 happens twice on 25 October (03:00 CEST -> 02:00 CET): it runs the first time.
    assert [tick.isoformat() for tick in fired] == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
    ]


async def test_an_hourly_run_keeps_real_hours_across_both_switches() -> None:
    entry = Periodic(Digest(), cron="0 * * * *", name="hourly", timezone="Europe/Berlin")
    spring = await fired_over(entry, at(2026, 3, 29, 0, 30), hours=3)
    assert [tick.strftime("%H:%M%z") for tick in spring] == [
        "01:00+0100",
        "03:00+0200",
        "04:00+0200",
    ]
    autumn = await fired_over(entry, at(2026, 10, 25, 0, 30), hours=4)
    assert [tick.strftime("%H:%M%z") for tick in autumn] == [
        "01:00+0200",
        "02:00+0200",
        "02:00+0100",
        "03:00+0100",
    ]
    # One real hour apart, every one of them.
    for ticks in (spring, autumn):
        gaps = {(b.timestamp() - a.timestamp()) for a, b in itertools.pairwise(ticks)}
        assert gaps == {3600.0}


def test_the_blocking_client_lists_and_runs_entries() -> None:
    backend = MemoryBackend()
    entry = Periodic({"a": 1}, every=60, name="digest", job_name="digest")
    asyncio.run(PeriodicScheduler(backend, [entry], max_payload_bytes=65536).register())
    with BlockingClient(backend) as client:
        [listed] = client.periodic_entries()
        assert (listed.name, listed.schedule) == ("digest", "every 60s")
        job_id = client.run_periodic("digest")
        job = client.get_job(job_id)
        assert job is not None
        assert job.payload == {"a": 1}
        assert client.periodic_entries()[0].last_job_id == job_id
