"""``wg cancel``: cancel jobs by id, or every job of some states matching filters.

A waiting job (queued, scheduled, retry) or a dead one is cancelled at once and never
runs; a running job's cancel is *requested*: its worker cancels the handler and the job
ends cancelled (or it completes first: exactly one of the two happens). A completed or
cancelled job cannot be cancelled. The report tells the three apart, per id, and the
exit code follows the other bulk commands (``wg_cli.commands.bulk``): 0 all done, 3
some, 4 none of the ids exists, 1 none could be cancelled.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from rich.text import Text

from wg_cli.app import app
from wg_cli.commands.bulk import BulkResult, DryRunOpt, IdsArg, YesOpt
from wg_cli.commands.common import queue_arg
from wg_cli.commands.inspect import iter_jobs
from wg_cli.errors import CliError, ExitCode
from wg_cli.output import document, emit, emit_line, print_ids, stderr_console, stdout_console
from wg_cli.session import confirm_destructive, read_ids, run
from wg_cli.settings import (
    JsonOpt,
    NamespaceOpt,
    OutputFormat,
    OutputOpt,
    Settings,
    UrlOpt,
    resolve,
)
from wg_core import Client, JobState

__all__ = ["CancelReport", "CancelState", "cancel"]


class CancelState(enum.StrEnum):
    """States ``cancel --all`` takes jobs from (finished jobs cannot be cancelled)."""

    QUEUED = "queued"
    SCHEDULED = "scheduled"
    RETRY = "retry"
    DEAD = "dead"
    RUNNING = "running"


_CANCELLABLE = tuple(JobState(state) for state in CancelState)


@dataclass(slots=True)
class CancelReport(BulkResult):
    """A bulk outcome whose ``done`` ids are cancelled now or, for the ``requested``
    ones (running jobs), asked to stop."""

    requested: list[str] = field(default_factory=list)

    @property
    def cancelled(self) -> list[str]:
        """The ids cancelled at once (or that would be, in a dry run)."""
        return [job_id for job_id in self.done if job_id not in set(self.requested)]


async def _cancel_each(client: Client, ids: list[str]) -> CancelReport:
    # One call per id: Client.cancel_jobs returns a count, and each id's outcome is
    # what the operator asked to see.
    report = CancelReport()
    for job_id in ids:
        if await client.cancel(job_id):
            report.done.append(job_id)
            # True for both outcomes: a job still running had its cancel requested.
            job = await client.get_job(job_id)
            if job is not None and job.state is JobState.RUNNING:
                report.requested.append(job_id)
            continue
        job = await client.get_job(job_id)
        if job is None:
            report.missing.append(job_id)
        else:
            report.skipped.append((job_id, f"is {job.state}, cannot be cancelled"))
    return report


async def _classify(client: Client, ids: list[str]) -> CancelReport:
    """What ``_cancel_each`` would do, changing nothing (``--dry-run``)."""
    report = CancelReport()
    for job_id in ids:
        job = await client.get_job(job_id)
        if job is None:
            report.missing.append(job_id)
        elif job.state in _CANCELLABLE:
            report.done.append(job_id)
            if job.state is JobState.RUNNING:
                report.requested.append(job_id)
        else:
            report.skipped.append((job_id, f"is {job.state}, cannot be cancelled"))
    return report


@app.command()
def cancel(
    ctx: typer.Context,
    job_ids: IdsArg = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every job of --state matching the filters.")
    ] = False,
    states: Annotated[
        list[CancelState] | None,
        typer.Option(
            "--state",
            help="With --all: the state to cancel jobs of (repeat for several).",
            case_sensitive=False,
            show_default=False,
        ),
    ] = None,
    queue: Annotated[
        str | None,
        typer.Option(
            "--queue",
            metavar="QUEUE",
            help="With --all: only this queue's jobs.",
            show_default=False,
        ),
    ] = None,
    job_name: Annotated[
        str | None, typer.Option("--job-name", "-j", help="With --all: only this job name.")
    ] = None,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    output: OutputOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Cancel jobs: waiting and dead ones at once, running ones by asking their worker.

    Ids come from the arguments or, with -, from stdin (then --yes is needed):
    wg inspect queued --queue emails -o id | wg cancel - --yes
    Or every job of some states: wg cancel --all --state queued --queue emails --yes
    """
    settings = resolve(ctx, url, namespace, output, json_output)
    queue_name = queue_arg(queue)
    if every:
        if job_ids:
            raise CliError("give ids or --all, not both", ExitCode.USAGE)
        if not states:
            choices = "|".join(str(state) for state in CancelState)
            raise CliError(f"--all needs --state {choices} (repeat for several)", ExitCode.USAGE)
        chosen = [JobState(state) for state in dict.fromkeys(states)]
        report = run(
            settings,
            lambda client: _cancel_all(
                client, settings, chosen, queue_name, job_name, dry_run=dry_run, yes=yes
            ),
        )
        _report(settings, report, dry_run=dry_run, filters=(chosen, queue_name, job_name))
        return
    if states or queue_name is not None or job_name is not None:
        raise CliError(
            "--state, --queue and --job-name filter --all "
            "(for ids: wg inspect queued --queue QUEUE -o id | wg cancel - --yes)",
            ExitCode.USAGE,
        )
    ids, from_stdin = read_ids(job_ids or [])

    async def body(client: Client) -> CancelReport:
        if dry_run:
            return await _classify(client, ids)
        if from_stdin:
            confirm_destructive(
                f"Cancel {len(ids)} job(s) in namespace {settings.namespace!r}?",
                yes=yes,
                stdin_used=True,
            )
        return await _cancel_each(client, ids)

    _report(settings, run(settings, body), dry_run=dry_run)


