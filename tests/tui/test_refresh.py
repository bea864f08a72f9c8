"""The refresh loop: it keeps the app up through a backend outage, recovers, and stays
still while a dialog is open."""

from __future__ import annotations

from tests.tui.conftest import SIZE, settle, wait_for
from tests.tui.data import FakeClock, populate
from wg_core import BackendUnavailableError, Client, MemoryBackend, StateCounts
from wg_tui.app import WgApp
from wg_tui.dialogs import HelpScreen
from wg_tui.widgets import StatusBar


class OutageBackend(MemoryBackend):
    """A memory backend whose server can "go away", counting the refreshes it serves."""

    down = False
    calls = 0

    async def counts(self, *, queue: str | None = None) -> StateCounts:
        self.calls += 1
        if self.down:
            raise BackendUnavailableError("connection refused")
        return await super().counts(queue=queue)


async def make(refresh_every: float) -> tuple[WgApp, OutageBackend]:
    clock = FakeClock()
    backend = OutageBackend("wg", clock=clock)
    client = Client(backend, clock=clock)
    await populate(client, clock)
    app = WgApp(client, refresh_every=refresh_every, clock=clock, cursor_blink=False)
    return app, backend


def status(app: WgApp) -> str:
    return str(app.dashboard.query_one(StatusBar).render())


async def test_outage_shows_in_the_header_and_the_app_recovers() -> None:
    app, backend = await make(refresh_every=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await wait_for(pilot, lambda: app.dashboard.snapshot is not None)
        rows_before = app.dashboard.query_one("#table-dead").row_count  # type: ignore[attr-defined]
        backend.down = True
        await wait_for(pilot, lambda: app.dashboard.error is not None)
        assert "connection refused" in status(app)
        assert app.is_running
        # Several failed ticks back off instead of hammering the backend.
        failures_seen = backend.calls
        await wait_for(pilot, lambda: backend.calls >= failures_seen + 2)
        assert app.dashboard.query_one("#table-dead").row_count == rows_before  # type: ignore[attr-defined]
        backend.down = False
        await wait_for(pilot, lambda: app.dashboard.error is None, timeout=30)
        assert "connected" in status(app)


async def test_the_timer_picks_up_new_jobs() -> None:
    app, _ = await make(refresh_every=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await wait_for(pilot, lambda: app.dashboard.snapshot is not None)
        late = "0b7f5c9e-3d1a-4f2b-9c8e-5a6d7e8f9012"  # job ids are UUIDs
        await app.settings.client.enqueue({"n": 1}, job_name="late", job_id=late)
        table = app.dashboard.query_one("#table-queued")
        await wait_for(pilot, lambda: late in table.row_keys)  # type: ignore[attr-defined]


async def test_no_refresh_while_a_dialog_is_open() -> None:
    app, backend = await make(refresh_every=0.02)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: backend.calls >= 2)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await settle(pilot)
        calls = backend.calls
        await pilot.pause(0.3)  # fifteen ticks
        assert backend.calls == calls
        await pilot.press("escape")
        await wait_for(pilot, lambda: backend.calls > calls)


async def test_backoff_grows_with_failures() -> None:
    app, backend = await make(refresh_every=0.01)
    backend.down = True
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: backend.calls >= 4)
        # 4 failures: 0 + 1 + 3 skipped ticks before the 4th, then 7 before the 5th.
        assert "retrying in" in status(app)
        await pilot.press("ctrl+r")  # an explicit refresh does not wait for the backoff
        calls = backend.calls
        await wait_for(pilot, lambda: backend.calls > calls)
