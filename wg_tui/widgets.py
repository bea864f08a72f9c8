"""Passive widgets: each is handed data through ``update(...)`` and posts small messages.

None of them talks to the backend or keeps the dashboard's state; the screens do
(``wg_tui.screens``). Styling lives in ``wg_tui.tcss``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, Static
from textual.widgets.data_table import RowKey

from wg_core import JobState, WorkerInfo
from wg_tui.columns import (
    GROUP_COLUMNS,
    PERIODIC_COLUMNS,
    QUEUE_COLUMNS,
    WORKER_COLUMNS,
    GroupRow,
    PeriodicRow,
    QueueRow,
    WorkerRow,
    format_age,
    format_clock,
    format_duration,
    sparkline,
)
from wg_tui.job_rows import JOB_COLUMNS, JobRow
from wg_tui.snapshot import STATE_TABS, Snapshot, Throughput, worker_is_stale

__all__ = [
    "ErrorGroupTable",
    "FilterBar",
    "JobTable",
    "OverviewPanel",
    "PeriodicTable",
    "QueueTable",
    "StatusBar",
    "WorkerTable",
]

_SELECTED = "●"
_OVERVIEW_WORKERS = 8
SPARK_WIDTH = 60
"""Refreshes the overview's sparklines show (one column each, newest on the right):
processed and failed attempts per second, and the jobs queued."""


class StatusBar(Static):
    """The top line: where we are connected, whether it works, when we last looked."""

    def show(
        self,
        *,
        namespace: str,
        url: str,
        error: str | None,
        refreshed_at: float | None,
        paused: bool | None,
        read_only: bool,
        retry_in: float | None = None,
        queue: str | None = None,
    ) -> None:
        """Render the line. ``error`` replaces the connection state while set; ``queue``:
        the job tabs are narrowed to that queue (f changes it)."""
        line = Text()
        line.append(" wg ", style="bold reverse")
        line.append(f" {namespace} ", style="bold")
        line.append(f"@ {url}  ")
        if error is not None:
            line.append("● ", style="bold red")
            line.append(error, style="red")
            if retry_in is not None:
                line.append(f" · retrying in {format_duration(retry_in)}", style="red")
        elif refreshed_at is None:
            line.append("○ connecting…", style="yellow")
        else:
            line.append("● connected", style="bold green")
        if refreshed_at is not None:
            line.append(f"  {format_clock(refreshed_at)} UTC", style="dim")
        if paused:
            line.append("  ")
            line.append(" PAUSED ", style="bold black on yellow")
        if queue is not None:
            line.append("  ")
            line.append(f" queue {queue} ", style="bold black on magenta")
        if read_only:
            line.append("  ")
            line.append(" READ-ONLY ", style="bold black on cyan")
        self.set_class(error is not None, "-error")
        self.update(line)


class OverviewPanel(Vertical):
    """Counts per state, queue age, throughput sparklines and the worker summary."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="overview-top"):
            yield Static(id="overview-counts", classes="box")
            yield Static(id="overview-facts", classes="box")
        with Vertical(id="overview-throughput", classes="box"):
            yield Static(id="spark-processed", classes="spark")
            yield Static(id="spark-failed", classes="spark")
            yield Static(id="spark-queued", classes="spark")
            yield Static(id="overview-rates")
        yield Static(id="overview-workers", classes="box")

    def on_mount(self) -> None:
        self.query_one("#overview-counts", Static).border_title = "Jobs"
        self.query_one("#overview-facts", Static).border_title = "Namespace"
        self.query_one("#overview-throughput", Vertical).border_title = "Throughput"
        self.query_one("#overview-workers", Static).border_title = "Workers"

    def show(self, snapshot: Snapshot, throughput: Throughput, *, url: str, namespace: str) -> None:
        """Render ``snapshot`` (with the worker registry) and the throughput so far."""
        counts = Text()
        for state in STATE_TABS:
            style = "bold red" if state.value == "dead" and snapshot.count(state) else "bold"
            counts.append(f"{state.value:<10}")
            counts.append(f"{snapshot.count(state):>10,}\n", style=style)
        # StateCounts.total leaves the history out: say so, as the lines above add up to more.
        counts.append(f"{'unfinished':<10}{snapshot.counts.total:>10,}", style="dim")
        self.query_one("#overview-counts", Static).update(counts)

        facts = Text()
        age = snapshot.oldest_queued_age
        facts.append("oldest queued   ")
        facts.append("—" if age is None else format_duration(age), style="bold")
        facts.append("\nworkers alive   ")
        alive = snapshot.workers_alive()
        total = len(snapshot.workers) if snapshot.workers is not None else None
        facts.append("—" if alive is None else f"{alive} of {total}", style="bold")
        facts.append("\nclaiming        ")
        if snapshot.paused:
            facts.append("paused", style="bold yellow")
        else:
            facts.append("active", style="bold green")
        facts.append(f"\nnamespace       {namespace}")
        facts.append(f"\nbackend         {url}")
        facts.append(f"\nprocessed       {snapshot.counters.processed:,}")
        facts.append(f"\nfailed          {snapshot.counters.failed:,}")
        self.query_one("#overview-facts", Static).update(facts)

        processed, failed = throughput.processed(), throughput.failed()
        self._spark("#spark-processed", "processed/s", throughput.processed_per_second(), "green")
        self._spark("#spark-failed", "failed/s", throughput.failed_per_second(), "red")
        self._spark("#spark-queued", "queued", throughput.queued(), "cyan", unit="")
        rates = throughput.rates()
        line = Text()
        if rates is None:
            line.append("rates appear after two refreshes", style="dim")
        else:
            line.append(f"{rates[0]:.1f} processed/s", style="bold green")
            line.append("   ")
            line.append(f"{rates[1]:.1f} failed/s", style="bold red" if rates[1] else "bold")
            line.append(f"   over the last {len(processed)} intervals: ", style="dim")
            line.append(f"{sum(processed):,} processed, {sum(failed):,} failed", style="dim")
        self.query_one("#overview-rates", Static).update(line)
        self.query_one("#overview-workers", Static).update(
            _workers_summary(snapshot.workers or (), snapshot.taken_at)
        )

    def _spark(
        self, selector: str, label: str, values: Sequence[float], colour: str, *, unit: str = "/s"
    ) -> None:
        widget = self.query_one(selector, Static)
        line = Text(no_wrap=True, overflow="crop")
        line.append(f"{label:<12}", style="bold")
        line.append(sparkline(values, SPARK_WIDTH), style=f"{colour} on grey15")
        peak = max(values, default=0)
        shown = f"{peak:,.1f}" if unit else f"{peak:,.0f}"
        line.append(f"  peak {shown:>8}{unit}", style="dim")
        widget.update(line)


