"""The dashboard screen: the overview, one tab per state, the workers, the named queues,
and the actions.

The screen owns the state (which page of which tab, the filters, the selection, the
throughput history) and calls the client; widgets are passive. The actions that write
live in ``wg_tui.controls`` (the base class), fed by this screen's hooks.

Refreshing: a timer ticks every ``refresh_every`` seconds; a tick starts a refresh only
when this screen is on top (no refresh under a dialog or the job detail) and no refresh
is already running. The refresh runs in an exclusive worker, so a newer one (after a tab
switch, say) cancels a stale one, and fetches only what the visible tab shows. When the
backend fails, the error goes to the status line and the following ticks are skipped with
exponential backoff (up to ~30 s); the tables keep their last data, and the first refresh
that succeeds clears the error.
"""

from __future__ import annotations

import math
from contextlib import suppress
from dataclasses import replace
from typing import Final

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane

from wg_core import JobState, QueueInfo
from wg_tui.captions import describe_filters, groups_caption, page_caption, queues_caption
from wg_tui.columns import describe_error, group_row, job_row, queue_row, worker_row
from wg_tui.controls import WRITE_ACTIONS, ControlledScreen, read_only_notice, write_binding
from wg_tui.detail import JobDetailScreen
from wg_tui.dialogs import (
    ALL_QUEUES,
    READ_ONLY_HELP,
    HelpEntry,
    HelpScreen,
    QueuePickerScreen,
    help_entries,
)
from wg_tui.error_groups import ErrorGroups
from wg_tui.settings import TuiSettings
from wg_tui.snapshot import (
    FIND_PER_STATE,
    STATE_TABS,
    JobPage,
    PageRequest,
    QueueThroughput,
    Snapshot,
    Throughput,
    find_jobs,
    take_snapshot,
)
from wg_tui.widgets import (
    ErrorGroupTable,
    FilterBar,
    JobTable,
    OverviewPanel,
    QueueTable,
    StatusBar,
    WorkerTable,
)

__all__ = ["DashboardScreen"]

_STATE_TAB_IDS: Final = frozenset(state.value for state in STATE_TABS)
_REMOVABLE: Final = frozenset({"queued", "scheduled", "retry", "dead"})
_BUT_QUEUES: Final = frozenset({"overview", "workers", *_STATE_TAB_IDS})

_APPLIES_TO: Final[dict[str, frozenset[str]]] = {
    "retry": frozenset({"dead", "retry"}),
    "run_now": frozenset({"scheduled", "retry"}),
    "delete": _REMOVABLE,
    "purge": _REMOVABLE,
    "retry_all": frozenset({"dead", "retry"}),
    "stop_worker": frozenset({"workers"}),
    # On the queues tab, p pauses the highlighted queue instead of the namespace.
    "toggle_pause": _BUT_QUEUES,
    "toggle_queue_pause": frozenset({"queues"}),
    "pick_queue": frozenset({"queues", *_STATE_TAB_IDS}),
    "toggle_order": _STATE_TAB_IDS,
    "page": _STATE_TAB_IDS,
    "toggle_select": _STATE_TAB_IDS,
    "filter": _STATE_TAB_IDS,
    "focus_table": _STATE_TAB_IDS,
    "toggle_groups": frozenset({"dead"}),
}
"""Actions that make sense on some tabs only (hidden elsewhere)."""

_JOB_LIST_ONLY: Final = frozenset({"toggle_select", "toggle_order", "page", "run_now"})
"""Actions on a list of jobs, hidden while the dead tab shows error groups."""


_BACKOFF_CAP: Final = 30.0


def _unless_closing() -> suppress:
    """Skip UI updates when the app is closing under a refresh that was in flight.

    On exit Textual removes the screen's children before it cancels the screen's
    workers, so a refresh that completes in between finds its widgets gone.
    """
    return suppress(NoMatches)


