"""The data side of the dashboard (no Textual): snapshots, throughput, columns, text."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.backends import open_backend
from tests.tui.data import NOW, FakeClock, job_id, populate
from wg_core import Client, Counters, JobState, MemoryBackend, QueueInfo, StateCounts, WorkerInfo
from wg_core.envelope import new_job_ids
from wg_tui.columns import (
    describe_error,
    format_duration,
    format_relative,
    one_line,
    plural,
    short_id,
    sparkline,
    worker_row,
)
from wg_tui.job_rows import JOB_COLUMNS, format_attempts, job_row
from wg_tui.settings import TuiSettings
from wg_tui.snapshot import (
    PageRequest,
    QueueThroughput,
    Throughput,
    count_matching,
    take_snapshot,
)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59.9, "59s"), (61, "1m 1s"), (600, "10m"), (3660, "1h 1m"), (90000, "1d 1h")],
)
def test_durations(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_relative_times() -> None:
    assert format_relative(NOW + 300, NOW) == "in 5m"
    assert format_relative(NOW - 300, NOW) == "5m ago"
    assert format_relative(NOW + 0.4, NOW) == "now"
    assert format_relative(None, NOW) == "—"


def test_text_helpers() -> None:
    assert one_line("Boom\n  at line 3", 60) == "Boom"
    assert one_line("x" * 10, 5) == "xxxx…"
    assert plural(1, "dead job") == "1 dead job"
    assert plural(1200, "job") == "1,200 jobs"
    assert describe_error(ValueError("bad\nthing")) == "ValueError: bad"


def test_sparkline_scales_from_zero() -> None:
    assert sparkline([0, 0], 4) == "    "
    line = sparkline([0, 1, 8], 3)
    assert line[0] == " "
    assert line[1] != " "  # a trickle is never drawn as nothing
    assert line[2] == "█"
    assert len(sparkline(list(range(100)), 10)) == 10  # newest values kept


def test_throughput_from_counter_deltas() -> None:
    throughput = Throughput()
    assert throughput.rates() is None
    throughput.add(100.0, Counters(processed=10, failed=1))
    throughput.add(102.0, Counters(processed=30, failed=1))
    throughput.add(104.0, Counters(processed=31, failed=5))
    assert throughput.processed() == [20, 1]
    assert throughput.failed() == [0, 4]
    assert throughput.rates() == (0.5, 2.0)
    throughput.add(106.0, Counters())  # namespace recreated: no negative spike
    assert throughput.processed()[-1] == 0
    assert throughput.processed_per_second() == [10.0, 0.5, 0.0]
    assert throughput.failed_per_second() == [0.0, 2.0, 0.0]


def test_queue_depth_and_per_queue_history() -> None:
    throughput = Throughput()
    throughput.add(100.0, Counters(), queued=5)
    throughput.add(102.0, Counters(), queued=7)
    assert throughput.queued() == [5, 7]
    history = QueueThroughput(capacity=3)

    def queue(name: str, processed: int, queued: int) -> QueueInfo:
        return QueueInfo(
            name=name, counts=StateCounts(queued=queued), counters=Counters(processed=processed)
        )

    history.add(10.0, [queue("a", 0, 4)])
    assert history.rate("a") is None
    assert history.rates("a") == []
    history.add(12.0, [queue("a", 4, 3), queue("b", 0, 1)])
    history.add(12.0, [queue("a", 6, 2), queue("b", 0, 1)])  # same instant: replaces
    history.add(14.0, [queue("a", 6, 0), queue("b", 2, 0)])
    assert history.rates("a") == [3.0, 0.0]
    assert history.rate("b") == 1.0
    assert history.rates("b") == [1.0]
    assert history.depths("a") == [4, 2, 0]
    assert history.depths("b") == [1, 0]


async def test_snapshot_fetches_only_what_the_tab_needs() -> None:
    clock = FakeClock()
    client = Client(MemoryBackend(clock=clock), clock=clock)
    fixture = await populate(client, clock)
    overview = await take_snapshot(client, clock=clock, workers=True)
    assert overview.page is None
    assert overview.workers is not None
    assert overview.count(JobState.DEAD) == 2
    assert overview.workers_alive() == 1  # the other one is stale
    assert overview.oldest_queued_age == pytest.approx(300 - 45)
    assert overview.taken_at == NOW

    page = PageRequest(state=JobState.QUEUED, limit=2)
    tab = await take_snapshot(client, clock=clock, page=page)
    assert tab.workers is None
    assert tab.page is not None
    assert [job.job_id for job in tab.page.jobs] == list(fixture.queued[:2])
    assert tab.page.has_next
    last = await take_snapshot(client, clock=clock, page=page.next_page())
    assert last.page is not None
    assert [job.job_id for job in last.page.jobs] == [fixture.queued[2]]
    assert not last.page.has_next


async def test_count_matching_with_and_without_filters(tmp_path: Path) -> None:
    async with open_backend("sqlite", tmp_path) as backend:
        clock = FakeClock()
        client = Client(backend, clock=clock)
        await populate(client, clock)
        assert await count_matching(client, JobState.DEAD) == 2
        assert await count_matching(client, JobState.DEAD, job_name="charge_card") == 1
        assert await count_matching(client, JobState.RETRY, error_contains="TIMEOUT") == 1
        assert await count_matching(client, JobState.DEAD, job_name="nope") == 0


async def test_rows_have_one_cell_per_column() -> None:
    clock = FakeClock()
    client = Client(MemoryBackend(clock=clock), clock=clock)
    await populate(client, clock)
    for state in JOB_COLUMNS:
        for job in await client.list_jobs(state):
            row = job_row(job, NOW)
            assert row.key == job.job_id
            assert len(row.cells) == len(JOB_COLUMNS[state])
    [scheduled, _] = await client.list_jobs(JobState.SCHEDULED)
    assert job_row(scheduled, NOW).cells[5] == "in 10m"
    [dead, _] = await client.list_jobs(JobState.DEAD)
    assert job_row(dead, NOW).cells[-1].startswith("ConnectionError: SMTP server")
    assert job_row(dead, NOW).failed


def test_stale_workers_are_flagged() -> None:
    worker = WorkerInfo("w1", host="h", pid=1, concurrency=4, last_seen=NOW - 31)
    assert worker_row(worker, NOW).stale
    assert "stale" in worker_row(worker, NOW).cells[6]
    assert not worker_row(worker, NOW - 10).stale


def test_fixture_ids_are_fixed() -> None:
    assert job_id(1) == job_id(1)
    assert job_id(1) != job_id(2)


def test_header_url_never_shows_a_password() -> None:
    client = Client(MemoryBackend())
    settings = TuiSettings(client=client, url="redis://ops:hunter2@cache.internal:6379/0")
    assert "hunter2" not in settings.display_url
    assert "cache.internal" in settings.display_url
    assert TuiSettings(client=client).display_url == "memory:"


async def test_attempts_are_runs_so_far_of_runs_allowed() -> None:
    clock = FakeClock()
    client = Client(MemoryBackend(clock=clock), clock=clock)
    fixture = await populate(client, clock)

    async def attempts(job_id: str) -> str:
        job = await client.get_job(job_id)
        assert job is not None
        return format_attempts(job)

    out_of_retries, fatal = fixture.dead
    assert await attempts(out_of_retries) == "1/1"  # max_retries=0: one run, used up
    assert await attempts(fatal) == "1/4"  # JobError.fatal on its first run, not 0/4
    assert await attempts(fixture.retry[0]) == "1/4"  # failed once, three more allowed
    assert await attempts(fixture.running[0]) == "1/4"  # the run in progress counts
    assert await attempts(fixture.queued[0]) == "0/4"


def test_short_ids_tell_time_ordered_ids_apart() -> None:
    # One run's ids share their first eight hex digits (the time in milliseconds).
    batch = new_job_ids(35)
    assert len({job_id[:8] for job_id in batch}) == 1
    assert len({short_id(job_id) for job_id in batch}) == 35
    assert short_id(batch[0]) in batch[0]