def _workers_summary(workers: Sequence[WorkerInfo], now: float) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    if not workers:
        text.append("no worker has registered in this namespace", style="dim")
        return text
    shown = workers[:_OVERVIEW_WORKERS]
    for index, worker in enumerate(shown):
        stale = worker_is_stale(worker, now)
        text.append("● ", style="bold red" if stale else "bold green")
        text.append(f"{worker.worker_id:<28}", style="bold")
        text.append(f"running {worker.running}/{worker.concurrency:<4}")
        text.append(f"  heartbeat {format_age(worker.last_seen, now)} ago")
        if stale:
            text.append(" (stale)", style="bold red")
        if worker.stop_requested or worker.state == "draining":
            text.append("  draining", style="yellow")
        if index < len(shown) - 1:
            text.append("\n")
    if len(workers) > len(shown):
        text.append(f"\n… and {len(workers) - len(shown)} more (tab 9)", style="dim")
    return text


class _KeyedTable(DataTable[Text | str]):
    """A ``DataTable`` whose rows are keyed by id and updated in place.

    ``DataTable.clear()`` would reset the cursor, so a refresh with the same rows in
    the same order only rewrites changed cells; when rows come, go or move, the table
    is rebuilt and the cursor put back on the row it was on (or, if that row left,
    at the same position).
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._order: list[str] = []

    @property
    def cursor_key(self) -> str | None:
        """The id of the row under the cursor."""
        if not self._order or not 0 <= self.cursor_row < len(self._order):
            return None
        return self._order[self.cursor_row]

    @property
    def row_keys(self) -> list[str]:
        """Ids of the rows shown, top to bottom."""
        return list(self._order)

    def set_columns(self, titles: Sequence[str], *, right: Collection[str] = ()) -> None:
        """Replace the columns (and drop every row); the ``right`` ones are numbers,
        their titles aligned on the right as their cells are."""
        self.clear(columns=True)
        self._order = []
        for title in titles:
            label = Text(title, justify="right") if title in right else title
            self.add_column(label, key=title)

    def _apply(self, rows: Sequence[tuple[str, tuple[Text | str, ...]]]) -> None:
        keys = [key for key, _ in rows]
        columns = list(self.columns)
        if keys == self._order:
            for key, cells in rows:
                current = self.get_row(key)
                for column, old, new in zip(columns, current, cells, strict=True):
                    if old != new:
                        self.update_cell(key, column, new)
            return
        cursor_key, cursor_row = self.cursor_key, self.cursor_row
        scroll_y = self.scroll_y
        self.clear()
        for key, cells in rows:
            self.add_row(*cells, key=key)
        self._order = keys
        if not keys:
            return
        target = keys.index(cursor_key) if cursor_key in keys else min(cursor_row, len(keys) - 1)
        self.move_cursor(row=target, scroll=False)
        self.scroll_to(y=scroll_y, animate=False, immediate=True)


class JobTable(_KeyedTable):
    """One page of one state. Selected rows carry a ``●`` in the first column."""

    def show(self, rows: Sequence[JobRow], selected: Collection[str]) -> None:
        """Show ``rows`` (keyed by job id), marking ``selected`` ids."""
        self._apply(
            [
                (
                    row.key,
                    (
                        Text(_SELECTED if row.key in selected else " ", style="bold yellow"),
                        *(
                            Text(cell, style="red")
                            if row.failed and title == "last error"
                            else cell
                            for title, cell in zip(self._titles(), row.cells, strict=True)
                        ),
                    ),
                )
                for row in rows
            ]
        )

    def _titles(self) -> list[str]:
        return [str(column.label) for column in self.columns.values()][1:]

    def use_state_columns(self, state: JobState) -> None:
        """The columns of ``state``'s tab."""
        self.set_columns((" ", *JOB_COLUMNS[state]))


