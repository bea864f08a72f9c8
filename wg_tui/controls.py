"""The dashboard's controls: every action that writes to the backend.

``ControlledScreen`` holds them; ``DashboardScreen`` derives from it and supplies what
they act on through a few hooks (the visible state, the selected or highlighted jobs,
the filters, the highlighted worker). Each action asks for confirmation when it cannot
be undone or touches a whole state or filter (the dialog states the count and the
namespace), calls the client in a worker, reports the outcome in a notification, and
asks for a refresh. A failed call becomes an error notification; the app stays up.

Under ``--read-only`` every one of these is hidden (footer, help, command palette), and
pressing its key says "read-only" instead of doing nothing (``wg_tui.read_only``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Final, TypeVar

from textual import work
from textual.screen import Screen

from wg_core import JobState
from wg_tui.columns import describe_error, one_line, plural
from wg_tui.dialogs import ConfirmScreen
from wg_tui.error_groups import group_job_ids
from wg_tui.settings import TuiSettings
from wg_tui.snapshot import count_matching, matching_ids

__all__ = ["ControlledScreen"]

T = TypeVar("T")

_BATCH: Final = 500
"""Ids per call when acting on a whole group or search."""


async def _in_batches(call: Callable[[Sequence[str]], Awaitable[int]], ids: list[str]) -> int:
    """``call`` (retry_jobs, delete_jobs) over ``ids`` ``_BATCH`` at a time; the total."""
    total = 0
    for start in range(0, len(ids), _BATCH):
        total += await call(ids[start : start + _BATCH])
    return total


class ControlledScreen(Screen[None]):
    """A screen with the write actions; subclasses implement the hooks."""

    def __init__(self, settings: TuiSettings) -> None:
        super().__init__()
        self._settings = settings
        self._client = settings.client

    # -- hooks -----------------------------------------------------------------------------

    def _active_state(self) -> JobState | None:
        """The state whose tab is visible (``None`` on other tabs)."""
        raise NotImplementedError

    def _targets(self, state: JobState) -> list[str]:
        """The ids an action on ``state`` applies to, in display order."""
        raise NotImplementedError

    def _filters(self) -> tuple[str | None, str | None, str | None]:
        """The job-name, error-text and search filters."""
        raise NotImplementedError

    def _highlighted_group(self) -> str | None:
        """The error group under the cursor, when the dead tab shows groups."""
        raise NotImplementedError

    def _filter_text(self) -> str:
        """The filters in words, for confirmations."""
        raise NotImplementedError

    def _highlighted_worker(self) -> str | None:
        """The worker pool under the cursor, if any."""
        raise NotImplementedError

    def _highlighted_queue(self) -> str | None:
        """The named queue under the cursor of the queues tab, if any."""
        raise NotImplementedError

    def _queue_filter(self) -> str | None:
        """The queue the job tabs are narrowed to (``None``: every queue)."""
        raise NotImplementedError

    def _in_queue(self) -> str:
        """`` of queue 'x'`` when the job tabs are narrowed to one, for messages."""
        queue = self._queue_filter()
        return "" if queue is None else f" of queue {queue!r}"

    def _done(self, state: JobState | None) -> None:
        """Called after every write (refresh, clear the selection)."""
        raise NotImplementedError

    # -- plumbing --------------------------------------------------------------------------

    def _targets_or_warn(self) -> tuple[JobState, list[str]] | None:
        state = self._active_state()
        if state is None:
            return None
        ids = self._targets(state)
        if not ids:
            self.notify("No job here.", severity="warning", timeout=3)
            return None
        return state, ids

    async def _write(self, what: str, call: Awaitable[T]) -> T | None:
        """Await a client call, turning a failure into a notification."""
        try:
            return await call
        except Exception as exc:
            self.notify(describe_error(exc), title=f"{what} failed", severity="error")
            return None

    async def _write_ok(self, what: str, call: Awaitable[None]) -> bool:
        """Await a client call that returns nothing; whether it succeeded."""
        try:
            await call
        except Exception as exc:
            self.notify(describe_error(exc), title=f"{what} failed", severity="error")
            return False
        return True

    # -- actions -----------------------------------------------------------------------------

    def action_retry(self) -> None:
        """Put the selected (or highlighted) dead/retry jobs back in the queue; on the
        grouped dead tab, every job of the highlighted group, after confirmation."""
        if (group := self._highlighted_group()) is not None:
            self._act_on_group("retry", group)
        elif (found := self._targets_or_warn()) is not None:
            self._retry(*found)

    @work(group="actions")
    async def _retry(self, state: JobState, ids: list[str]) -> None:
        moved = await self._write("Retry", self._client.retry_jobs(ids))
        if moved is not None:
            self.notify(f"Requeued {moved} of {plural(len(ids), state.value + ' job')}.")
        self._done(state)

    def action_rerun(self) -> None:
        """Run the selected (or highlighted) completed/cancelled jobs again."""
        if (found := self._targets_or_warn()) is not None:
            self._retry(*found)

    def action_cancel(self) -> None:
        """Cancel the selected (or highlighted) jobs, after confirmation: waiting and
        dead ones at once, running ones by asking their worker."""
        if (found := self._targets_or_warn()) is not None:
            self._cancel(*found)

    @work(group="actions")
    async def _cancel(self, state: JobState, ids: list[str]) -> None:
        what = (
            f"the {state.value} job {ids[0]}"
            if len(ids) == 1
            else plural(len(ids), f"{state.value} job")
        )
        question = f"Cancel {what} in namespace {self._settings.namespace!r}?\n\n" + (
            "Its worker is asked to stop it (an async handler is cancelled, a sync one "
            "sees ctx.cancelled); if it completes first, it stays completed."
            if state is JobState.RUNNING
            else "It will not run (r on the Cancelled tab runs it again)."
        )
        if not await self.app.push_screen_wait(
            ConfirmScreen("Cancel", question, confirm_label="Cancel")
        ):
            return
        done = await self._write("Cancel", self._client.cancel_jobs(ids))
        if done is not None:
            jobs = plural(len(ids), state.value + " job")
            if state is JobState.RUNNING:
                self.notify(f"Asked the workers to cancel {done} of {jobs}.")
            else:
                self.notify(f"Cancelled {done} of {jobs}.")
        self._done(state)

    def action_run_now(self) -> None:
        """Move the selected (or highlighted) scheduled/retry jobs to the queue now."""
        if (found := self._targets_or_warn()) is not None:
            self._run_now(*found)

    @work(group="actions")
    async def _run_now(self, state: JobState, ids: list[str]) -> None:
        moved = await self._write("Run now", self._client.run_now(ids))
        if moved is not None:
            self.notify(f"Queued {moved} of {plural(len(ids), state.value + ' job')} to run now.")
        self._done(state)

    def action_delete(self) -> None:
        """Delete the selected (or highlighted) jobs, after confirmation; on the grouped
        dead tab, every job of the highlighted group."""
        if (group := self._highlighted_group()) is not None:
            self._act_on_group("delete", group)
        elif (found := self._targets_or_warn()) is not None:
            self._delete(*found)

    @work(group="actions")
    async def _delete(self, state: JobState, ids: list[str]) -> None:
        what = (
            f"the {state.value} job {ids[0]}"
            if len(ids) == 1
            else plural(len(ids), f"{state.value} job")
        )
        question = (
            f"Delete {what} from namespace {self._settings.namespace!r}?\n\nThis cannot be undone."
        )
        if not await self.app.push_screen_wait(
            ConfirmScreen("Delete", question, confirm_label="Delete")
        ):
            return
        deleted = await self._write("Delete", self._client.delete_jobs(ids))
        if deleted is not None:
            self.notify(f"Deleted {deleted} of {plural(len(ids), 'job')}.")
        self._done(state)

    def action_purge(self) -> None:
        """Delete every job of the visible state, after confirmation."""
        state = self._active_state()
        if state is not None:
            self._purge(state)

    @work(group="actions")
    async def _purge(self, state: JobState) -> None:
        queue = self._queue_filter()
        counts = await self._write("Count", self._client.counts(queue=queue))
        if counts is None:
            return
        total: int = getattr(counts, state.value)
        if total == 0:
            self.notify(f"There are no {state.value} jobs{self._in_queue()}.", timeout=3)
            return
        question = (
            f"Delete all {total:,} {state.value} jobs{self._in_queue()} in namespace "
            f"{self._settings.namespace!r}?\n\nThis cannot be undone."
        )
        if any(self._filters()):
            question += " The filter does not apply: every job in the state goes."
        if not await self.app.push_screen_wait(
            ConfirmScreen(f"Purge {state.value}", question, confirm_label="Purge")
        ):
            return
        purged = await self._write("Purge", self._client.purge(state, queue=queue))
        if purged is not None:
            self.notify(f"Deleted {plural(purged, state.value + ' job')}.")
        self._done(state)

    def action_retry_all(self) -> None:
        """Requeue every job of the visible state matching the filter, after confirmation."""
        state = self._active_state()
        if state is not None:
            self._retry_all(state)

    @work(group="actions")
    async def _retry_all(self, state: JobState) -> None:
        job_name, error, text = self._filters()
        queue = self._queue_filter()
        ids: list[str] | None = None
        if text:
            # The core's retry_all cannot search: requeue exactly the ids found.
            ids = await self._write(
                "Search",
                matching_ids(
                    self._client,
                    state,
                    job_name=job_name,
                    error_contains=error,
                    text_contains=text,
                    queue=queue,
                ),
            )
            count = None if ids is None else len(ids)
        else:
            count = await self._write(
                "Count",
                count_matching(
                    self._client, state, job_name=job_name, error_contains=error, queue=queue
                ),
            )
        if count is None:
            return
        matching = f" matching {self._filter_text()}" if job_name or error or text else ""
        matching = self._in_queue() + matching
        if count == 0:
            self.notify(f"No {state.value} jobs{matching}.", timeout=3)
            return
        question = (
            f"Requeue {plural(count, state.value + ' job')}{matching}\n"
            f"in namespace {self._settings.namespace!r}?"
        )
        if not await self.app.push_screen_wait(
            ConfirmScreen("Retry all", question, confirm_label="Requeue")
        ):
            return
        if ids is not None:
            moved = await self._write("Retry all", _in_batches(self._client.retry_jobs, ids))
        else:
            moved = await self._write(
                "Retry all",
                self._client.retry_all(state, job_name=job_name, error_contains=error, queue=queue),
            )
        if moved is not None:
            self.notify(f"Requeued {plural(moved, state.value + ' job')}.")
        self._done(state)

    @work(group="actions")
    async def _act_on_group(self, verb: str, key: str) -> None:
        job_name, _, text = self._filters()
        ids = await self._write(
            "Collect the group",
            group_job_ids(
                self._client,
                key,
                job_name=job_name,
                text_contains=text,
                queue=self._queue_filter(),
            ),
        )
        if ids is None:
            return
        error = one_line(key, 200) or "(no error recorded)"
        if not ids:
            self.notify(f"No dead jobs fail with {error!r} any more.", timeout=3)
            self._done(JobState.DEAD)
            return
        namespace = self._settings.namespace
        jobs = plural(len(ids), "dead job")
        if verb == "retry":
            title, label = "Retry group", "Requeue"
            question = (
                f"Requeue {jobs} that failed with\n\n  {error}\n\nin namespace {namespace!r}?"
            )
        else:
            title, label = "Delete group", "Delete"
            question = (
                f"Delete {jobs} that failed with\n\n  {error}\n\nfrom namespace "
                f"{namespace!r}?\n\nThis cannot be undone."
            )
        if not await self.app.push_screen_wait(ConfirmScreen(title, question, confirm_label=label)):
            return
        call = self._client.retry_jobs if verb == "retry" else self._client.delete_jobs
        done = await self._write(title, _in_batches(call, ids))
        if done is not None:
            verb_done = "Requeued" if verb == "retry" else "Deleted"
            self.notify(f"{verb_done} {done:,} of {jobs}.")
        self._done(JobState.DEAD)

    def action_toggle_pause(self) -> None:
        """Pause the namespace (workers stop claiming) or resume it."""
        self._toggle_pause()

    @work(group="actions")
    async def _toggle_pause(self) -> None:
        paused = await self._write("Pause", self._client.is_paused())
        if paused is None:
            return
        namespace = self._settings.namespace
        if paused:
            if await self._write_ok("Resume", self._client.resume()):
                self.notify(f"Resumed {namespace!r}: workers claim again.")
        elif await self._write_ok("Pause", self._client.pause()):
            self.notify(f"Paused {namespace!r}: workers stop claiming.")
        self._done(None)

    def action_toggle_queue_pause(self) -> None:
        """Pause the highlighted named queue (workers skip it) or resume it."""
        queue = self._highlighted_queue()
        if queue is None:
            self.notify("No queue here.", severity="warning", timeout=3)
            return
        self._toggle_queue_pause(queue)

    @work(group="actions")
    async def _toggle_queue_pause(self, queue: str) -> None:
        paused = await self._write("Pause", self._client.is_paused(queue=queue))
        if paused is None:
            return
        if paused:
            if await self._write_ok("Resume", self._client.resume(queue=queue)):
                self.notify(f"Resumed queue {queue!r}: workers claim from it again.")
        elif await self._write_ok("Pause", self._client.pause(queue=queue)):
            self.notify(f"Paused queue {queue!r}: workers skip it (running jobs finish).")
        self._done(None)

    def action_stop_worker(self) -> None:
        """Ask the highlighted worker pool to drain and exit, after confirmation."""
        worker_id = self._highlighted_worker()
        if worker_id is None:
            self.notify("No worker here.", severity="warning", timeout=3)
            return
        self._stop_worker(worker_id)

    @work(group="actions")
    async def _stop_worker(self, worker_id: str) -> None:
        question = (
            f"Ask worker {worker_id} to drain and stop?\n\n"
            "It stops claiming at its next heartbeat, lets running jobs finish, and exits."
        )
        if not await self.app.push_screen_wait(
            ConfirmScreen("Stop worker", question, confirm_label="Stop")
        ):
            return
        found = await self._write("Stop worker", self._client.stop_worker(worker_id))
        if found:
            self.notify(f"Asked {worker_id} to stop.")
        elif found is not None:
            self.notify(f"Worker {worker_id} is no longer registered.", severity="warning")
        self._done(None)
