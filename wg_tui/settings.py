"""The settings every screen shares: the client, the clock, and what the operator may do."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from wg_core import Client, redact_url
from wg_tui.snapshot import PAGE_SIZE, Clock

__all__ = ["TuiSettings"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TuiSettings:
    """How the dashboard runs.

    ``refresh_every``: seconds between refreshes, or ``None`` for no timer (tests and
    screenshots refresh by hand so nothing moves under them). ``read_only`` disables every
    action that writes to the backend. ``url`` is shown in the header, credentials
    redacted (by default the backend's own ``display_url``).
    """

    client: Client
    clock: Clock = time.time
    read_only: bool = False
    refresh_every: float | None = 2.0
    page_size: int = PAGE_SIZE
    cursor_blink: bool = True
    url: str = field(default="")

    @property
    def display_url(self) -> str:
        """Where the backend stores, never with a password in it."""
        return redact_url(self.url or self.client.backend.display_url)

    @property
    def namespace(self) -> str:
        """The namespace the dashboard shows."""
        return self.client.namespace
