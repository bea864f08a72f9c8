"""SVG snapshots of every screen, from fixed data and a fixed clock.

Stable by construction: fixed job ids and times (``tests.tui.data``), a clock that
only moves when the test says, no refresh timer, no cursor blink, a fixed terminal size
and theme. After a deliberate change to the look, review ``snapshot_report.html`` and
run ``pytest tests/tui --snapshot-update``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input
from textual.worker import WorkerCancelled

from tests.tui.conftest import SIZE
from tests.tui.data import NOW, TRAFFIC, FakeClock, populate, traffic_step
from wg_core import BackendUnavailableError, Client, MemoryBackend, StateCounts
from wg_tui.app import WgApp
from wg_tui.dialogs import ConfirmScreen, QueuePickerScreen

SnapCompare = Callable[..., bool]


class _OutageBackend(MemoryBackend):
    """A memory backend whose server "goes away" on demand (for the error header)."""

    down = False

    async def counts(self, *, queue: str | None = None) -> StateCounts:
        if self.down:
            raise BackendUnavailableError("connection refused (127.0.0.1:6379)")
        return await super().counts(queue=queue)


def make_app(
    backend_class: type[MemoryBackend] = MemoryBackend, **options: Any
) -> tuple[WgApp, FakeClock]:
    """The dashboard over a memory backend holding the fixture, the clock at ``NOW``."""
    clock = FakeClock()
    client = Client(backend_class("wg", clock=clock), clock=clock)
    asyncio.run(populate(client, clock))
    clock.now = NOW
    settings: dict[str, Any] = {"refresh_every": None, "clock": clock, "cursor_blink": False}
    settings.update(options)
    return WgApp(client, **settings), clock


async def settle(pilot: Pilot[None]) -> None:
    await pilot.pause()
    while True:
        try:
            await pilot.app.workers.wait_for_complete()
        except WorkerCancelled:
            continue  # a newer refresh replaced a stale one (exclusive workers): wait on
        break
    await pilot.pause()


def pressing(*keys: str) -> Callable[[Pilot[None]], Awaitable[None]]:
    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run_before


def test_overview(snap_compare: SnapCompare) -> None:
    app, clock = make_app()

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        client = app.settings.client
        for step, (processed, failed) in enumerate(TRAFFIC):
            await traffic_step(client, clock, step, processed=processed, failed=failed)
            app.dashboard.refresh_data()
            await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_queued_tab(snap_compare: SnapCompare) -> None:
    app, _ = make_app()
    assert snap_compare(app, terminal_size=SIZE, run_before=pressing("2"))


def test_scheduled_tab(snap_compare: SnapCompare) -> None:
    app, _ = make_app()
    assert snap_compare(app, terminal_size=SIZE, run_before=pressing("3"))


def test_retry_tab(snap_compare: SnapCompare) -> None:
    app, _ = make_app()
    assert snap_compare(app, terminal_size=SIZE, run_before=pressing("4"))


def test_running_tab(snap_compare: SnapCompare) -> None:
    app, _ = make_app()
    assert snap_compare(app, terminal_size=SIZE, run_before=pressing("5"))


def test_dead_tab_with_a_selection(snap_compare: SnapCompare) -> None:
    app, _ = make_app()
    assert snap_compare(app, terminal_size=SIZE, run_before=pressing("6", "space"))


def test_dead_tab_read_only(snap_compare: SnapCompare) -> None:
    app, _ = make_app(read_only=True)
    assert snap_compare(app, terminal_size=SIZE, run_before=pressing("6"))


def test_workers_tab(snap_compare: SnapCompare) -> None:
    app, _ = make_app()
    assert snap_compare(app, terminal_size=SIZE, run_before=pressing("9"))


def test_job_detail(snap_compare: SnapCompare) -> None:
    app, _ = make_app()
    assert snap_compare(app, terminal_size=SIZE, run_before=pressing("6", "enter"))


def test_job_detail_raw_json(snap_compare: SnapCompare) -> None:
    app, _ = make_app()
    assert snap_compare(app, terminal_size=SIZE, run_before=pressing("4", "enter", "j"))


def test_retry_all_confirmation(snap_compare: SnapCompare) -> None:
    app, _ = make_app()

    async def run_before(pilot: Pilot[None]) -> None:
        await pressing("6")(pilot)
        app.dashboard.query_one("#filter-name", Input).value = "charge_card"
        app.dashboard.query_one("#filter-name", Input).focus()
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("A")
        while not isinstance(app.screen, ConfirmScreen):
            await pilot.pause(0.01)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_backend_outage_in_the_header(snap_compare: SnapCompare) -> None:
    app, _ = make_app(_OutageBackend)

    async def run_before(pilot: Pilot[None]) -> None:
        await pressing("6")(pilot)
        backend = app.settings.client.backend
        assert isinstance(backend, _OutageBackend)
        backend.down = True
        await pilot.press("ctrl+r")
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_help_read_only(snap_compare: SnapCompare) -> None:
    app, _ = make_app(read_only=True)
    assert snap_compare(app, terminal_size=SIZE, run_before=pressing("6", "question_mark"))


def test_dead_tab_grouped_by_error(snap_compare: SnapCompare) -> None:
    app, _ = make_app()
    assert snap_compare(app, terminal_size=SIZE, run_before=pressing("6", "g"))


def test_queues_tab_with_a_paused_queue(snap_compare: SnapCompare) -> None:
    app, clock = make_app()

    async def run_before(pilot: Pilot[None]) -> None:
        await pressing("0")(pilot)
        backend = app.settings.client.backend
        # Limits with their use (issue 20): emails' shows two of four running and two
        # starts of ten a minute; reports holds no job yet and has a row for its limit.
        await app.settings.client.set_limit("emails", concurrency=4, rate=10, per=60)
        await app.settings.client.set_limit("reports", concurrency=1, per_key=True)
        # Two refreshes apart, the emails queue processed two jobs: its rate shows.
        attempts = await backend.claim(limit=2, lease=30, worker_id="w", queues=("emails",))
        await backend.claim(limit=2, lease=30, worker_id="w", queues=("emails",))
        await backend.complete(attempts)
        clock.advance(2)
        await pressing("ctrl+r", "down", "down", "p")(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


async def _open_picker(pilot: Pilot[None]) -> None:
    # The picker waits for an answer inside a worker: wait for it to show, not for the
    # workers to finish.
    await pressing("2")(pilot)
    await pilot.press("f")
    while not isinstance(pilot.app.screen, QueuePickerScreen):
        await pilot.pause(0.01)
    await pilot.pause()


def test_queued_tab_filtered_by_queue(snap_compare: SnapCompare) -> None:
    app, _ = make_app()

    async def run_before(pilot: Pilot[None]) -> None:
        await _open_picker(pilot)
        # Every queue first, then billing, default, emails.
        await pilot.press("down", "down", "down", "enter")
        await settle(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_queue_picker(snap_compare: SnapCompare) -> None:
    app, _ = make_app()
    assert snap_compare(app, terminal_size=SIZE, run_before=_open_picker)


def test_completed_tab(snap_compare: SnapCompare) -> None:
    app, _ = make_app()
    assert snap_compare(app, terminal_size=SIZE, run_before=pressing("7"))


def test_cancelled_tab(snap_compare: SnapCompare) -> None:
    app, _ = make_app()
    assert snap_compare(app, terminal_size=SIZE, run_before=pressing("8"))


def test_completed_job_detail(snap_compare: SnapCompare) -> None:
    # The third completed job: the one with the long result, shown whole.
    app, _ = make_app()
    run_before = pressing("7", "down", "down", "enter")
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_running_job_detail_with_progress(snap_compare: SnapCompare) -> None:
    app, _ = make_app()
    assert snap_compare(app, terminal_size=SIZE, run_before=pressing("5", "enter"))


def test_cancel_confirmation_of_a_running_job(snap_compare: SnapCompare) -> None:
    app, _ = make_app()

    async def run_before(pilot: Pilot[None]) -> None:
        await pressing("5")(pilot)
        await pilot.press("c")
        while not isinstance(app.screen, ConfirmScreen):
            await pilot.pause(0.01)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
