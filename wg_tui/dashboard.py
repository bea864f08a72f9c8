"""The dashboard screen: the overview, one tab per state, the workers, the named queues,
and the actions.

The screen owns the state and calls the client; widgets are passive. What the operator
browses (which page of which tab, the filters, the queue filter, the selection) is a
``wg_tui.browsing.Browsing``: plain state and its rules, no Textual. The throughput
history is the screen's own.

Two base classes do the rest, fed by this screen's hooks: ``wg_tui.refreshing`` runs the
refresh loop (timer, backoff while the backend fails), for which this screen says what
the visible tab needs and shows it; ``wg_tui.controls`` holds the actions that write.
"""

from __future__ import annotations

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane

from wg_core import Counters, JobState, QueueInfo, StateCounts
from wg_tui.browsing import STATE_TAB_IDS, Browsing, PageFate
from wg_tui.captions import groups_caption, page_caption, queues_caption
from wg_tui.columns import describe_error, group_row, periodic_row, queue_row, worker_row
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
from wg_tui.job_rows import job_row
from wg_tui.read_only import WRITE_ACTIONS, read_only_notice, write_binding
from wg_tui.refreshing import RefreshingScreen
from wg_tui.settings import TuiSettings
from wg_tui.snapshot import (
    FIND_PER_STATE,
    STATE_TABS,
    JobPage,
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
    PeriodicTable,
    QueueTable,
    StatusBar,
    WorkerTable,
)

__all__ = ["DashboardScreen"]


