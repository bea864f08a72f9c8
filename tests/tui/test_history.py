"""The completed and cancelled tabs, progress, and the cancel action through Pilot:
checked in the backend after (every backend), and its refusals (read-only, no, states
it does not apply to) on the embedded ones."""

from __future__ import annotations

import json

from rich.syntax import Syntax
from textual.pilot import Pilot
from textual.widgets import Static

from tests.tui.conftest import SIZE, Populated, record_notices, settle, wait_for
from tests.tui.data import RESULTS
from tests.tui.test_actions import confirm, state_of, table
from tests.tui.test_search_and_groups import search
from wg_core import JobState
from wg_tui.app import WgApp
from wg_tui.detail import JobDetailScreen


async def open_detail(pilot: Pilot[None], app: WgApp, state: JobState, job_id: str) -> None:
    """Open ``job_id``'s detail from its state's tab, as a user would: once the tab
    shows the job (a tab's rows arrive from a worker of their own: an Enter pressed
    before them selects nothing), and return once the detail has loaded it (its keys
    apply to the loaded job only)."""
    await pilot.press(_TAB_KEYS[state])
    rows = table(app, state)
    await wait_for(pilot, lambda: job_id in rows.row_keys)
    rows.move_cursor(row=rows.row_keys.index(job_id))
    await pilot.press("enter")
    await wait_for(
        pilot, lambda: isinstance(app.screen, JobDetailScreen) and app.screen.job is not None
    )


_TAB_KEYS = {JobState.SCHEDULED: "3", JobState.RUNNING: "5", JobState.COMPLETED: "7"}


async def test_completed_and_cancelled_tabs(populated_local: Populated) -> None:
    fixture = populated_local.fixture
    app = populated_local.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("7")
        await settle(pilot)
        completed = table(app, JobState.COMPLETED)
        assert completed.row_keys == list(fixture.completed)
        first = [str(cell) for cell in completed.get_row(fixture.completed[0])]
        assert first[4:7] == ["2026-01-01 00:00:01", "1s", "1/4"]
        assert first[7].startswith('{"thumbnail":"thumbs/1.png"')
        last = str(completed.get_row(fixture.completed[2])[7])
        assert last.endswith("…")  # cut in the table, whole in the detail
        tab = app.dashboard.query_one("#tabs").get_tab("completed")  # type: ignore[attr-defined]
        assert tab.label.plain == "Completed 3"
        await pilot.press("8")
        await settle(pilot)
        cancelled = table(app, JobState.CANCELLED)
        assert cancelled.row_keys == list(fixture.cancelled)
        row = [str(cell) for cell in cancelled.get_row(fixture.cancelled[0])]
        assert row[5] == "—"  # cancelled before it ran


async def test_the_detail_shows_the_whole_result(populated_local: Populated) -> None:
    app = populated_local.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_detail(pilot, app, JobState.COMPLETED, populated_local.fixture.completed[2])
        detail = app.screen
        assert isinstance(detail, JobDetailScreen)
        shown = detail.query_one("#detail-result", Static).content
        assert isinstance(shown, Syntax)
        assert json.loads(shown.code) == RESULTS[2]
        facts = str(detail.query_one("#detail-facts").render())
        for label in ("finished", "ran for", "kept until"):
            assert label in facts
        assert "in state since" not in facts


async def test_progress_in_the_running_table_and_the_detail(populated_local: Populated) -> None:
    [running] = populated_local.fixture.running
    app = populated_local.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await settle(pilot)
        progress = str(table(app, JobState.RUNNING).get_row(running)[-1])
        assert progress.startswith("████")
        assert "40% transcoded 24 of …" in progress  # the message cut to the column
        await pilot.press("enter")
        await settle(pilot)
        facts = str(app.screen.query_one("#detail-facts").render())
        assert "40% transcoded 24 of 60 segments" in facts  # the whole message


async def test_cancel_a_queued_job_after_confirmation(populated: Populated) -> None:
    first, second, _ = populated.fixture.queued
    app = populated.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("c")
        question = await confirm(pilot, "n")
        assert first in question
        assert "It will not run" in question
        assert await state_of(populated, first) is JobState.QUEUED
        await pilot.press("c")
        await confirm(pilot, "y")
        assert table(app, JobState.QUEUED).row_keys[0] == second
    assert await state_of(populated, first) is JobState.CANCELLED


async def test_cancel_a_running_job_requests_it(populated: Populated) -> None:
    [running] = populated.fixture.running
    app = populated.app()
    seen = record_notices(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await settle(pilot)
        await pilot.press("c")
        question = await confirm(pilot, "y")
        assert "Its worker is asked to stop it" in question
        await settle(pilot)
        assert "Asked the workers to cancel 1 of 1 running job." in seen
    job = await populated.client.get_job(running)
    assert job is not None
    assert (job.state, job.cancel_requested) == (JobState.RUNNING, True)


async def test_cancel_from_the_job_detail(populated: Populated) -> None:
    scheduled = populated.fixture.scheduled[0]
    app = populated.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_detail(pilot, app, JobState.SCHEDULED, scheduled)
        await pilot.press("c")
        await confirm(pilot, "y")
        await wait_for(pilot, lambda: "state           cancelled" in _facts(app))
        assert app.screen.check_action("cancel", ()) is False  # cancelled: no more
    assert await state_of(populated, scheduled) is JobState.CANCELLED


def _facts(app: object) -> str:
    screen = app.screen  # type: ignore[attr-defined]
    return str(screen.query_one("#detail-facts").render())


async def test_run_a_completed_job_again(populated: Populated) -> None:
    done = populated.fixture.completed[0]
    app = populated.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("7")
        await settle(pilot)
        assert app.dashboard.check_action("cancel", ()) is False  # finished: not here
        assert app.dashboard.check_action("retry", ()) is False  # r is "run again"
        await pilot.press("r")
        await settle(pilot)
    assert await state_of(populated, done) is JobState.QUEUED


async def test_read_only_cannot_cancel(populated_local: Populated) -> None:
    queued = populated_local.fixture.queued[0]
    [running] = populated_local.fixture.running
    app = populated_local.app(read_only=True)
    seen = record_notices(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        assert app.dashboard.check_action("cancel", ()) is False
        await pilot.press("c")
        await settle(pilot)
        assert app.screen is app.dashboard  # no dialog
        await open_detail(pilot, app, JobState.RUNNING, running)
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, JobDetailScreen)
        assert seen == ["Read-only: cancel is disabled (wg-tui --read-only)."] * 2
    assert await state_of(populated_local, queued) is JobState.QUEUED
    job = await populated_local.client.get_job(running)
    assert job is not None
    assert not job.cancel_requested


async def test_the_detail_shows_the_unique_and_limit_keys(populated_local: Populated) -> None:
    job_id = await populated_local.client.enqueue(
        {"invoice": 42}, job_name="invoice", unique_key="invoice:42", limit_key="tenant:7"
    )
    app = populated_local.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        await search(pilot, job_id)
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        facts = app.screen.query_one("#detail-facts").render().plain  # type: ignore[attr-defined]
        assert "unique key" in facts
        assert "invoice:42" in facts
        assert "limit key" in facts
        assert "tenant:7" in facts
