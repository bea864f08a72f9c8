"""The periodic entries under the scheduled jobs (issue 19), through Pilot."""

from __future__ import annotations

from tests.tui.conftest import SIZE, Populated, settle
from tests.tui.data import NOW
from wg_tui.widgets import PeriodicTable


async def test_the_scheduled_tab_shows_the_periodic_entries(populated_local: Populated) -> None:
    app = populated_local.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await settle(pilot)
        table = app.dashboard.query_one(PeriodicTable)
        assert table.display
        assert table.row_keys == ["daily-digest", "sweep-carts"]
        # entry, schedule, queue, job, next run, last run, last job
        digest = [str(cell) for cell in table.get_row("daily-digest")]
        assert digest[:6] == [
            "daily-digest",
            "0 0 * * * UTC",
            "emails",
            "send_digest",
            "in 23h",
            "59m ago",
        ]
        sweep = [str(cell) for cell in table.get_row("sweep-carts")]
        assert sweep[2:] == ["default (-5)", "sweep_carts", "in 15m", "never", "—"]

        # Pools that declare no entry any more: the table goes away.
        await populated_local.backend.register_periodic([], now=NOW)
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert not table.display