class DashboardScreen(ControlledScreen):
    """Overview, state tabs and workers, refreshed in the background."""

    BINDINGS = [
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("ctrl+r", "refresh_now", "Refresh"),
        Binding("1", "show_tab('overview')", "Overview tab", show=False),
        Binding("2", "show_tab('queued')", "Queued tab", show=False),
        Binding("3", "show_tab('scheduled')", "Scheduled tab", show=False),
        Binding("4", "show_tab('retry')", "Retry tab", show=False),
        Binding("5", "show_tab('running')", "Running tab", show=False),
        Binding("6", "show_tab('dead')", "Dead tab", show=False),
        Binding("7", "show_tab('workers')", "Workers tab", show=False),
        Binding("8", "show_tab('queues')", "Queues tab", show=False),
        Binding("slash", "filter", "Search", key_display="/"),
        Binding("f", "pick_queue", "Queue filter"),
        Binding("g", "toggle_groups", "Group by error"),
        Binding("escape", "focus_table", "Leave the filter", show=False),
        Binding("o", "toggle_order", "Newest first", show=False),
        Binding("left_square_bracket", "page(-1)", "Previous page", key_display="[", show=False),
        Binding("right_square_bracket", "page(1)", "Next page", key_display="]", show=False),
        Binding("space", "toggle_select", "Select", show=False),
        Binding("r", "retry", "Retry"),
        Binding("n", "run_now", "Run now"),
        Binding("d", "delete", "Delete"),
        Binding("A", "retry_all", "Retry all", key_display="A"),
        Binding("P", "purge", "Purge", key_display="P"),
        Binding("p", "toggle_pause", "Pause/resume"),
        Binding("p", "toggle_queue_pause", "Pause/resume queue"),
        Binding("s", "stop_worker", "Stop worker"),
    ]

    def __init__(self, settings: TuiSettings) -> None:
        super().__init__(settings)
        self._tab = "overview"
        self._requests = {
            state: PageRequest(state=state, limit=settings.page_size) for state in STATE_TABS
        }
        self._job_name = ""
        self._error_contains = ""
        self._text = ""
        self._queue: str | None = None
        self._grouped = False
        self._selected: dict[JobState, set[str]] = {state: set() for state in STATE_TABS}
        self._pages: dict[JobState, JobPage] = {}
        self._throughput = Throughput()
        self._queue_rates = QueueThroughput()
        self._snapshot: Snapshot | None = None
        self._error: str | None = None
        self._failures = 0
        self._skip_ticks = 0
        self._refresh_serial = 0
        self._refreshing = False

    # -- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with TabbedContent(initial="overview", id="tabs"):
            with TabPane("Overview", id="overview"):
                yield OverviewPanel(id="overview-panel")
            for state in STATE_TABS:
                with TabPane(state.value.capitalize(), id=state.value):
                    yield JobTable(id=f"table-{state.value}")
                    if state is JobState.DEAD:
                        yield ErrorGroupTable(id="table-groups")
                    yield Static(id=f"page-{state.value}", classes="page-info")
            with TabPane("Workers", id="workers"):
                yield WorkerTable(id="table-workers")
            with TabPane("Queues", id="queues"):
                yield QueueTable(id="table-queues")
                yield Static(id="page-queues", classes="page-info")
        yield FilterBar(cursor_blink=self._settings.cursor_blink, id="filter")
        yield Footer()

    def on_mount(self) -> None:
        for state in STATE_TABS:
            self._table(state).use_state_columns(state)
        self.query_one(FilterBar).display = False
        self.query_one(ErrorGroupTable).display = False
        self._show_status()
        self.refresh_data()
        if self._settings.refresh_every:
            self.set_interval(self._settings.refresh_every, self._tick)

    # -- refreshing ------------------------------------------------------------------------

    @property
    def snapshot(self) -> Snapshot | None:
        """What the last successful refresh saw."""
        return self._snapshot

    @property
    def error(self) -> str | None:
        """The last refresh's error, until a refresh succeeds."""
        return self._error

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
        """Fetch what the visible tab needs and show it (cancels a refresh in flight)."""
        self._refresh_serial += 1
        serial = self._refresh_serial
        self._refreshing = True
        tab = self._tab
        state = JobState(tab) if tab in _STATE_TAB_IDS else None
        try:
            snapshot = await take_snapshot(
                self._client,
                clock=self._settings.clock,
                page=self._requests[state] if state is not None else None,
                workers=tab in ("overview", "workers"),
                groups=state is JobState.DEAD and self._grouped,
                queues=tab == "queues",
                queue=self._queue,
            )
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
        self._throughput.add(snapshot.taken_at, snapshot.counters)
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

    def _show(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        self._show_status()
        for state in STATE_TABS:
            count = snapshot.shown_count(state)
            self._label_tab(state.value, f"{state.value.capitalize()} {count:,}")
        if snapshot.queues is not None:
            self._show_queues(snapshot.queues, snapshot)
        if snapshot.workers is not None:
            self._label_tab("workers", f"Workers {len(snapshot.workers)}")
            self.query_one(WorkerTable).show(
                [worker_row(worker, snapshot.taken_at) for worker in snapshot.workers]
            )
            self.query_one(OverviewPanel).show(
                snapshot,
                self._throughput,
                url=self._settings.display_url,
                namespace=self._settings.namespace,
            )
        if snapshot.page is not None:
            self._show_page(snapshot.page, snapshot)
        if snapshot.groups is not None and self._grouped:
            self._show_groups(snapshot.groups, snapshot.taken_at)

    def _show_queues(self, queues: tuple[QueueInfo, ...], snapshot: Snapshot) -> None:
        # Throughput per queue: its processed counter's change since the last refresh
        # that read the queues (this tab's refreshes).
        self._queue_rates.add(snapshot.taken_at, queues)
        self._label_tab("queues", f"Queues {len(queues)}")
        rows = [queue_row(queue, self._queue_rates.rate(queue.name)) for queue in queues]
        self.query_one(QueueTable).show(rows)
        caption = queues_caption(
            len(queues), namespace_paused=snapshot.paused, read_only=self._settings.read_only
        )
        self.query_one("#page-queues", Static).update(caption)

    def _show_groups(self, groups: ErrorGroups, now: float) -> None:
        self.query_one(ErrorGroupTable).show([group_row(group, now) for group in groups.groups])
        filters = describe_filters(self._text, self._job_name, self._error_contains, self._queue)
        self.query_one("#page-dead", Static).update(groups_caption(groups, filters=filters))

    def _label_tab(self, pane_id: str, label: str) -> None:
        # Relabelling makes the tab bar lay itself out again: only when the text changes.
        tab = self.query_one(TabbedContent).get_tab(pane_id)
        if tab.label.plain != label:
            tab.label = label

    def _show_page(self, page: JobPage, snapshot: Snapshot) -> None:
        state = page.request.state
        if page.request != self._requests[state]:
            return  # fetched for an order, page or filter the operator has since changed
        if not page.jobs and page.request.offset > 0:
            # The jobs of this page left the state: step back rather than show nothing.
            self._requests[state] = page.request.previous_page()
            self.call_later(self.refresh_data)
            return
        self._pages[state] = page
        self._selected[state] &= {job.job_id for job in page.jobs}
        self._render_page(state)
        self._show_page_info(state, page, snapshot)

    def _render_page(self, state: JobState) -> None:
        page = self._pages.get(state)
        if page is None:
            return
        now = self._snapshot.taken_at if self._snapshot else self._settings.clock()
        self._table(state).show([job_row(job, now) for job in page.jobs], self._selected[state])

    def _show_page_info(self, state: JobState, page: JobPage, snapshot: Snapshot) -> None:
        caption = page_caption(
            page,
            snapshot.shown_count(state),
            filters=self._filter_text() if page.request.filtered else "",
            queue=page.request.queue,
            selected=len(self._selected[state]),
        )
        self.query_one(f"#page-{state.value}", Static).update(caption)

    def _filter_text(self) -> str:
        return describe_filters(self._text, self._job_name, self._error_contains)

    def _show_status(self) -> None:
        every = self._settings.refresh_every
        retry_in = (self._skip_ticks + 1) * every if self._error and every else None
        self.query_one(StatusBar).show(
            namespace=self._settings.namespace,
            url=self._settings.display_url,
            error=self._error,
            refreshed_at=self._snapshot.taken_at if self._snapshot else None,
            paused=self._snapshot.paused if self._snapshot else None,
            read_only=self._settings.read_only,
            retry_in=retry_in,
            queue=self._queue,
        )

    # -- navigation ------------------------------------------------------------------------

    def _table(self, state: JobState) -> JobTable:
        return self.query_one(f"#table-{state.value}", JobTable)

    def _active_state(self) -> JobState | None:
        return JobState(self._tab) if self._tab in _STATE_TAB_IDS else None

    @on(TabbedContent.TabActivated)
    def _tab_changed(self, event: TabbedContent.TabActivated) -> None:
        self._tab = event.pane.id or "overview"
        self.query_one(FilterBar).display = self._tab in _STATE_TAB_IDS
        self.refresh_bindings()
        state = self._active_state()
        if state is not None:
            self._focus_table(state)
        elif self._tab == "workers":
            self.query_one(WorkerTable).focus()
        elif self._tab == "queues":
            self.query_one(QueueTable).focus()
        self.refresh_data()

    def _applies(self, action: str) -> bool:
        if self._grouped and self._tab == "dead" and action in _JOB_LIST_ONLY:
            return False
        tabs = _APPLIES_TO.get(action)
        return tabs is None or self._tab in tabs

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide actions that do not apply to the visible tab, and writes when read-only."""
        if not self._applies(action):
            return False
        return not (action in WRITE_ACTIONS and self._settings.read_only)

    def on_key(self, event: events.Key) -> None:
        """Read-only: a write key of this tab says so rather than doing nothing."""
        if not self._settings.read_only:
            return
        binding = write_binding(self, event.key, self._applies)
        if binding is not None:
            event.stop()
            self.notify(read_only_notice(binding), severity="warning", timeout=3)

    def action_show_tab(self, tab: str) -> None:
        """Switch to a tab by id."""
        self.query_one(TabbedContent).active = tab

    def action_refresh_now(self) -> None:
        """Refresh now, even while backing off."""
        self._skip_ticks = 0
        self.refresh_data()

    def action_help(self) -> None:
        """Show the keys of this tab."""
        note = READ_ONLY_HELP if self._settings.read_only else ""
        extra = (
            [HelpEntry("enter", "Job details", True)] if self._active_state() is not None else []
        )
        self.app.push_screen(HelpScreen("Keys", help_entries(self, extra), note=note))

    def action_filter(self) -> None:
        """Edit the job-name and error filters (Enter applies them)."""
        self.query_one(FilterBar).focus_first()

    def action_focus_table(self) -> None:
        """Put the keyboard back in the visible tab's table."""
        state = self._active_state()
        if state is not None:
            self._focus_table(state)

    def _focus_table(self, state: JobState) -> None:
        if state is JobState.DEAD and self._grouped:
            self.query_one(ErrorGroupTable).focus()
        else:
            self._table(state).focus()

    def action_toggle_groups(self) -> None:
        """Show the dead jobs grouped by error (type and message), or the jobs again."""
        self._set_grouped(not self._grouped)
        self.refresh_data()

    def _set_grouped(self, grouped: bool) -> None:
        self._grouped = grouped
        self._table(JobState.DEAD).display = not grouped
        self.query_one(ErrorGroupTable).display = grouped
        self._focus_table(JobState.DEAD)

    def _highlighted_group(self) -> str | None:
        """The error group under the cursor, when the dead tab shows groups."""
        if not (self._grouped and self._tab == "dead"):
            return None
        return self.query_one(ErrorGroupTable).cursor_key

    @on(FilterBar.Changed)
    def _filters_changed(self, event: FilterBar.Changed) -> None:
        # A search decides itself where the keyboard goes: focusing this tab's table
        # now would pull the tabs back here after the search moved to another.
        searching = bool(event.text)
        self._apply_filters(event.job_name, event.error_contains, event.text, focus=not searching)
        if searching:
            self._find(event.text)

    def _apply_filters(
        self, job_name: str, error_contains: str, text: str, *, focus: bool = True
    ) -> None:
        self._job_name = job_name
        self._error_contains = error_contains
        self._text = text
        for state, request in self._requests.items():
            self._requests[state] = replace(
                request,
                offset=0,
                job_name=job_name or None,
                error_contains=error_contains or None,
                text_contains=text or None,
                queue=self._queue,
            )
            self._selected[state].clear()
        active = self._active_state()
        if active is not None and focus:
            self._focus_table(active)
        self.refresh_data()

    def action_pick_queue(self) -> None:
        """Choose the queue whose jobs the state tabs show (or every queue)."""
        self._pick_queue()

    @work(exclusive=True, group="pick-queue")
    async def _pick_queue(self) -> None:
        try:
            queues = await self._client.queues()
        except Exception as exc:
            self.notify(describe_error(exc), title="Queues", severity="error")
            return
        choice = await self.app.push_screen_wait(QueuePickerScreen(queues, self._queue))
        if choice is not None:
            self.set_queue_filter(None if choice == ALL_QUEUES else choice)

    def set_queue_filter(self, queue: str | None) -> None:
        """Narrow the state tabs to ``queue``'s jobs (``None``: every queue)."""
        self._queue = queue
        self._show_status()
        self._apply_filters(self._job_name, self._error_contains, self._text)

    @property
    def queue_filter(self) -> str | None:
        """The queue the state tabs are narrowed to, if any."""
        return self._queue

    @work(exclusive=True, group="find")
    async def _find(self, text: str) -> None:
        """Search every state: open the job if exactly one matches, else go to a tab
        that has matches and say where the others are."""
        active = self._active_state()
        try:
            result = await find_jobs(self._client, text)
        except Exception as exc:
            self.notify(describe_error(exc), title="Search failed", severity="error")
            result = None
        states = [] if result is None else result.states
        if active is not None and active not in states and states:
            self.action_show_tab(states[0].value)  # which focuses its table
        elif active is not None:
            self._focus_table(active)
        if result is None:
            return
        if result.only is not None:
            self.app.push_screen(JobDetailScreen(self._settings, result.only.job_id))
            return
        if not states:
            self.notify(f"No job matches {text!r}.", severity="warning", timeout=4)
            return
        where = ", ".join(
            f"{state.value} ({len(result.found[state])}"
            f"{'+' if len(result.found[state]) >= FIND_PER_STATE else ''})"
            for state in states
        )
        self.notify(f"{text!r} matches jobs in: {where}.", timeout=5)

    def action_toggle_order(self) -> None:
        """Flip between oldest-first and newest-first."""
        state = self._active_state()
        if state is None:
            return
        request = self._requests[state]
        self._requests[state] = replace(request, newest_first=not request.newest_first, offset=0)
        self._selected[state].clear()
        self.refresh_data()

    def action_page(self, step: int) -> None:
        """Go to the next (``step`` > 0) or previous page."""
        state = self._active_state()
        if state is None:
            return
        request = self._requests[state]
        page = self._pages.get(state)
        if step > 0:
            if page is None or not page.has_next:
                self.notify("This is the last page.", timeout=2)
                return
            self._requests[state] = request.next_page()
        else:
            if request.offset == 0:
                self.notify("This is the first page.", timeout=2)
                return
            self._requests[state] = request.previous_page()
        self._selected[state].clear()
        self.refresh_data()

    def action_toggle_select(self) -> None:
        """Select or unselect the job under the cursor, then move down."""
        state = self._active_state()
        if state is None:
            return
        table = self._table(state)
        key = table.cursor_key
        if key is None:
            return
        self._selected[state] ^= {key}
        self._render_page(state)
        if self._snapshot is not None and state in self._pages:
            self._show_page_info(state, self._pages[state], self._snapshot)
        table.action_cursor_down()

    @on(DataTable.RowSelected)
    def _open_job(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is None:
            return
        key = str(event.row_key.value)
        if isinstance(event.data_table, ErrorGroupTable):
            # A group's jobs: the job list, filtered by the group's error.
            self.query_one(FilterBar).set_error(key)
            self._set_grouped(False)
            self._apply_filters(self._job_name, key, self._text)
        elif isinstance(event.data_table, QueueTable):
            # A queue's jobs: the state tabs narrowed to it, from its waiting jobs.
            self.set_queue_filter(key)
            self.action_show_tab(JobState.QUEUED.value)
        elif isinstance(event.data_table, JobTable):
            self.app.push_screen(JobDetailScreen(self._settings, key))

    # -- what the controls act on (hooks of ControlledScreen) -------------------------------

    def _targets(self, state: JobState) -> list[str]:
        """The selected jobs in table order, else the job under the cursor."""
        table = self._table(state)
        if self._selected[state]:
            return [key for key in table.row_keys if key in self._selected[state]]
        key = table.cursor_key
        return [key] if key is not None else []

    def _highlighted_worker(self) -> str | None:
        """The worker pool under the cursor of the workers tab."""
        return self.query_one(WorkerTable).cursor_key

    def _highlighted_queue(self) -> str | None:
        """The named queue under the cursor of the queues tab."""
        return self.query_one(QueueTable).cursor_key

    def _queue_filter(self) -> str | None:
        return self._queue

    def _filters(self) -> tuple[str | None, str | None, str | None]:
        """The job-name, error and search filters (``None`` when unset)."""
        return self._job_name or None, self._error_contains or None, self._text or None

    def _done(self, state: JobState | None) -> None:
        """After a write: forget the selection and show the result."""
        if state is not None:
            self._selected[state].clear()
        self.refresh_data()
