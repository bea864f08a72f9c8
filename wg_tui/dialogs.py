"""Modal dialogs: the confirmation before destructive actions, the queue picker, and
the key help.

While one of them is open the dashboard does not refresh (it only refreshes when it is
the screen on top), so what the dialog states stays what the operator confirms.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, OptionList, Static
from textual.widgets.option_list import Option

from wg_core import QueueInfo

__all__ = [
    "ALL_QUEUES",
    "READ_ONLY_HELP",
    "ConfirmScreen",
    "HelpEntry",
    "HelpScreen",
    "QueuePickerScreen",
    "help_entries",
]

READ_ONLY_HELP = (
    "Read-only (--read-only): the keys that retry, run, cancel, delete, purge, pause or stop "
    "are hidden, and pressing one says so."
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


ALL_QUEUES: Final = ""
"""What the queue picker returns for "every queue" (no filter)."""


class QueuePickerScreen(ModalScreen[str | None]):
    """Pick the queue the job tabs show: dismisses with its name, ``ALL_QUEUES`` for
    every queue, or ``None`` when cancelled. The current choice is highlighted."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, queues: Sequence[QueueInfo], current: str | None) -> None:
        super().__init__()
        self._queues = list(queues)
        self._current = current

    def compose(self) -> ComposeResult:
        options = [Option(Text("every queue", style="italic"), id=ALL_QUEUES)]
        for queue in self._queues:
            label = Text(f"{queue.name:<24}", style="bold")
            counts = queue.counts
            label.append(
                f" {counts.queued:>7,} pending  {counts.retry:>5,} retry  {counts.dead:>5,} dead",
                style="dim",
            )
            if queue.paused:
                label.append("  paused", style="bold yellow")
            options.append(Option(label, id=queue.name))
        with Vertical(id="queue-box", classes="dialog"):
            yield OptionList(*options, id="queue-options")
            yield Static("enter picks · escape cancels", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#queue-box", Vertical).border_title = "Show the jobs of"
        options = self.query_one(OptionList)
        names = [ALL_QUEUES, *(queue.name for queue in self._queues)]
        current = self._current or ALL_QUEUES
        options.highlighted = names.index(current) if current in names else 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id or ALL_QUEUES)

    def action_cancel(self) -> None:
        """Close without changing the filter."""
        self.dismiss(None)


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
    entries = _one_line_for_the_tabs(entries)
    entries.extend(extra)
    return entries


def _one_line_for_the_tabs(entries: list[HelpEntry]) -> list[HelpEntry]:
    """The tab keys (``1`` Overview tab … ``0`` Queues tab) as one entry: ten lines of
    them would push the rest of the help out of a 36-line terminal."""
    tabs = [entry for entry in entries if entry.description.endswith(" tab")]
    if len(tabs) < 2:
        return entries
    names = ", ".join(entry.description.removesuffix(" tab").lower() for entry in tabs)
    merged = HelpEntry(f"{tabs[0].keys}–{tabs[-1].keys}", f"Tabs: {names}", True)
    at = entries.index(tabs[0])
    rest = [entry for entry in entries if entry not in tabs]
    return [*rest[:at], merged, *rest[at:]]
