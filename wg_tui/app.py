"""``WgApp``: the Textual application behind ``wg-tui``.

The app only wires things together: it holds the settings, opens the dashboard, offers
the dashboard's actions in the command palette, and closes the client at exit when it
owns it. Screens do the work (``wg_tui.dashboard``, ``wg_tui.detail``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from functools import partial
from typing import Any, ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from wg_core import Client
from wg_tui.dashboard import DashboardScreen
from wg_tui.settings import TuiSettings
from wg_tui.snapshot import PAGE_SIZE, Clock

__all__ = ["WgApp"]

# (action, title, help) offered in the command palette when the action applies.
_PALETTE: tuple[tuple[str, str, str], ...] = (
    ("refresh_now", "Refresh", "Fetch everything the visible tab shows now"),
    ("toggle_pause", "Pause / resume the namespace", "Workers stop or start claiming"),
    ("retry", "Retry selected jobs", "Dead or retry jobs back to the queue"),
    ("run_now", "Run selected jobs now", "Scheduled or retry jobs to the queue now"),
    ("delete", "Delete selected jobs", "After confirmation"),
    ("retry_all", "Retry all matching the filter", "After confirmation"),
    ("purge", "Purge this state", "Delete every job in it, after confirmation"),
    ("stop_worker", "Stop the highlighted worker", "It drains and exits"),
    ("toggle_order", "Toggle newest first", "Reverse the order of this tab"),
    ("filter", "Search", "Find jobs by id, id fragment or text; filter by job name or error"),
    ("toggle_groups", "Group dead jobs by error", "Or show the dead jobs again"),
)


class WgApp(App[None]):
    """The wg operations dashboard over one namespace of one backend."""

    CSS_PATH = "wg_tui.tcss"
    TITLE = "wg-tui"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        client: Client,
        *,
        read_only: bool = False,
        refresh_every: float | None = 2.0,
        clock: Clock = time.time,
        page_size: int = PAGE_SIZE,
        url: str = "",
        theme: str = "textual-dark",
        cursor_blink: bool = True,
        close_client: bool = False,
    ) -> None:
        """``refresh_every=None`` turns the timer off (refresh with ctrl+r); ``clock``
        is the time shown and used for ages; ``close_client`` closes the client at exit
        (when the app created it)."""
        super().__init__()
        self.settings = TuiSettings(
            client=client,
            clock=clock,
            read_only=read_only,
            refresh_every=refresh_every,
            page_size=page_size,
            cursor_blink=cursor_blink,
            url=url,
        )
        self._initial_theme = theme
        self._close_client = close_client

    def on_mount(self) -> None:
        self.theme = self._initial_theme
        self.sub_title = f"{self.settings.namespace} @ {self.settings.display_url}"

    def get_default_screen(self) -> Screen[None]:
        return DashboardScreen(self.settings)

    @property
    def dashboard(self) -> DashboardScreen:
        """The dashboard screen (always at the bottom of the stack)."""
        screen = self.screen_stack[0]
        assert isinstance(screen, DashboardScreen)
        return screen

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if not isinstance(screen, DashboardScreen):
            return
        for action, title, help_text in _PALETTE:
            if screen.check_action(action, ()) is True:
                yield SystemCommand(title, help_text, partial(screen.run_action, action))

    async def on_unmount(self) -> None:
        if self._close_client:
            await self.settings.client.close()
