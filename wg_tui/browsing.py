"""What the operator is browsing on the dashboard: plain state, no Textual in here.

The visible tab; per state tab, the page asked for (offset, order, filters, queue), the
page last shown and the jobs selected on it; the job-name, error and search filters; the
queue the state tabs are narrowed to; whether the dead tab groups its jobs by error.

``DashboardScreen`` owns one ``Browsing``: its actions change it, its refresh reads what
to fetch from it, and it draws the tables from it. The rules (a new filter goes back to
page one and forgets the selection, a page fetched for an older request is dropped, which
action applies on which tab) live here, so they read and test without an app.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import replace
from typing import Final

from wg_core import JobState
from wg_tui.captions import describe_filters
from wg_tui.snapshot import STATE_TABS, JobPage, PageRequest

__all__ = ["STATE_TAB_IDS", "Browsing", "PageFate"]

STATE_TAB_IDS: Final = frozenset(state.value for state in STATE_TABS)
"""The ids of the tabs that list the jobs of one state."""

_REMOVABLE: Final = frozenset({"queued", "scheduled", "retry", "dead", "completed", "cancelled"})
_CANCELLABLE: Final = frozenset({"queued", "scheduled", "retry", "running", "dead"})
_BUT_QUEUES: Final = frozenset({"overview", "workers", *STATE_TAB_IDS})

_APPLIES_TO: Final[dict[str, frozenset[str]]] = {
    "retry": frozenset({"dead", "retry"}),
    # On the completed and cancelled tabs, r runs the job again.
    "rerun": frozenset({"completed", "cancelled"}),
    "run_now": frozenset({"scheduled", "retry"}),
    "delete": _REMOVABLE,
    "purge": _REMOVABLE,
    "cancel": _CANCELLABLE,
    "retry_all": frozenset({"dead", "retry"}),
    "stop_worker": frozenset({"workers"}),
    # On the queues tab, p pauses the highlighted queue instead of the namespace.
    "toggle_pause": _BUT_QUEUES,
    "toggle_queue_pause": frozenset({"queues"}),
    "pick_queue": frozenset({"queues", *STATE_TAB_IDS}),
    "toggle_order": STATE_TAB_IDS,
    "page": STATE_TAB_IDS,
    "toggle_select": STATE_TAB_IDS,
    "filter": STATE_TAB_IDS,
    "focus_table": STATE_TAB_IDS,
    "toggle_groups": frozenset({"dead"}),
}
"""Actions that make sense on some tabs only (hidden elsewhere)."""

_JOB_LIST_ONLY: Final = frozenset({"toggle_select", "toggle_order", "page", "run_now"})
"""Actions on a list of jobs, hidden while the dead tab shows error groups."""


class PageFate(enum.Enum):
    """What becomes of a page a refresh fetched (``Browsing.accept``)."""

    SHOWN = "shown"
    """It is the page asked for: show it."""
    STALE = "stale"
    """Fetched for an order, page or filter the operator has since changed: drop it."""
    STEPPED_BACK = "stepped_back"
    """Its jobs left the state: the request went back a page; fetch again."""


class Browsing:
    """The dashboard's browsing state (see the module docstring)."""

    def __init__(self, page_size: int) -> None:
        self.tab = "overview"
        """The id of the visible tab."""
        self.requests = {state: PageRequest(state=state, limit=page_size) for state in STATE_TABS}
        """The page each state tab asks for."""
        self.job_name = ""
        self.error_contains = ""
        self.text = ""
        """The search: a substring of the stored job."""
        self.queue: str | None = None
        """The queue the state tabs are narrowed to (``None``: every queue)."""
        self.grouped = False
        """Whether the dead tab shows error groups instead of jobs."""
        self.selected: dict[JobState, set[str]] = {state: set() for state in STATE_TABS}
        """The ids selected on each state tab (kept to the page shown)."""
        self.pages: dict[JobState, JobPage] = {}
        """The page each state tab shows."""

    # -- what the visible tab is and needs --------------------------------------------------

    @property
    def active_state(self) -> JobState | None:
        """The state whose tab is visible (``None`` on other tabs)."""
        return JobState(self.tab) if self.tab in STATE_TAB_IDS else None

    @property
    def shows_groups(self) -> bool:
        """Whether the visible tab is the dead tab grouped by error."""
        return self.grouped and self.tab == "dead"

    def applies(self, action: str) -> bool:
        """Whether ``action`` makes sense on the visible tab."""
        if self.shows_groups and action in _JOB_LIST_ONLY:
            return False
        tabs = _APPLIES_TO.get(action)
        return tabs is None or self.tab in tabs

    # -- filters ------------------------------------------------------------------------------

    def set_filters(self, job_name: str, error_contains: str, text: str) -> None:
        """Narrow every state tab anew: back to page one, nothing selected."""
        self.job_name = job_name
        self.error_contains = error_contains
        self.text = text
        for state, request in self.requests.items():
            self.requests[state] = replace(
                request,
                offset=0,
                job_name=job_name or None,
                error_contains=error_contains or None,
                text_contains=text or None,
                queue=self.queue,
            )
            self.selected[state].clear()

    def set_queue(self, queue: str | None) -> None:
        """Narrow the state tabs to ``queue``'s jobs (``None``: every queue)."""
        self.queue = queue
        self.set_filters(self.job_name, self.error_contains, self.text)

    def filters(self) -> tuple[str | None, str | None, str | None]:
        """The job-name, error and search filters (``None`` when unset)."""
        return self.job_name or None, self.error_contains or None, self.text or None

    def filter_text(self, *, with_queue: bool = False) -> str:
        """The filters in words (the queue too when ``with_queue``)."""
        queue = self.queue if with_queue else None
        return describe_filters(self.text, self.job_name, self.error_contains, queue)

    # -- order, pages, selection ------------------------------------------------------------

    def toggle_order(self, state: JobState) -> None:
        """Flip ``state``'s tab between oldest- and newest-first, from page one."""
        request = self.requests[state]
        self.requests[state] = replace(request, newest_first=not request.newest_first, offset=0)
        self.selected[state].clear()

    def step_page(self, state: JobState, step: int) -> str | None:
        """Ask for the next (``step`` > 0) or previous page of ``state``; when there is
        none, change nothing and say so."""
        request = self.requests[state]
        if step > 0:
            page = self.pages.get(state)
            if page is None or not page.has_next:
                return "This is the last page."
            self.requests[state] = request.next_page()
        else:
            if request.offset == 0:
                return "This is the first page."
            self.requests[state] = request.previous_page()
        self.selected[state].clear()
        return None

    def accept(self, page: JobPage) -> PageFate:
        """Take a page a refresh fetched, unless the operator has moved on meanwhile."""
        state = page.request.state
        if page.request != self.requests[state]:
            return PageFate.STALE
        if not page.jobs and page.request.offset > 0:
            # The jobs of this page left the state: step back rather than show nothing.
            self.requests[state] = page.request.previous_page()
            return PageFate.STEPPED_BACK
        self.pages[state] = page
        self.selected[state] &= {job.job_id for job in page.jobs}
        return PageFate.SHOWN

    def toggle_selected(self, state: JobState, job_id: str) -> None:
        """Select ``job_id`` on ``state``'s tab, or unselect it."""
        self.selected[state] ^= {job_id}

    def targets(self, state: JobState, row_keys: Iterable[str], cursor: str | None) -> list[str]:
        """What an action on ``state`` applies to: the selected jobs in table order
        (``row_keys``), else the job under the ``cursor``."""
        if self.selected[state]:
            return [key for key in row_keys if key in self.selected[state]]
        return [cursor] if cursor is not None else []
