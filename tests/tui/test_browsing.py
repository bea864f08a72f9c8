"""The dashboard's browsing rules, without an app (``wg_tui.browsing`` has no Textual)."""

from __future__ import annotations

from wg_core import JobInfo, JobState
from wg_tui.browsing import Browsing, PageFate
from wg_tui.snapshot import JobPage, PageRequest

from .data import job_id


def _page(request: PageRequest, *numbers: int) -> JobPage:
    jobs = tuple(
        JobInfo(job_id=job_id(n), state=request.state, raw="{}", envelope=None) for n in numbers
    )
    return JobPage(request=request, jobs=jobs)


def test_a_new_filter_starts_every_tab_at_page_one_with_nothing_selected() -> None:
    browsing = Browsing(page_size=2)
    browsing.tab = "dead"
    browsing.accept(_page(browsing.requests[JobState.DEAD], 1, 2))
    assert browsing.step_page(JobState.DEAD, 1) is None
    browsing.toggle_selected(JobState.DEAD, job_id(1))
    browsing.set_queue("emails")
    browsing.set_filters("send_email", "SMTP", "")
    request = browsing.requests[JobState.DEAD]
    assert (request.offset, request.job_name, request.error_contains, request.queue) == (
        0,
        "send_email",
        "SMTP",
        "emails",
    )
    assert browsing.selected[JobState.DEAD] == set()
    assert browsing.filters() == ("send_email", "SMTP", None)
    assert browsing.filter_text(with_queue=True) == (
        "queue 'emails' and job name 'send_email' and error containing 'SMTP'"
    )


def test_paging_stops_at_either_end() -> None:
    browsing = Browsing(page_size=2)
    state = JobState.QUEUED
    assert browsing.step_page(state, -1) == "This is the first page."
    browsing.accept(_page(browsing.requests[state], 1))  # not full: the last page
    assert browsing.step_page(state, 1) == "This is the last page."
    assert browsing.requests[state].offset == 0


def test_a_page_for_an_older_request_is_dropped_and_an_emptied_page_steps_back() -> None:
    browsing = Browsing(page_size=2)
    state = JobState.RETRY
    first = browsing.requests[state]
    browsing.toggle_order(state)
    assert browsing.accept(_page(first, 1, 2)) is PageFate.STALE
    assert state not in browsing.pages

    browsing.accept(_page(browsing.requests[state], 1, 2))
    browsing.step_page(state, 1)
    second = browsing.requests[state]
    assert browsing.accept(_page(second)) is PageFate.STEPPED_BACK
    assert browsing.requests[state].offset == 0


def test_the_selection_keeps_to_the_jobs_shown_and_is_what_actions_target() -> None:
    browsing = Browsing(page_size=3)
    state = JobState.SCHEDULED
    browsing.accept(_page(browsing.requests[state], 1, 2, 3))
    keys = [job_id(1), job_id(2), job_id(3)]
    assert browsing.targets(state, keys, cursor=job_id(2)) == [job_id(2)]
    browsing.toggle_selected(state, job_id(3))
    browsing.toggle_selected(state, job_id(1))
    assert browsing.targets(state, keys, cursor=job_id(2)) == [job_id(1), job_id(3)]
    assert browsing.accept(_page(browsing.requests[state], 2, 3)) is PageFate.SHOWN
    assert browsing.selected[state] == {job_id(3)}


def test_actions_apply_to_their_tabs_only() -> None:
    browsing = Browsing(page_size=10)
    assert browsing.applies("toggle_pause")
    assert not browsing.applies("toggle_queue_pause")
    browsing.tab = "queues"
    assert browsing.applies("toggle_queue_pause")
    assert not browsing.applies("toggle_pause")
    browsing.tab = "dead"
    assert browsing.applies("toggle_select")
    browsing.grouped = True
    assert browsing.shows_groups
    assert not browsing.applies("toggle_select")
    assert browsing.applies("retry")
