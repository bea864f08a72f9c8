"""Every dashboard action through Pilot, on every backend, checked in the backend after.

Behaviour of the interface alone (read-only, cursor, paging, help) runs on the memory
and SQLite backends only.
"""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Input

from tests.tui.conftest import SIZE, Populated, record_notices, settle, wait_for
from wg_core import JobState
from wg_tui.app import WgApp
from wg_tui.dashboard import DashboardScreen
from wg_tui.dialogs import ConfirmScreen
from wg_tui.widgets import FilterBar, JobTable, WorkerTable


async def state_of(populated: Populated, job_id: str) -> JobState | None:
    job = await populated.client.get_job(job_id)
    return None if job is None else job.state


def dashboard(app: WgApp) -> DashboardScreen:
    return app.dashboard


def focused(app: WgApp) -> Widget | None:
    return app.focused


def table(app: WgApp, state: JobState) -> JobTable:
    return app.dashboard.query_one(f"#table-{state.value}", JobTable)


async def confirm(pilot: Pilot[None], answer: str) -> str:
    """Wait for the confirmation dialog, answer it, return what it asked."""
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen))
    message = str(pilot.app.screen.query_one("#confirm-message").render())
    await pilot.press(answer)
    await settle(pilot)
    return message


async def test_retry_dead_job_under_cursor(populated: Populated) -> None:
    first, second = populated.fixture.dead
    app = populated.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await settle(pilot)
        assert table(app, JobState.DEAD).row_keys == [first, second]
        await pilot.press("r")
        await settle(pilot)
        assert table(app, JobState.DEAD).row_keys == [second]
    assert await state_of(populated, first) is JobState.QUEUED
    assert await state_of(populated, second) is JobState.DEAD
    requeued = await populated.client.get_job(first)
    assert requeued is not None
    assert requeued.retry_count == 0


async def test_retry_selected_jobs(populated: Populated) -> None:
    retry_ids = populated.fixture.retry
    app = populated.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("space", "space")  # selects both rows, cursor moving down
        await pilot.press("r")
        await settle(pilot)
    for job_id in retry_ids:
        assert await state_of(populated, job_id) is JobState.QUEUED


async def test_run_scheduled_job_now(populated: Populated) -> None:
    first, second = populated.fixture.scheduled
    app = populated.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("down", "n")
        await settle(pilot)
    assert await state_of(populated, first) is JobState.SCHEDULED
    assert await state_of(populated, second) is JobState.QUEUED


async def test_delete_asks_first_and_cancel_keeps_the_job(populated: Populated) -> None:
    first = populated.fixture.queued[0]
    app = populated.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("d")
        message = await confirm(pilot, "n")
        assert first in message
        assert await state_of(populated, first) is JobState.QUEUED
        await pilot.press("d")
        await confirm(pilot, "y")
        assert first not in table(app, JobState.QUEUED).row_keys
    assert await state_of(populated, first) is None
    assert (await populated.client.counts()).queued == 2


async def test_purge_a_state(populated: Populated) -> None:
    app = populated.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await settle(pilot)
        await pilot.press("P")
        message = await confirm(pilot, "y")
        assert "all 2 dead jobs" in message
        assert repr(populated.client.namespace) in message
    counts = await populated.client.counts()
    assert counts.dead == 0
    assert counts.retry == 2  # other states untouched


async def test_retry_all_matching_the_filter(populated: Populated) -> None:
    email_dead, card_dead = populated.fixture.dead
    app = populated.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await settle(pilot)
        await pilot.press("slash")
        assert isinstance(focused(app), Input)
        await pilot.press("escape")  # back to the table, filter unchanged
        assert focused(app) is table(app, JobState.DEAD)
        await pilot.press("slash", "tab")  # past the search, to the job name
        await pilot.press(*"charge_card", "enter")
        await settle(pilot)
        assert table(app, JobState.DEAD).row_keys == [card_dead]
        await pilot.press("A")
        message = await confirm(pilot, "y")
        assert "Requeue 1 dead job matching job name 'charge_card'" in message
        assert repr(populated.client.namespace) in message
    assert await state_of(populated, card_dead) is JobState.QUEUED
    assert await state_of(populated, email_dead) is JobState.DEAD


async def test_retry_all_by_error_text(populated: Populated) -> None:
    email_retry, report_retry = populated.fixture.retry
    app = populated.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await settle(pilot)
        app.dashboard.query_one(FilterBar).focus_first()
        await pilot.press("tab", "tab", *"timeout", "enter")  # search, job name, error
        await settle(pilot)
        assert table(app, JobState.RETRY).row_keys == [report_retry]
        await pilot.press("A")
        message = await confirm(pilot, "y")
        assert "error containing 'timeout'" in message
    assert await state_of(populated, report_retry) is JobState.QUEUED
    assert await state_of(populated, email_retry) is JobState.RETRY


async def test_pause_and_resume(populated: Populated) -> None:
    app = populated.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        assert await populated.client.is_paused()
        assert app.dashboard.snapshot is not None
        assert app.dashboard.snapshot.paused
        await pilot.press("p")
        await settle(pilot)
        assert not await populated.client.is_paused()