class ErrorGroupTable(_KeyedTable):
    """The dead jobs grouped by error: one row per group, keyed by the error line."""

    def on_mount(self) -> None:
        self.set_columns(GROUP_COLUMNS)

    def show(self, rows: Sequence[GroupRow]) -> None:
        """Show the groups, largest first."""
        self._apply(
            [
                (
                    row.key,
                    tuple(
                        Text(cell, style="red") if i == 1 else cell
                        for i, cell in enumerate(row.cells)
                    ),
                )
                for row in rows
            ]
        )


class WorkerTable(_KeyedTable):
    """The worker registry; a stale heartbeat is highlighted."""

    def on_mount(self) -> None:
        self.set_columns(WORKER_COLUMNS)

    def show(self, rows: Sequence[WorkerRow]) -> None:
        """Show the worker pools."""
        self._apply(
            [
                (
                    row.key,
                    tuple(
                        Text(cell, style="bold red") if row.stale and index == 6 else cell
                        for index, cell in enumerate(row.cells)
                    ),
                )
                for row in rows
            ]
        )


class QueueTable(_KeyedTable):
    """The named queues, one row each; a paused queue is highlighted."""

    def on_mount(self) -> None:
        self.set_columns(QUEUE_COLUMNS, right=QUEUE_COLUMNS[1:6] + QUEUE_COLUMNS[7:-1])

    def show(self, rows: Sequence[QueueRow]) -> None:
        """Show the queues (sorted by name, as the core lists them)."""
        paused_column = QUEUE_COLUMNS.index("paused")
        limit_column = QUEUE_COLUMNS.index("limit")
        trends = {
            QUEUE_COLUMNS.index("rate trend"): "green",
            QUEUE_COLUMNS.index("depth trend"): "cyan",
        }

        def cell(index: int, text: str, paused: bool) -> Text | str:
            if index == paused_column:
                return Text(text, style="bold yellow") if paused else text
            if index == limit_column:
                return text
            if index in trends:
                return Text(text, style=f"{trends[index]} on grey15", no_wrap=True)
            # Numbers line up on the right; the name stays on the left.
            return Text(text, justify="right") if index else text

        self._apply(
            [
                (row.key, tuple(cell(i, text, row.paused) for i, text in enumerate(row.cells)))
                for row in rows
            ]
        )


class PeriodicTable(_KeyedTable):
    """The registered periodic entries, one row each (under the scheduled jobs)."""

    def on_mount(self) -> None:
        self.border_title = "Periodic entries"
        self.set_columns(PERIODIC_COLUMNS)

    def show(self, rows: Sequence[PeriodicRow]) -> None:
        """Show the entries (by name, as the core lists them); hidden when none."""
        self.display = bool(rows)
        self._apply([(row.key, row.cells) for row in rows])


class FilterBar(Horizontal):
    """Search and filters for the state tabs; posts ``Changed`` on Enter.

    The search field matches anywhere in a job's stored envelope (id or a fragment of
    it, job name, payload, error); the other two narrow by exact job name and by text
    in the last error.
    """

    class Changed(Message):
        """The operator submitted new filters (empty strings mean no filter)."""

        def __init__(self, job_name: str, error_contains: str, text: str = "") -> None:
            super().__init__()
            self.job_name = job_name
            self.error_contains = error_contains
            self.text = text

    def __init__(self, *, cursor_blink: bool = True, id: str | None = None) -> None:
        super().__init__(id=id)
        self._cursor_blink = cursor_blink

    def compose(self) -> ComposeResult:
        yield Static("search", classes="filter-label")
        text = Input(placeholder="id, fragment or text…", id="filter-text")
        name = Input(placeholder="job name (exact)", id="filter-name")
        error = Input(placeholder="error contains…", id="filter-error")
        for field in (text, name, error):
            field.cursor_blink = self._cursor_blink
        yield text
        yield name
        yield error

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(
            self.Changed(
                self.query_one("#filter-name", Input).value.strip(),
                self.query_one("#filter-error", Input).value.strip(),
                self.query_one("#filter-text", Input).value.strip(),
            )
        )

    def focus_first(self) -> None:
        """Put the keyboard in the search field."""
        self.query_one("#filter-text", Input).focus()

    def set_error(self, error_contains: str) -> None:
        """Put ``error_contains`` in the error field (the screen applies it)."""
        self.query_one("#filter-error", Input).value = error_contains


def row_key_value(key: RowKey) -> str:
    """A ``RowKey``'s string (rows are keyed by job or worker id)."""
    return str(key.value)
