"""Modal dialogs: the confirmation before destructive actions, and the key help.

While one of them is open the dashboard does not refresh (it only refreshes when it is
the screen on top), so what the dialog states stays what the operator confirms.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Static

__all__ = ["READ_ONLY_HELP", "ConfirmScreen", "HelpEntry", "HelpScreen", "help_entries"]

READ_ONLY_HELP = (
    "Read-only (--read-only): the keys that retry, run, delete, purge, pause or stop are "
    "hidden, and pressing one says so."
)
"""The help's note when the dashboard runs read-only."""


class ConfirmScreen(ModalScreen[bool]):
    """Ask a yes/no question; dismisses with ``True`` only on an explicit yes.

    The "No" button has the focus, so an absent-minded Enter cancels.
    """

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, title: str, message: str, *, confirm_label: str = "Yes") -> None:
        super().__init__()
        self._title = title
        self._message = message
        self._confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box", classes="dialog"):
            yield Static(self._message, id="confirm-message")
            with Horizontal(id="confirm-buttons"):
                yield Button(f"{self._confirm_label} (y)", variant="error", id="confirm-yes")
                yield Button("No (n)", variant="primary", id="confirm-no")

    def on_mount(self) -> None:
        self.query_one("#confirm-box", Vertical).border_title = self._title
        self.query_one("#confirm-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, answer: bool) -> None:
        """Close the dialog with ``answer``."""
        self.dismiss(answer)


@dataclass(frozen=True, slots=True)
class HelpEntry:
    """One key binding as the help lists it."""

    keys: str
    description: str
    enabled: bool


class HelpScreen(ModalScreen[None]):
    """The key bindings of the screen underneath, generated from its ``BINDINGS``."""

    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def __init__(self, title: str, entries: Iterable[HelpEntry], *, note: str = "") -> None:
        super().__init__()
        self._title = title
        self._entries = list(entries)
        self._note = note

    def compose(self) -> ComposeResult:
        text = Text()
        width = max((len(entry.keys) for entry in self._entries), default=4) + 2
        for entry in self._entries:
            style = "" if entry.enabled else "dim"
            text.append(f"{entry.keys:>{width}}  ", style="bold" if entry.enabled else "dim")
            text.append(entry.description, style=style)
            if not entry.enabled:
                text.append("  (read-only)", style="dim italic")
            text.append("\n")
        if self._note:
            text.append(f"\n{self._note}", style="italic")
        with Vertical(id="help-box", classes="dialog"):
            with VerticalScroll():
                yield Static(text, id="help-text")
            yield Static("escape closes", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#help-box", Vertical).border_title = self._title

    def action_close(self) -> None:
        """Close the help."""
        self.dismiss(None)


def help_entries(screen: Screen[Any], extra: Iterable[HelpEntry] = ()) -> list[HelpEntry]:
    """The bindings of ``screen`` and the app that apply right now, in declaration order.

    Bindings hidden on this tab are left out; bindings greyed out (``--read-only``)
    are listed as such. The focused widget's own keys (cursor movement) and the keys
    every Textual app has are not repeated here.
    """
    keys: dict[str, list[str]] = {}
    enabled: dict[str, bool] = {}
    # Only actions the screen and the app bind themselves, not the ones every Textual
    # screen and app inherit (focus cycling, copy), which would crowd them out. An
    # action keeps all its keys (q and the inherited ctrl+q both quit).
    own_actions = {
        binding.action
        for node in (type(screen), type(screen.app))
        for binding in node.__dict__.get("BINDINGS", [])
        if isinstance(binding, Binding)
    }
    for active in screen.active_bindings.values():
        binding = active.binding
        if binding.action not in own_actions or active.node not in (screen, screen.app):
            continue
        if not binding.description:
            continue
        # Several keys for one action (q and ctrl+q both quit) make one line.
        display = screen.app.get_key_display(binding)
        if display not in keys.setdefault(binding.description, []):
            keys[binding.description].append(display)
        enabled[binding.description] = enabled.get(binding.description, False) or active.enabled
    entries = [
        HelpEntry(", ".join(shown), description, enabled[description])
        for description, shown in keys.items()
    ]
    entries.extend(extra)
    return entries
