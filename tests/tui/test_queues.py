"""The queues tab (counts, throughput, pause/resume of one queue) and the queue filter
of the job tabs, through Pilot."""

from __future__ import annotations

from textual.pilot import Pilot

from tests.tui.conftest import SIZE, Populated, record_notices, settle, wait_for
from wg_tui.columns import TREND_WIDTH, sparkline
from wg_tui.dialogs import ConfirmScreen, QueuePickerScreen
from wg_tui.widgets import JobTable, QueueTable, StatusBar

QUEUES = ["billing", "default", "emails"]


def _cells(table: QueueTable, key: str) -> list[str]:
    return [str(cell) for cell in table.get_row(key)]


async def _pick(pilot: Pilot[None], position: int) -> None:
    """Open the queue picker and choose the option at ``position`` (0: every queue)."""
    await pilot.press("f")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, QueuePickerScreen))
    await pilot.press("home", *(["down"] * position), "enter")
    await settle(pilot)


async def test_the_queues_tab_lists_every_queue_with_its_counts(
    populated_local: Populated,
) -> None:
    app = populated_local.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("0")
        await settle(pilot)
        table = app.dashboard.query_one(QueueTable)
        assert table.row_keys == QUEUES
        # queue, pending, scheduled, retry, running, dead, paused, rate, processed, failed,
        # (then the trends and the limit)
        assert _cells(table, "emails")[:10] == [
            "emails",
            *("2", "1", "1", "0", "1"),
            *("—", "—", "0", "2"),
        ]
        assert _cells(table, "emails")[12] == "—"  # no limit
        assert _cells(table, "default")[:6] == ["default", "1", "1", "1", "1", "0"]
        assert _cells(table, "default")[8] == "5"  # processed
        assert _cells(table, "billing")[5] == "1"  # its dead job
        tabs = app.dashboard.query_one("#tabs")
        assert "Queues 3" in str(tabs.get_tab("queues").label)  # type: ignore[attr-defined]


async def test_the_queues_tab_shows_each_limit_and_its_use(populated_local: Populated) -> None:
    app = populated_local.app()
    backend = populated_local.backend
    client = app.settings.client
    await client.set_limit("emails", concurrency=3, rate=5, per=60)
    await client.set_limit("later", concurrency=2, per_key=True)  # no job there yet
    await backend.claim(limit=10, lease=30, worker_id="w", queues=("emails",))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("0")
        await settle(pilot)
        table = app.dashboard.query_one(QueueTable)
        assert table.row_keys == [*QUEUES, "later"]
        assert _cells(table, "emails")[12] == "2/3 running, 2/5 per 1m"
        assert _cells(table, "later")[12] == "0/2 running, per key"
        assert _cells(table, "billing")[12] == "—"


async def test_throughput_is_the_processed_counter_per_second_between_refreshes(
    populated_local: Populated,
) -> None:
    app = populated_local.app()
    backend, clock = populated_local.backend, populated_local.clock
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("0")
        await settle(pilot)
        attempts = await backend.claim(limit=2, lease=30, worker_id="w", queues=("emails",))
        await backend.complete(attempts)
        clock.advance(4)
        await pilot.press("ctrl+r")
        await settle(pilot)
        table = app.dashboard.query_one(QueueTable)
        assert _cells(table, "emails")[7] == "0.5"  # 2 jobs in 4 seconds
        assert _cells(table, "default")[7] == "0.0"
        # The trends: the one interval's processed/s, and the pending jobs at each of
        # the two refreshes (the claim took both of the emails queue's).
        assert _cells(table, "emails")[10:12] == [
            sparkline([0.5], TREND_WIDTH),
            sparkline([2, 0], TREND_WIDTH),
        ]
        assert _cells(table, "default")[10] == sparkline([0.0], TREND_WIDTH)


async def test_p_pauses_and_resumes_the_highlighted_queue(populated_local: Populated) -> None:
    client = populated_local.client
    app = populated_local.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("0")
        await settle(pilot)
        await pilot.press("down", "down")  # emails
        await settle(pilot)
        assert app.dashboard.query_one(QueueTable).cursor_key == "emails"
        await pilot.press("p")
        await settle(pilot)
        assert await client.is_paused(queue="emails")
        assert not await client.is_paused(queue="default")
        assert not await client.is_paused()  # the namespace is not
        assert _cells(app.dashboard.query_one(QueueTable), "emails")[6] == "paused"
        await pilot.press("p")
        await settle(pilot)
        assert not await client.is_paused(queue="emails")
        # Elsewhere p is the namespace's pause again.
        await pilot.press("1", "p")
        await settle(pilot)
        assert await client.is_paused()
        assert not await client.is_paused(queue="emails")


async def test_read_only_cannot_pause_a_queue(populated_local: Populated) -> None:
    app = populated_local.app(read_only=True)
    seen = record_notices(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("0")
        await settle(pilot)
        assert app.dashboard.check_action("toggle_queue_pause", ()) is False
        await pilot.press("p")
        await settle(pilot)
        assert seen == ["Read-only: pause/resume queue is disabled (wg-tui --read-only)."]
    for queue in QUEUES:
        assert not await populated_local.client.is_paused(queue=queue)
    assert not await populated_local.client.is_paused()


async def test_the_job_tabs_filter_by_queue(populated_local: Populated) -> None:
    fixture = populated_local.fixture
    app = populated_local.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        table = app.dashboard.query_one("#table-queued", JobTable)
        assert set(table.row_keys) == set(fixture.queued)
        await _pick(pilot, QUEUES.index("emails") + 1)
        assert app.dashboard.queue_filter == "emails"
        emails = [fixture.queued[0], fixture.queued[2]]
        assert table.row_keys == emails  # priority 5 first, then FIFO
        assert "queue emails" in str(app.dashboard.query_one(StatusBar).render())
        assert "of 2 in queue emails" in str(app.dashboard.query_one("#page-queued").render())
        tabs = app.dashboard.query_one("#tabs")
        assert str(tabs.get_tab("queued").label) == "Queued 2"  # type: ignore[attr-defined]
        # The other tabs follow the same filter.
        await pilot.press("6")
        await settle(pilot)
        dead = app.dashboard.query_one("#table-dead", JobTable)
        assert dead.row_keys == [fixture.dead[0]]
        # Escape leaves the filter as it was; "every queue" clears it.
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, QueuePickerScreen))
        await pilot.press("escape")
        await settle(pilot)
        assert app.dashboard.queue_filter == "emails"
        await _pick(pilot, 0)
        assert app.dashboard.queue_filter is None
        assert set(dead.row_keys) == set(fixture.dead)
        assert "queue emails" not in str(app.dashboard.query_one(StatusBar).render())


async def test_enter_on_a_queue_shows_its_jobs(populated_local: Populated) -> None:
    app = populated_local.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("0")
        await settle(pilot)
        await pilot.press("down", "enter")  # default
        await settle(pilot)
        assert app.dashboard.queue_filter == "default"
        table = app.dashboard.query_one("#table-queued", JobTable)
        assert table.row_keys == [populated_local.fixture.queued[1]]


async def test_purge_with_a_queue_filter_purges_only_that_queue(
    populated_local: Populated,
) -> None:
    client = populated_local.client
    app = populated_local.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        await _pick(pilot, QUEUES.index("emails") + 1)
        await pilot.press("P")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "of queue 'emails'" in str(app.screen.query_one("#confirm-message").render())
        await pilot.press("y")
        await settle(pilot)
    assert (await client.counts(queue="emails")).queued == 0
    assert (await client.counts(queue="default")).queued == 1
