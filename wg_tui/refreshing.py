"""The dashboard's refresh loop: a screen that fetches a ``Snapshot`` on a timer and
backs off while the backend fails.

A timer ticks every ``refresh_every`` seconds; a tick starts a refresh only when this
screen is on top (no refresh under a dialog or the job detail) and no refresh is already
running. The refresh runs in an exclusive worker, so a newer one (after a tab switch,
say) cancels a stale one. What to fetch and how to show it are the subclass's
(``_fetch``, ``_show``, ``_show_status``). When the backend fails, the error goes to the
status line and the following ticks are skipped with exponential backoff (up to ~30 s);
the tables keep their last data, and the first refresh that succeeds clears the error.
"""

from __future__ import annotations

import math
from contextlib import suppress
from typing import Final

from textual import work
from textual.css.query import NoMatches

from wg_tui.columns import describe_error
from wg_tui.controls import ControlledScreen
from wg_tui.settings import TuiSettings
from wg_tui.snapshot import Snapshot

__all__ = ["RefreshingScreen"]

_BACKOFF_CAP: Final = 30.0


def _unless_closing() -> suppress:
    """Skip UI updates when the app is closing under a refresh that was in flight.

    On exit Textual removes the screen's children before it cancels the screen's
    workers, so a refresh that completes in between finds its widgets gone.
    """
    return suppress(NoMatches)


class RefreshingScreen(ControlledScreen):
    """A screen with the write actions that refreshes itself in the background."""

    def __init__(self, settings: TuiSettings) -> None:
        super().__init__(settings)
        self._snapshot: Snapshot | None = None
        self._error: str | None = None
        self._failures = 0
        self._skip_ticks = 0
        self._refresh_serial = 0
        self._refreshing = False

    # -- hooks -----------------------------------------------------------------------------

    async def _fetch(self) -> Snapshot:
        """Take the snapshot the visible view needs."""
        raise NotImplementedError

    def _show(self, snapshot: Snapshot) -> None:
        """Draw what a successful refresh saw (``self.snapshot`` is already it)."""
        raise NotImplementedError

    def _show_status(self) -> None:
        """Draw the status line (``error``, ``retry_in``, ``snapshot``)."""
        raise NotImplementedError

    # -- the loop --------------------------------------------------------------------------

    @property
    def snapshot(self) -> Snapshot | None:
        """What the last successful refresh saw."""
        return self._snapshot

    @property
    def error(self) -> str | None:
        """The last refresh's error, until a refresh succeeds."""
        return self._error

    @property
    def retry_in(self) -> float | None:
        """Seconds until the next refresh while backing off after an error."""
        every = self._settings.refresh_every
        return (self._skip_ticks + 1) * every if self._error and every else None

    def _start_refreshing(self) -> None:
        """Refresh now, then every ``refresh_every`` seconds (if set)."""
        self.refresh_data()
        if self._settings.refresh_every:
            self.set_interval(self._settings.refresh_every, self._tick)

    def _tick(self) -> None:
        if self.app.screen is not self or self._refreshing:
            return
        if self._skip_ticks > 0:
            self._skip_ticks -= 1
            self._show_status()
            return
        self.refresh_data()

    @work(exclusive=True, group="refresh")
    async def refresh_data(self) -> None:
        """Fetch what the visible view needs and show it (cancels a refresh in flight)."""
        self._refresh_serial += 1
        serial = self._refresh_serial
        self._refreshing = True
        try:
            snapshot = await self._fetch()
        except Exception as exc:
            # Anything a backend raises, even untranslated, must not take the app down.
            with _unless_closing():
                self._failed(exc)
            return
        finally:
            if serial == self._refresh_serial:
                self._refreshing = False
        self._error = None
        self._failures = 0
        self._skip_ticks = 0
        self._snapshot = snapshot
        with _unless_closing():
            self._show(snapshot)

    def _failed(self, exc: BaseException) -> None:
        self._failures += 1
        self._error = describe_error(exc)
        every = self._settings.refresh_every
        if every:
            cap = max(0, math.ceil(_BACKOFF_CAP / every) - 1)
            self._skip_ticks = min(2 ** min(self._failures - 1, 16) - 1, cap)
        self._show_status()

    def action_refresh_now(self) -> None:
        """Refresh now, even while backing off."""
        self._skip_ticks = 0
        self.refresh_data()
