"""The job detail screen: everything stored about one job, and the actions on it.

Loaded once when opened (and again with ctrl+r or after an action): a job's detail does
not need a timer, and the dashboard underneath does not refresh while this is on top.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from rich.syntax import Syntax
from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, Static

from wg_core import JobInfo, JobState
from wg_tui.columns import describe_error, format_relative, format_time, pretty_json
from wg_tui.dialogs import READ_ONLY_HELP, ConfirmScreen, HelpScreen, help_entries
from wg_tui.job_rows import format_progress, format_run_time
from wg_tui.read_only import WRITE_ACTIONS, read_only_notice, write_binding
from wg_tui.settings import TuiSettings

__all__ = ["JobDetailScreen"]

_WAITING: Final = frozenset({JobState.QUEUED, JobState.SCHEDULED, JobState.RETRY})
_FINISHED: Final = frozenset({JobState.COMPLETED, JobState.CANCELLED})
_APPLIES_TO: Final[dict[str, frozenset[JobState]]] = {
    "retry": frozenset({JobState.DEAD, JobState.RETRY}),
    "rerun": _FINISHED,
    "run_now": frozenset({JobState.SCHEDULED, JobState.RETRY}),
    "delete": _WAITING | {JobState.DEAD} | _FINISHED,
    "cancel": _WAITING | {JobState.RUNNING, JobState.DEAD},
}
# Fixed colours keep screenshots identical whatever the terminal's theme.
_SYNTAX_THEME: Final = "monokai"


class JobDetailScreen(Screen[None]):
    """One job: id, name, state, options, times, progress, last error, result, payload,
    raw JSON."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("j", "toggle_raw", "Raw JSON"),
        Binding("ctrl+r", "reload", "Reload"),
        Binding("r", "retry", "Retry"),
        Binding("r", "rerun", "Run again"),
        Binding("n", "run_now", "Run now"),
        Binding("c", "cancel", "Cancel"),
        Binding("d", "delete", "Delete"),
    ]

    def __init__(self, settings: TuiSettings, job_id: str) -> None:
        super().__init__()
        self._settings = settings
        self._client = settings.client
        self._job_id = job_id
        self._job: JobInfo | None = None
        self._raw = False

    @property
    def job(self) -> JobInfo | None:
        """The job as last loaded (``None`` before loading, or once it is gone)."""
        return self._job

    def compose(self) -> ComposeResult:
        yield Static(id="detail-title")
        with VerticalScroll(id="detail-body"):
            yield Static(id="detail-facts", classes="box")
            with VerticalScroll(id="detail-error", classes="box"):
                yield Static(id="detail-error-text")
            yield Static(id="detail-result", classes="box")
            yield Static(id="detail-payload", classes="box")
            yield Static(id="detail-raw", classes="box")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#detail-facts", Static).border_title = "Job"
        self.query_one("#detail-error", VerticalScroll).border_title = "Last error"
        self.query_one("#detail-result", Static).border_title = "Result"
        self.query_one("#detail-payload", Static).border_title = "Payload"
        self.query_one("#detail-raw", Static).border_title = "Stored JSON (raw)"
        self.query_one("#detail-raw", Static).display = False
        self.query_one("#detail-title", Static).update(Text(f" Job {self._job_id}", "bold"))
        self.load()

    @work(exclusive=True, group="detail")
    async def load(self) -> None:
        """Fetch the job and show it."""
        try:
            job = await self._client.get_job(self._job_id)
        except Exception as exc:
            self.notify(describe_error(exc), title="Loading the job failed", severity="error")
            return
        self._job = job
        try:
            self._show()
        except NoMatches:
            return  # the screen closed while the job was loading
        self.refresh_bindings()

    def _show(self) -> None:
        job = self._job
        facts = self.query_one("#detail-facts", Static)
        if job is None:
            facts.update(
                Text(
                    "This job no longer exists (deleted, or its retention period ran out).",
                    "italic",
                )
            )
            for box in ("#detail-error", "#detail-result", "#detail-payload", "#detail-raw"):
                self.query_one(box).display = False
            return
        now = self._settings.clock()
        envelope = job.envelope
        text = Text()

        def fact(label: str, value: str, style: str = "") -> None:
            text.append(f"{label:<16}", style="dim")
            text.append(f"{value}\n", style=style)

        fact("id", job.job_id, "bold")
        fact("job name", job.job_name or "?", "bold")
        fact("state", job.state.value, "bold red" if job.state is JobState.DEAD else "bold")
        if job.unique_key is not None:  # only jobs enqueued with one (issue 19)
            fact("unique key", job.unique_key)
        if job.limit_key is not None:  # only jobs enqueued with one (issue 20)
            fact("limit key", job.limit_key)
        if envelope is not None:
            fact("status", envelope.status)
            fact("attempts", f"{job.runs} run of {job.runs_allowed} allowed")
            fact("timeout", "none" if envelope.timeout is None else f"{envelope.timeout:g}s")
            fact(
                "retry delay",
                "none" if envelope.retry_delay is None else f"{envelope.retry_delay:g}s",
            )
            fact("created", _when(envelope.created_at, now))
            if envelope.scheduled_at is not None:
                fact("scheduled at", _when(envelope.scheduled_at, now))
        else:
            fact("envelope", job.decode_error or "undecodable", "bold red")
        if job.due_at is not None:
            fact("due", _when(job.due_at, now))
        # The same field as the dead tab's "died at", on every backend.
        if job.state is JobState.DEAD:
            fact("died", "—" if job.updated_at is None else _when(job.updated_at, now))
        elif job.updated_at is not None and job.state not in _FINISHED:
            # A finished job's time in its state is its "finished" (or "cancelled") below.
            fact("in state since", _when(job.updated_at, now))
        if job.worker_id is not None:
            fact("worker", job.worker_id)
        if job.lease_until is not None:
            fact("lease until", _when(job.lease_until, now))
        _history_facts(job, now, fact)
        text.rstrip()
        facts.update(text)

        error_box = self.query_one("#detail-error", VerticalScroll)
        error_box.display = bool(job.last_error)
        self.query_one("#detail-error-text", Static).update(Text(job.last_error or "", "red"))

        result = self.query_one("#detail-result", Static)
        result.display = job.state is JobState.COMPLETED
        # The whole result (the Completed tab shows a line of it).
        result.update(_json(job.result))

        payload = self.query_one("#detail-payload", Static)
        payload.display = envelope is not None
        if envelope is not None:
            payload.update(_json(envelope.payload))
        raw = self.query_one("#detail-raw", Static)
        raw.display = self._raw
        # Exactly the stored text (it may be what made the job undecodable), wrapped.
        raw.update(
            Syntax(job.raw, "json", theme=_SYNTAX_THEME, word_wrap=True, background_color="default")
        )

    def _applies(self, action: str) -> bool:
        states = _APPLIES_TO.get(action)
        return states is None or (self._job is not None and self._job.state in states)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Offer only the actions that apply to the job's state; none that write when
        read-only."""
        if not self._applies(action):
            return False
        return not (action in WRITE_ACTIONS and self._settings.read_only)

    def on_key(self, event: events.Key) -> None:
        """Read-only: a write key that applies to this job says so."""
        if not self._settings.read_only:
            return
        binding = write_binding(self, event.key)
        if binding is not None and self._applies(binding.action):
            event.stop()
            self.notify(read_only_notice(binding), severity="warning", timeout=3)

    def action_back(self) -> None:
        """Back to the dashboard."""
        self.dismiss(None)

    def action_help(self) -> None:
        """Show the keys of this screen."""
        note = READ_ONLY_HELP if self._settings.read_only else ""
        self.app.push_screen(HelpScreen("Keys", help_entries(self), note=note))

    def action_toggle_raw(self) -> None:
        """Show or hide the stored JSON exactly as the backend holds it."""
        self._raw = not self._raw
        raw = self.query_one("#detail-raw", Static)
        raw.display = self._raw and self._job is not None
        if raw.display:
            self.call_after_refresh(raw.scroll_visible, animate=False)

    def action_reload(self) -> None:
        """Load the job again."""
        self.load()

    def action_retry(self) -> None:
        """Put this job back in the queue."""
        self._act("retry")

    def action_rerun(self) -> None:
        """Run this completed or cancelled job again."""
        self._act("retry")

    def action_cancel(self) -> None:
        """Cancel this job, after confirmation (a running one: ask its worker)."""
        self._act("cancel")

    def action_run_now(self) -> None:
        """Move this scheduled/retry job to the queue now."""
        self._act("run_now")

    def action_delete(self) -> None:
        """Delete this job, after confirmation."""
        self._act("delete")

    @work(group="detail-actions")
    async def _act(self, action: str) -> None:
        ids = [self._job_id]
        try:
            if action == "delete":
                question = (
                    f"Delete job {self._job_id} from namespace "
                    f"{self._settings.namespace!r}?\n\nThis cannot be undone."
                )
                confirmed = await self.app.push_screen_wait(
                    ConfirmScreen("Delete", question, confirm_label="Delete")
                )
                if not confirmed:
                    return
                done = await self._client.delete_jobs(ids)
                verb = "Deleted"
            elif action == "cancel":
                if not await self.app.push_screen_wait(self._cancel_question()):
                    return
                done = await self._client.cancel_jobs(ids)
                running = self._job is not None and self._job.state is JobState.RUNNING
                verb = "Cancel requested (its worker stops it)" if running else "Cancelled"
            elif action == "retry":
                done = await self._client.retry_jobs(ids)
                verb = "Requeued"
            else:
                done = await self._client.run_now(ids)
                verb = "Queued to run now"
        except Exception as exc:
            self.notify(describe_error(exc), title="Action failed", severity="error")
            return
        if done:
            self.notify(f"{verb}: {self._job_id}.")
        else:
            self.notify("The job was no longer in that state.", severity="warning")
        self.load()

    def _cancel_question(self) -> ConfirmScreen:
        running = self._job is not None and self._job.state is JobState.RUNNING
        what = (
            "Its worker is asked to stop it (an async handler is cancelled, a sync one "
            "sees ctx.cancelled); if it completes first, it stays completed."
            if running
            else "It will not run (r runs it again)."
        )
        question = f"Cancel job {self._job_id} in namespace {self._settings.namespace!r}?\n\n{what}"
        return ConfirmScreen("Cancel", question, confirm_label="Cancel")


def _history_facts(job: JobInfo, now: float, fact: Callable[..., None]) -> None:
    """When the job ran and finished, how far it got, and when it is pruned."""
    if job.started_at is not None:
        fact("started", _when(job.started_at, now))
    if job.finished_at is not None:
        label = "cancelled" if job.state is JobState.CANCELLED else "finished"
        fact(label, _when(job.finished_at, now))
    if job.run_time is not None:
        fact("ran for", format_run_time(job))
    if job.expires_at is not None:
        fact("kept until", _when(job.expires_at, now))
    if job.progress is not None:
        fact("progress", format_progress(job.progress), "bold")
        if job.progress.updated_at is not None:
            fact("reported", _when(job.progress.updated_at, now))
    if job.cancel_requested:
        fact("cancel", "requested: the worker is stopping it", "bold yellow")


_HIGHLIGHT_LIMIT: Final = 50_000
"""Characters of JSON worth colouring: a result may be 512 KiB, whose highlighting would
hold the screen up for seconds; longer text is shown whole, uncoloured."""


def _json(value: object) -> Syntax | Text:
    pretty = pretty_json(value)
    if len(pretty) > _HIGHLIGHT_LIMIT:
        return Text(pretty)
    return Syntax(pretty, "json", theme=_SYNTAX_THEME, background_color="default")


def _when(timestamp: float, now: float) -> str:
    return f"{format_time(timestamp)} UTC ({format_relative(timestamp, now)})"