async def _cancel_all(
    client: Client,
    settings: Settings,
    states: list[JobState],
    queue: str | None,
    job_name: str | None,
    *,
    dry_run: bool,
    yes: bool,
) -> CancelReport:
    ids: list[str] = []
    for state in states:
        ids += [
            job.job_id
            async for job in iter_jobs(client, state, limit=None, job_name=job_name, queue=queue)
        ]
    if dry_run:
        return await _classify(client, ids)
    if not ids:
        return CancelReport()
    where = "" if queue is None else f" of queue {queue!r}"
    named = "" if job_name is None else f" named {job_name!r}"
    confirm_destructive(
        f"Cancel {len(ids)} {'/'.join(states)} job(s){named}{where} "
        f"in namespace {settings.namespace!r}?",
        yes=yes,
    )
    return await _cancel_each(client, ids)


def _report(
    settings: Settings,
    report: CancelReport,
    *,
    dry_run: bool,
    filters: tuple[list[JobState], str | None, str | None] | None = None,
) -> None:
    """Print the outcome, then end with the bulk exit code (via ``CliError``)."""
    asked = len(report.done) + len(report.missing) + len(report.skipped)
    cancelled, requested = report.cancelled, report.requested
    if settings.output is OutputFormat.JSON:
        doc: dict[str, Any] = {"action": "cancel", "dry_run": dry_run}
        if filters is not None:
            states, queue, job_name = filters
            doc["filters"] = {
                "states": [str(state) for state in states],
                "queue": queue,
                "job_name": job_name,
            }
        doc |= {
            "requested": asked,
            "cancelled": len(cancelled),
            "cancel_requested": len(requested),
            "ids": cancelled,
            "cancel_requested_ids": requested,
            "failed": report.failures,
        }
        emit(document(settings, **doc))
    elif settings.output is OutputFormat.JSONL:
        for job_id in report.done:
            outcome = "requested" if job_id in requested else "cancelled"
            emit_line({"id": job_id, "ok": True, "outcome": outcome, "dry_run": dry_run})
        for failure in report.failures:
            emit_line({**failure, "ok": False, "outcome": "not_cancelled", "dry_run": dry_run})
    elif settings.output is OutputFormat.ID:
        print_ids(report.done)
    else:
        would = "would be " if dry_run else ""
        line = f"{len(cancelled)} of {asked} job(s) {would}cancelled"
        if requested:
            asked_to = "would be asked" if dry_run else "asked"
            line += f"; {len(requested)} running job(s) {asked_to} to stop (cancel requested)"
        stdout_console().print(Text(line + "."))
        err = stderr_console()
        for failure in report.failures:
            err.print(Text(f"  {failure['id']}: {failure['reason']}", "yellow"))
    code = report.exit_code()
    if code is not ExitCode.OK:
        raise CliError(f"{len(report.failures)} of {asked} job(s) not cancelled", code)
