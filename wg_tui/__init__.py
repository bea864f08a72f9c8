"""``wg-tui``: a live Textual dashboard for a wg namespace, with worker controls.

``WgApp`` runs over any ``wg_core.Client``; ``wg-tui`` (``wg_tui.main``) builds one from
``--url``/``--namespace``. Layers: ``snapshot`` and ``columns`` fetch and format data
without Textual, and ``browsing`` is the dashboard's browsing state, without Textual too;
``widgets`` are passive; ``dashboard``, ``detail`` and ``dialogs`` are the screens, which
own the state and call the client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["WgApp"]

if TYPE_CHECKING:
    from wg_tui.app import WgApp


def __getattr__(name: str) -> object:
    # Textual is imported on first use, so `wg-tui --help` answers at once.
    if name == "WgApp":
        from wg_tui.app import WgApp

        return WgApp
    raise AttributeError(f"module 'wg_tui' has no attribute {name!r}")
