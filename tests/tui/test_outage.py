"""A real outage: the dashboard over a private Redis server that is stopped and started.

The server is this test's own (a free port, no persistence), never the shared one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import RedisServer, redis_server
from tests.tui.conftest import SIZE, wait_for
from wg_core import Client, backend_from_url
from wg_tui.app import WgApp
from wg_tui.widgets import StatusBar

pytestmark = pytest.mark.slow


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path) as server:
        yield server


async def _until_up(client: Client) -> None:
    for _ in range(200):
        try:
            await client.counts()
            return
        except Exception:
            import asyncio

            await asyncio.sleep(0.02)
    raise AssertionError("the private redis-server did not come up")


async def test_dashboard_survives_a_backend_restart(private_redis: RedisServer) -> None:
    client = Client(backend_from_url(private_redis.url, "outage"))
    await _until_up(client)
    await client.enqueue({"n": 1}, job_name="before")
    app = WgApp(client, refresh_every=0.05, url=private_redis.url, cursor_blink=False)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.dashboard.snapshot is not None)
            private_redis.stop()
            await wait_for(pilot, lambda: app.dashboard.error is not None, timeout=30)
            header = str(app.dashboard.query_one(StatusBar).render())
            assert "unreachable" in header or "Unavailable" in header
            assert app.is_running
            private_redis.start()
            await wait_for(pilot, lambda: app.dashboard.error is None, timeout=60)
            await client.enqueue({"n": 2}, job_name="after")
            await pilot.press("ctrl+r")
            await wait_for(
                pilot,
                lambda: (
                    app.dashboard.snapshot is not None and app.dashboard.snapshot.counts.queued == 1
                ),
            )
            assert "connected" in str(app.dashboard.query_one(StatusBar).render())
    finally:
        await client.close()
