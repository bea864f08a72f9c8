"""Search (by id, id fragment, text) and the dead tab grouped by error, through Pilot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from tests.backends import ALL_BACKENDS, open_backend
from tests.tui.conftest import SIZE, Populated, _populated, record_notices, settle, wait_for
from tests.tui.data import NOW, FakeClock
from wg_core import Client, Envelope, JobOptions, JobState
from wg_tui.app import WgApp
from wg_tui.columns import short_id
from wg_tui.detail import JobDetailScreen
from wg_tui.dialogs import ConfirmScreen
from wg_tui.widgets import ErrorGroupTable, JobTable


@pytest.fixture(params=ALL_BACKENDS)
async def searchable(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Populated]:
    """The fixture on the backends that search the envelope text."""
    async with _populated(request.param, tmp_path) as ready:
        yield ready


async def search(pilot: Pilot[None], text: str) -> None:
    app = pilot.app
    assert isinstance(app, WgApp)
    await pilot.press("slash")
    field = app.dashboard.query_one("#filter-text", Input)
    assert app.focused is field
    field.value = text
    await pilot.press("enter")
    await settle(pilot)


async def test_a_unique_id_fragment_opens_the_job(searchable: Populated) -> None:
    fatal = searchable.fixture.dead[1]
    app = searchable.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")  # from another tab: the search looks in every state
        await settle(pilot)
        await search(pilot, short_id(fatal).upper())
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        screen = app.screen
        assert isinstance(screen, JobDetailScreen)
        assert screen.job is not None
        assert screen.job.job_id == fatal


async def test_a_whole_id_opens_the_job_in_any_state(populated_local: Populated) -> None:
    running = populated_local.fixture.running[0]  # looked up by id: every backend
    app = populated_local.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await settle(pilot)
        await search(pilot, running)
        await wait_for(pilot, lambda: isinstance(app.screen, JobDetailScreen))
        assert app.screen.query_one("#detail-facts").render().plain.count(running) == 1  # type: ignore[attr-defined]


async def test_text_in_payloads_narrows_the_tabs_and_says_where(searchable: Populated) -> None:
    fixture = searchable.fixture
    app = searchable.app()
    seen = record_notices(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")  # no running job matches: the search moves to the first
        await settle(pilot)  # tab that has matches
        await search(pilot, "EXAMPLE.COM")
        await wait_for(pilot, lambda: app.dashboard.query_one("#tabs").active == "queued")  # type: ignore[attr-defined]
        await settle(pilot)
        queued = app.dashboard.query_one("#table-queued", JobTable)
        assert queued.row_keys == [fixture.queued[0], fixture.queued[2]]
        assert any("queued (2+), scheduled (1), retry (1), dead (1)" in n for n in seen)


async def test_nothing_found_says_so(searchable: Populated) -> None:
    app = searchable.app()
    seen = record_notices(app)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        await search(pilot, "no-such-thing")
        await wait_for(pilot, lambda: any("No job matches" in n for n in seen))
        assert app.dashboard.query_one("#table-queued", JobTable).row_keys == []


# -- the dead tab grouped by error -------------------------------------------------------

_BAD_ROW = "ValueError: bad row 7"
_BAD_ROW_70 = "ValueError: bad row 70"  # contains the other one: must stay its own group
_DECLINED = "CardDeclined: insufficient funds"


async def _bury(client: Client, errors: list[str]) -> list[str]:
    """Enqueue one job per error, run each once and bury it with that error (and a
    traceback that differs from job to job under the same first line)."""
    ids = [
        await client.enqueue({"row": n}, job_name=f"import_{n % 2}", options=JobOptions())
        for n in range(len(errors))
    ]
    backend = client.backend
    attempts = await backend.claim(limit=len(errors), lease=30, worker_id="w")
    for n, (attempt, error) in enumerate(zip(attempts, errors, strict=True)):
        text = f"{error}\nTraceback (most recent call last):\n  line {n}"
        raw = Envelope.decode(attempt.raw).evolve(status="Dead", last_error=text).encode()
        assert await backend.bury(attempt, raw=raw, error=text)
    return ids


@pytest.fixture(params=["memory", "sqlite"])
async def grouped(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Client, list[str], FakeClock]]:
    clock = FakeClock(NOW)
    options = {"clock": clock}
    async with open_backend(request.param, tmp_path, **options) as backend:
        client = Client(backend, clock=clock)
        ids = await _bury(client, [_BAD_ROW, _DECLINED, _BAD_ROW, _BAD_ROW_70, _BAD_ROW, _DECLINED])
        yield client, ids, clock


def _app(client: Client, clock: FakeClock) -> WgApp:
    return WgApp(client, refresh_every=None, clock=clock, cursor_blink=False)


async def _confirm(pilot: Pilot[None], answer: str) -> str:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen))
    message = str(pilot.app.screen.query_one("#confirm-message").render())
    await pilot.press(answer)
    await settle(pilot)
    return message


async def test_dead_jobs_group_by_error_with_counts(
    grouped: tuple[Client, list[str], FakeClock],
) -> None:
    client, _, clock = grouped
    app = _app(client, clock)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6", "g")
        await settle(pilot)
        groups = app.dashboard.query_one(ErrorGroupTable)
        assert groups.display
        assert groups.row_keys == [_BAD_ROW, _DECLINED, _BAD_ROW_70]  # largest first
        assert [groups.get_row(key)[0] for key in groups.row_keys] == ["3", "2", "1"]
        info = str(app.dashboard.query_one("#page-dead").render())
        assert "3 errors in 6 dead jobs" in info
        await pilot.press("g")  # back to the jobs
        await settle(pilot)
        assert not groups.display
        assert len(app.dashboard.query_one("#table-dead", JobTable).row_keys) == 6


async def test_requeue_a_whole_group_with_one_confirmation(
    grouped: tuple[Client, list[str], FakeClock],
) -> None:
    client, ids, clock = grouped
    app = _app(client, clock)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6", "g")
        await settle(pilot)
        await pilot.press("r")  # the cursor is on the largest group
        message = await _confirm(pilot, "y")
        assert "Requeue 3 dead jobs" in message
        assert _BAD_ROW in message
        groups = app.dashboard.query_one(ErrorGroupTable)
        assert groups.row_keys == [_DECLINED, _BAD_ROW_70]
    states = {job_id: (await client.get_job(job_id)).state for job_id in ids}  # type: ignore[union-attr]
    assert [states[ids[n]] for n in (0, 2, 4)] == [JobState.QUEUED] * 3
    assert states[ids[3]] is JobState.DEAD  # "bad row 70" is another error
    assert (await client.counts()).dead == 3


async def test_delete_a_group_asks_first(grouped: tuple[Client, list[str], FakeClock]) -> None:
    client, ids, clock = grouped
    app = _app(client, clock)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6", "g")
        await settle(pilot)
        await pilot.press("down", "d")
        message = await _confirm(pilot, "n")
        assert "Delete 2 dead jobs" in message
        assert _DECLINED in message
        assert (await client.counts()).dead == 6  # cancelled: nothing gone
        await pilot.press("d")
        await _confirm(pilot, "y")
    assert (await client.counts()).dead == 4
    assert await client.get_job(ids[1]) is None
    assert await client.get_job(ids[5]) is None


async def test_enter_on_a_group_lists_its_jobs(
    grouped: tuple[Client, list[str], FakeClock],
) -> None:
    client, ids, clock = grouped
    app = _app(client, clock)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6", "g")
        await settle(pilot)
        await pilot.press("down", "enter")
        await settle(pilot)
        jobs = app.dashboard.query_one("#table-dead", JobTable)
        assert jobs.display
        assert jobs.row_keys == [ids[1], ids[5]]
        assert app.dashboard.query_one("#filter-error", Input).value == _DECLINED


async def test_read_only_cannot_act_on_a_group(
    grouped: tuple[Client, list[str], FakeClock],
) -> None:
    client, _, clock = grouped
    app = WgApp(client, refresh_every=None, clock=clock, cursor_blink=False, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6", "g")
        await settle(pilot)
        await pilot.press("r", "d")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)
    assert (await client.counts()).dead == 6
