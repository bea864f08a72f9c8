"""The ``--read-only`` mode: which actions write, and what their keys say when hidden.

The screens hide every action in ``WRITE_ACTIONS`` under ``--read-only`` (footer, help,
command palette) and look a pressed key up with ``write_binding`` to say "read-only"
rather than ignore it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from textual.binding import Binding
from textual.screen import Screen

__all__ = ["WRITE_ACTIONS", "read_only_notice", "write_binding"]

WRITE_ACTIONS: Final = frozenset(
    {
        "retry",
        "rerun",
        "cancel",
        "run_now",
        "delete",
        "purge",
        "retry_all",
        "toggle_pause",
        "toggle_queue_pause",
        "stop_worker",
    }
)
"""Actions that change the backend: hidden under ``--read-only``."""


def write_binding(
    screen: Screen[Any], key: str, applies: Callable[[str], bool] = lambda action: True
) -> Binding | None:
    """The binding of ``screen`` that puts ``key`` on a write action that ``applies``
    (to the visible tab: one key may do different things on different tabs), if any.

    Under ``--read-only`` those bindings are hidden, and a hidden binding ignores its
    key silently, which reads as a broken key: the screens look the key up here from
    ``on_key`` and say "read-only" instead (``read_only_notice``).
    """
    for binding in type(screen).BINDINGS:
        if (
            isinstance(binding, Binding)
            and binding.action in WRITE_ACTIONS
            and key in (part.strip() for part in binding.key.split(","))
            and applies(binding.action)
        ):
            return binding
    return None


def read_only_notice(binding: Binding) -> str:
    """What pressing ``binding``'s key on a read-only dashboard tells the operator."""
    return f"Read-only: {binding.description.lower()} is disabled (wg-tui --read-only)."