class DashboardScreen(RefreshingScreen):
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
        Binding("7", "show_tab('completed')", "Completed tab", show=False),
        Binding("8", "show_tab('cancelled')", "Cancelled tab", show=False),
        Binding("9", "show_tab('workers')", "Workers tab", show=False),
        Binding("0", "show_tab('queues')", "Queues tab", show=False),
        Binding("slash", "filter", "Search", key_display="/"),
        Binding("f", "pick_queue", "Queue filter"),
        Binding("g", "toggle_groups", "Group by error"),
        Binding("escape", "focus_table", "Leave the filter", show=False),
        Binding("o", "toggle_order", "Newest first", show=False),
        Binding("left_square_bracket", "page(-1)", "Previous page", key_display="[", show=False),
        Binding("right_square_bracket", "page(1)", "Next page", key_display="]", show=False),
        Binding("space", "toggle_select", "Select", show=False),
        Binding("r", "retry", "Retry"),
        Binding("r", "rerun", "Run again"),
        Binding("c", "cancel", "Cancel"),
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
        self._browsing = Browsing(settings.page_size)
        self._throughput = Throughput()
        self._queue_rates = QueueThroughput()

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
                    if state is JobState.SCHEDULED:
                        yield PeriodicTable(id="table-periodic")
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
        self._start_refreshing()

    # -- refreshing ------------------------------------------------------------------------

    async def _fetch(self) -> Snapshot:
        browsing = self._browsing
        state = browsing.active_state
        return await take_snapshot(
            self._client,
            clock=self._settings.clock,
            page=browsing.requests[state] if state is not None else None,
            workers=browsing.tab in ("overview", "workers"),
            groups=browsing.shows_groups,
            queues=browsing.tab == "queues",
            queue=browsing.queue,
            periodic=browsing.tab == JobState.SCHEDULED.value,
        )

    def _show(self, snapshot: Snapshot) -> None:
        self._throughput.add(snapshot.taken_at, snapshot.counters, queued=snapshot.counts.queued)
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
        if snapshot.periodic is not None:
            rows = [periodic_row(entry, snapshot.taken_at) for entry in snapshot.periodic]
            self.query_one(PeriodicTable).show(rows)
        if snapshot.page is not None:
            self._show_page(snapshot.page, snapshot)
        if snapshot.groups is not None and self._browsing.grouped:
            self._show_groups(snapshot.groups, snapshot.taken_at)

    def _show_queues(self, queues: tuple[QueueInfo, ...], snapshot: Snapshot) -> None:
        # Throughput per queue: its processed counter's change since the last refresh
        # that read the queues (this tab's refreshes).
        self._queue_rates.add(snapshot.taken_at, queues)
        limits = {limit.queue: limit for limit in snapshot.limits or ()}
        # A limit may be set on a queue that holds nothing yet: it gets a row too.
        listed = {queue.name for queue in queues}
        idle = [QueueInfo(name, StateCounts(), Counters()) for name in limits if name not in listed]
        shown = len(queues) + len(idle)
        self._label_tab("queues", f"Queues {shown}")
        history = self._queue_rates
        rows = [
            queue_row(
                queue,
                history.rate(queue.name),
                limits.get(queue.name),
                history.rates(queue.name),
                history.depths(queue.name),
            )
            for queue in sorted((*queues, *idle), key=lambda queue: queue.name)
        ]
        self.query_one(QueueTable).show(rows)
        caption = queues_caption(
            shown, namespace_paused=snapshot.paused, read_only=self._settings.read_only
        )
        self.query_one("#page-queues", Static).update(caption)

    def _show_groups(self, groups: ErrorGroups, now: float) -> None:
        self.query_one(ErrorGroupTable).show([group_row(group, now) for group in groups.groups])
        filters = self._browsing.filter_text(with_queue=True)
        self.query_one("#page-dead", Static).update(groups_caption(groups, filters=filters))

    def _label_tab(self, pane_id: str, label: str) -> None:
        # Relabelling makes the tab bar lay itself out again: only when the text changes.
        tab = self.query_one(TabbedContent).get_tab(pane_id)
        if tab.label.plain != label:
            tab.label = label

    def _show_page(self, page: JobPage, snapshot: Snapshot) -> None:
        fate = self._browsing.accept(page)
        if fate is PageFate.STEPPED_BACK:
            self.call_later(self.refresh_data)
        if fate is not PageFate.SHOWN:
            return
        state = page.request.state
        self._render_page(state)
        self._show_page_info(state, page, snapshot)

    def _render_page(self, state: JobState) -> None:
        page = self._browsing.pages.get(state)
        if page is None:
            return
        now = self._snapshot.taken_at if self._snapshot else self._settings.clock()
        rows = [job_row(job, now) for job in page.jobs]
        self._table(state).show(rows, self._browsing.selected[state])

    def _show_page_info(self, state: JobState, page: JobPage, snapshot: Snapshot) -> None:
        caption = page_caption(
            page,
            snapshot.shown_count(state),
            filters=self._filter_text() if page.request.filtered else "",
            queue=page.request.queue,
            selected=len(self._browsing.selected[state]),
        )
        self.query_one(f"#page-{state.value}", Static).update(caption)

    def _filter_text(self) -> str:
        return self._browsing.filter_text()

    def _show_status(self) -> None:
        self.query_one(StatusBar).show(
            namespace=self._settings.namespace,
            url=self._settings.display_url,
            error=self._error,
            refreshed_at=self._snapshot.taken_at if self._snapshot else None,
            paused=self._snapshot.paused if self._snapshot else None,
            read_only=self._settings.read_only,
            retry_in=self.retry_in,
            queue=self._browsing.queue,
        )

    # -- navigation ------------------------------------------------------------------------

    def _table(self, state: JobState) -> JobTable:
        return self.query_one(f"#table-{state.value}", JobTable)

    def _active_state(self) -> JobState | None:
        return self._browsing.active_state

    @on(TabbedContent.TabActivated)
    def _tab_changed(self, event: TabbedContent.TabActivated) -> None:
        tab = self._browsing.tab = event.pane.id or "overview"
        self.query_one(FilterBar).display = tab in STATE_TAB_IDS
        self.refresh_bindings()
        state = self._active_state()
        if state is not None:
            self._focus_table(state)
        elif tab == "workers":
            self.query_one(WorkerTable).focus()
        elif tab == "queues":
            self.query_one(QueueTable).focus()
        self.refresh_data()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide actions that do not apply to the visible tab, and writes when read-only."""
        if not self._browsing.applies(action):
            return False
        return not (action in WRITE_ACTIONS and self._settings.read_only)

    def on_key(self, event: events.Key) -> None:
        """Read-only: a write key of this tab says so rather than doing nothing."""
        if not self._settings.read_only:
            return
        binding = write_binding(self, event.key, self._browsing.applies)
        if binding is not None:
            event.stop()
            self.notify(read_only_notice(binding), severity="warning", timeout=3)

    def action_show_tab(self, tab: str) -> None:
        """Switch to a tab by id."""
        self.query_one(TabbedContent).active = tab

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
        if state is JobState.DEAD and self._browsing.grouped:
            self.query_one(ErrorGroupTable).focus()
        else:
            self._table(state).focus()

    def action_toggle_groups(self) -> None:
        """Show the dead jobs grouped by error (type and message), or the jobs again."""
        self._set_grouped(not self._browsing.grouped)
        self.refresh_data()

    def _set_grouped(self, grouped: bool) -> None:
        self._browsing.grouped = grouped
        self._table(JobState.DEAD).display = not grouped
        self.query_one(ErrorGroupTable).display = grouped
        self._focus_table(JobState.DEAD)

    def _highlighted_group(self) -> str | None:
        """The error group under the cursor, when the dead tab shows groups."""
        if not self._browsing.shows_groups:
            return None
        return self.query_one(ErrorGroupTable).cursor_key

    @on(FilterBar.Changed)
    def _filters_changed(self, event: FilterBar.Changed) -> None:
        # A search decides itself where the keyboard goes: focusing this tab's table
        # now would pull the tabs back here after the search moved to another.
        searching = bool(event.text)
        self._browsing.set_filters(event.job_name, event.error_contains, event.text)
        self._refiltered(focus=not searching)
        if searching:
            self._find(event.text)

    def _refiltered(self, *, focus: bool = True) -> None:
        # The filters or the queue changed: show the new first page.
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
        choice = await self.app.push_screen_wait(QueuePickerScreen(queues, self._browsing.queue))
        if choice is not None:
            self.set_queue_filter(None if choice == ALL_QUEUES else choice)

    def set_queue_filter(self, queue: str | None) -> None:
        """Narrow the state tabs to ``queue``'s jobs (``None``: every queue)."""
        self._browsing.set_queue(queue)
        self._show_status()
        self._refiltered()

    @property
    def queue_filter(self) -> str | None:
        """The queue the state tabs are narrowed to, if any."""
        return self._browsing.queue

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
        self._browsing.toggle_order(state)
        self.refresh_data()

    def action_page(self, step: int) -> None:
        """Go to the next (``step`` > 0) or previous page."""
        state = self._active_state()
        if state is None:
            return
        refused = self._browsing.step_page(state, step)
        if refused is not None:
            self.notify(refused, timeout=2)
            return
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
        self._browsing.toggle_selected(state, key)
        self._render_page(state)
        page = self._browsing.pages.get(state)
        if self._snapshot is not None and page is not None:
            self._show_page_info(state, page, self._snapshot)
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
            self._browsing.set_filters(self._browsing.job_name, key, self._browsing.text)
            self._refiltered()
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
        return self._browsing.targets(state, table.row_keys, table.cursor_key)

    def _highlighted_worker(self) -> str | None:
        """The worker pool under the cursor of the workers tab."""
        return self.query_one(WorkerTable).cursor_key

    def _highlighted_queue(self) -> str | None:
        """The named queue under the cursor of the queues tab."""
        return self.query_one(QueueTable).cursor_key

    def _queue_filter(self) -> str | None:
        return self._browsing.queue

    def _filters(self) -> tuple[str | None, str | None, str | None]:
        """The job-name, error and search filters (``None`` when unset)."""
        return self._browsing.filters()

    def _done(self, state: JobState | None) -> None:
        """After a write: forget the selection and show the result."""
        if state is not None:
            self._browsing.selected[state].clear()
        self.refresh_data()