async def test_stop_a_worker(populated: Populated) -> None:
    app = populated.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("9")
        await settle(pilot)
        target = app.dashboard.query_one(WorkerTable).cursor_key
        assert target is not None
        await pilot.press("s")
        message = await confirm(pilot, "y")
        assert target in message
    workers = {w.worker_id: w for w in await populated.client.workers()}
    assert workers[target].stop_requested
    others = [w for w in workers.values() if w.worker_id != target]
    assert not any(w.stop_requested for w in others)


async def test_read_only_disables_every_write(populated_local: Populated) -> None:
    first = populated_local.fixture.dead[0]
    app = populated_local.app(read_only=True)
    seen = record_notices(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await settle(pilot)
        screen = app.dashboard
        for action in ("retry", "delete", "purge", "retry_all", "toggle_pause"):
            assert screen.check_action(action, ()) is False, action  # hidden
        shown = {active.binding.action for active in screen.active_bindings.values()}
        assert not shown & {"retry", "delete", "purge", "retry_all", "toggle_pause"}
        await pilot.press("r", "d", "P", "A", "p")
        await settle(pilot)
        assert app.screen is screen  # no dialog opened
        # Each key says why it did nothing, rather than nothing.
        notices = list(seen)
        assert len(notices) == 5
        assert all(notice.startswith("Read-only: ") for notice in notices)
        assert "Read-only: delete is disabled" in notices[1]
        # On the job detail too.
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is not screen
        await pilot.press("r")
        await settle(pilot)
        assert len(seen) == 6
    assert await state_of(populated_local, first) is JobState.DEAD
    assert (await populated_local.client.counts()).dead == 2
    assert not await populated_local.client.is_paused()


async def test_cursor_and_selection_survive_a_refresh(populated_local: Populated) -> None:
    queued = populated_local.fixture.queued
    app = populated_local.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        jobs = table(app, JobState.QUEUED)
        await pilot.press("down", "down", "space")  # select the third job
        await pilot.press("up")  # cursor on the second
        assert jobs.cursor_key == queued[1]
        # Someone else deletes the first job, and a new one arrives.
        await populated_local.client.delete_jobs([queued[0]])
        await populated_local.client.enqueue({"n": 1}, job_name="late")
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert jobs.row_keys[:2] == [queued[1], queued[2]]
        assert jobs.cursor_key == queued[1]
        await pilot.press("d")
        message = await confirm(pilot, "y")
        assert queued[2] in message  # the selection, not the cursor row
    assert await state_of(populated_local, queued[2]) is None
    assert await state_of(populated_local, queued[1]) is JobState.QUEUED


async def test_pages_and_newest_first(populated_local: Populated) -> None:
    queued = populated_local.fixture.queued
    app = populated_local.app(page_size=2)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        jobs = table(app, JobState.QUEUED)
        assert jobs.row_keys == list(queued[:2])
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert jobs.row_keys == [queued[2]]
        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert jobs.row_keys == list(queued[:2])
        await pilot.press("o")
        await settle(pilot)
        assert jobs.row_keys == [queued[2], queued[1]]


async def test_job_detail_shows_the_job_and_acts_on_it(populated: Populated) -> None:
    dead = populated.fixture.dead[0]
    app = populated.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        detail = app.screen
        assert detail.__class__.__name__ == "JobDetailScreen"
        facts = str(detail.query_one("#detail-facts").render())
        assert dead in facts
        assert "send_email" in facts
        error = str(detail.query_one("#detail-error-text").render())
        assert "ConnectionRefusedError" in error  # the whole traceback, not the first line
        raw = detail.query_one("#detail-raw")
        assert not raw.display
        await pilot.press("j")
        assert raw.display
        await pilot.press("r")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is app.dashboard
    assert await state_of(populated, dead) is JobState.QUEUED


async def test_help_lists_the_bindings_of_the_tab(populated_local: Populated) -> None:
    for read_only in (False, True):
        app = populated_local.app(read_only=read_only)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("6")
            await settle(pilot)
            await pilot.press("question_mark")
            await pilot.pause()
            text = str(app.screen.query_one("#help-text").render())
            # Read-only: the write keys are hidden, and the note says so.
            assert ("Retry all" in text) is not read_only
            assert ("Purge" in text) is not read_only
            assert ("Read-only (--read-only)" in text) is read_only
            assert "Job details" in text
            assert "Stop worker" not in text  # a workers-tab key
            await pilot.press("escape")
            await pilot.pause()
            assert app.screen is app.dashboard


async def test_command_palette_offers_the_actions_of_the_tab(populated_local: Populated) -> None:
    app = populated_local.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await settle(pilot)
        titles = {command.title for command in app.get_system_commands(app.dashboard)}
        assert {
            "Retry selected jobs",
            "Retry all matching the filter",
            "Purge this state",
        } <= titles
        assert "Stop the highlighted worker" not in titles
    read_only = populated_local.app(read_only=True)
    async with read_only.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await settle(pilot)
        titles = {command.title for command in read_only.get_system_commands(read_only.dashboard)}
        assert "Retry selected jobs" not in titles
        assert "Refresh" in titles
