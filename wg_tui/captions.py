"""The caption lines under the tables (rows shown, order, filters, hints): Rich text
from plain values, no Textual, so they are tested and reused without an app."""

from __future__ import annotations

from rich.text import Text

from wg_tui.columns import plural
from wg_tui.error_groups import ErrorGroups
from wg_tui.snapshot import JobPage

__all__ = ["describe_filters", "groups_caption", "page_caption", "queues_caption"]


def describe_filters(
    text: str = "", job_name: str = "", error_contains: str = "", queue: str | None = None
) -> str:
    """The filters in words (``search 'x' and job name 'y'``); empty when none is set."""
    parts = []
    if queue:
        parts.append(f"queue {queue!r}")
    if text:
        parts.append(f"search {text!r}")
    if job_name:
        parts.append(f"job name {job_name!r}")
    if error_contains:
        parts.append(f"error containing {error_contains!r}")
    return " and ".join(parts)


def page_caption(
    page: JobPage, total: int, *, filters: str, queue: str | None, selected: int
) -> Text:
    """``rows 1–3 of 3 · oldest first · page 1`` and the keys, under a state's table.

    ``total``: the jobs of the state (in ``queue``, when the tabs are narrowed to one);
    ``filters``: the other filters in words, which hide the total.
    """
    request = page.request
    info = Text()
    if page.jobs:
        first, last = request.offset + 1, request.offset + len(page.jobs)
        info.append(f"rows {first:,}–{last:,}")
    else:
        info.append("no jobs")
    if filters:
        info.append(" matching ")
        info.append(filters, style="bold")
    else:
        info.append(f" of {total:,}")
        if queue:
            info.append(" in queue ")
            info.append(queue, style="bold")
    info.append(" · newest first" if request.newest_first else " · oldest first")
    page_number = request.offset // max(1, request.limit) + 1
    info.append(f" · page {page_number}")
    info.append("   o order  [ ] pages  space select  f queue  enter details", style="dim")
    if selected:
        info.append(f" · {selected} selected", style="bold yellow")
    return info


def groups_caption(groups: ErrorGroups, *, filters: str) -> Text:
    """``2 errors in 5 dead jobs`` and the keys, under the dead tab's groups."""
    info = Text(plural(len(groups.groups), "error"))
    info.append(f" in {plural(groups.scanned, 'dead job')}")
    if not groups.complete:
        info.append(f" (the first {groups.scanned:,} read)", style="bold yellow")
    if filters:
        info.append(" matching ")
        info.append(filters, style="bold")
    info.append("   g jobs  r requeue group  d delete group  enter show its jobs", style="dim")
    return info


def queues_caption(count: int, *, namespace_paused: bool, read_only: bool) -> Text:
    """``3 queues`` and the keys, under the queues tab."""
    info = Text(plural(count, "queue"))
    if namespace_paused:
        info.append(" · the namespace is paused: no queue is claimed from", style="bold yellow")
    keys = "   enter show its jobs" if read_only else "   p pause/resume queue  enter show its jobs"
    info.append(keys, style="dim")
    return info
