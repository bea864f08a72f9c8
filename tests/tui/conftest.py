"""Fixtures for the TUI tests: a populated backend of each kind, and Pilot helpers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.worker import WorkerCancelled

from tests.backends import ALL_BACKENDS, open_backend
from tests.tui.data import NOW, FakeClock, Fixture, populate
from wg_core import Backend, Client
from wg_tui.app import WgApp

EMBEDDED_BACKENDS = ("memory", "sqlite")

SIZE = (120, 36)
"""Terminal size of every Pilot and snapshot test."""


@dataclass
class Populated:
    """A backend holding the fixture, a client on it, and the app's settings."""

    backend: Backend
    client: Client
    clock: FakeClock
    fixture: Fixture

    def app(self, **options: object) -> WgApp:
        """A dashboard on this backend with no refresh timer (tests refresh by hand)."""
        settings: dict[str, object] = {
            "refresh_every": None,
            "clock": self.clock,
            "cursor_blink": False,
        }
        settings.update(options)
        return WgApp(self.client, **settings)  # type: ignore[arg-type]


@asynccontextmanager
async def _populated(name: str, tmp_path: Path) -> AsyncIterator[Populated]:
    clock = FakeClock()
    # The memory and SQLite backends take the fake clock; server backends use their own.
    options: dict[str, Any] = {"clock": clock} if name in ("memory", "sqlite") else {}
    async with open_backend(name, tmp_path, **options) as backend:
        client = Client(backend, clock=clock)
        fixture = await populate(client, clock)
        clock.now = NOW
        yield Populated(backend=backend, client=client, clock=clock, fixture=fixture)


@pytest.fixture(params=ALL_BACKENDS)
async def populated(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Populated]:
    """Each backend in turn, holding the fixture jobs and workers (for actions, whose
    effect on the backend is what is checked)."""
    async with _populated(request.param, tmp_path) as ready:
        yield ready


@pytest.fixture(params=EMBEDDED_BACKENDS)
async def populated_local(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Populated]:
    """The memory and SQLite backends holding the fixture (for behaviour of the
    interface itself, which does not depend on the backend: Pilot is slow enough)."""
    async with _populated(request.param, tmp_path) as ready:
        yield ready


async def wait_for(pilot: Pilot[None], condition: Callable[[], bool], timeout: float = 10) -> None:
    """Let the app run until ``condition()`` holds (fails after ``timeout`` seconds)."""
    loop_time = asyncio.get_running_loop().time
    deadline = loop_time() + timeout
    while not condition():
        if loop_time() > deadline:
            raise AssertionError(f"timed out waiting for {condition}")
        await pilot.pause(0.01)


def record_notices(app: WgApp) -> list[str]:
    """Every message ``app`` shows as a notification from now on, in order. Read this,
    not ``app._notifications``: a notice leaves that list when its few seconds are up,
    which on a loaded machine can come before the test's next step does."""
    seen: list[str] = []
    notify = app.notify

    def record(message: str, *args: Any, **kwargs: Any) -> None:
        seen.append(message)
        notify(message, *args, **kwargs)

    app.notify = record  # type: ignore[method-assign]
    return seen


async def settle(pilot: Pilot[None]) -> None:
    """Let every started worker (refresh, action) finish and the screen repaint."""
    await pilot.pause()
    while True:
        try:
            await pilot.app.workers.wait_for_complete()
        except WorkerCancelled:
            continue  # a newer refresh replaced a stale one (exclusive workers): wait on
        break
    await pilot.pause()
