"""What the bulk commands share: per-id outcomes, their report and exit code, and the
``--yes``/``--dry-run``/ids options.

Bulk commands report per job and end with exit code 3 when only some jobs were
handled (4 when none of the ids exists), so a script never mistakes a partial
requeue for success. Destructive commands ask on a terminal and refuse (exit 5)
without ``--yes`` elsewhere; ``--dry-run`` shows what would happen and changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated

import typer
from rich.text import Text

from wg_cli.commands.inspect import iter_jobs
from wg_cli.errors import CliError, ExitCode
from wg_cli.output import document, emit, emit_line, print_ids, stderr_console, stdout_console
from wg_cli.settings import OutputFormat, Settings
from wg_core import Client, JobState

__all__ = [
    "BulkResult",
    "DryRunOpt",
    "IdsArg",
    "YesOpt",
    "apply_per_id",
    "classify",
    "count_matching",
    "report_bulk",
]


@dataclass(slots=True)
class BulkResult:
    """Per-id outcome of a bulk command."""

    done: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (id, reason)

    @property
    def failures(self) -> list[dict[str, str]]:
        """Ids not handled, with the reason."""
        return [{"id": i, "reason": "not found"} for i in self.missing] + [
            {"id": i, "reason": reason} for i, reason in self.skipped
        ]

    def exit_code(self) -> ExitCode:
        """0 all done; 3 some done; 4 none exists; 1 none done for other reasons."""
        if not self.missing and not self.skipped:
            return ExitCode.OK
        if self.done:
            return ExitCode.PARTIAL
        if not self.skipped:
            return ExitCode.NOT_FOUND
        return ExitCode.FAILURE


async def apply_per_id(
    client: Client,
    ids: list[str],
    act: Callable[[str], Awaitable[bool]],
    eligible: tuple[JobState, ...],
    verb: str,
) -> BulkResult:
    """Apply ``act`` to each id (``act`` returns whether it acted) and classify the rest.

    One call per id so that each id's outcome is known exactly (the client's bulk
    calls return only a count).
    """
    result = BulkResult()
    for job_id in ids:
        if await act(job_id):
            result.done.append(job_id)
            continue
        job = await client.get_job(job_id)
        if job is None:
            result.missing.append(job_id)
        elif job.state not in eligible:
            result.skipped.append((job_id, f"is {job.state}, cannot be {verb}"))
        else:
            result.skipped.append((job_id, f"was not {verb} (it changed state meanwhile)"))
    return result


async def classify(
    client: Client, ids: list[str], eligible: tuple[JobState, ...], verb: str
) -> BulkResult:
    """What ``_per_id`` would do, without doing it (``--dry-run``)."""
    result = BulkResult()
    for job_id in ids:
        job = await client.get_job(job_id)
        if job is None:
            result.missing.append(job_id)
        elif job.state in eligible:
            result.done.append(job_id)
        else:
            result.skipped.append((job_id, f"is {job.state}, cannot be {verb}"))
    return result


def report_bulk(
    settings: Settings, result: BulkResult, *, action: str, past: str, dry_run: bool
) -> None:
    """Print the outcome, then end with the bulk exit code (via ``CliError``)."""
    requested = len(result.done) + len(result.missing) + len(result.skipped)
    if settings.output is OutputFormat.JSON:
        emit(
            document(
                settings,
                action=action,
                dry_run=dry_run,
                requested=requested,
                ids=result.done,
                failed=result.failures,
                **{past: 0 if dry_run else len(result.done)},
                matched=len(result.done),
            )
        )
    elif settings.output is OutputFormat.JSONL:
        for job_id in result.done:
            emit_line({"id": job_id, "ok": True, "dry_run": dry_run})
        for failure in result.failures:
            emit_line({**failure, "ok": False, "dry_run": dry_run})
    elif settings.output is OutputFormat.ID:
        print_ids(result.done)
    else:
        verb = f"would be {past}" if dry_run else past
        stdout_console().print(f"{len(result.done)} of {requested} job(s) {verb}.")
        err = stderr_console()
        for failure in result.failures:
            err.print(Text(f"  {failure['id']}: {failure['reason']}", "yellow"))
    code = result.exit_code()
    if code is not ExitCode.OK:
        failed = len(result.failures)
        raise CliError(f"{failed} of {requested} job(s) not {past}", code)


async def count_matching(
    client: Client,
    state: JobState,
    job_name: str | None,
    error_contains: str | None,
    queue: str | None = None,
) -> int:
    """Jobs in ``state`` (of ``queue``) matching the filters (the core counts per queue
    but has no filtered count: page)."""
    if job_name is None and error_contains is None:
        return int(getattr(await client.counts(queue=queue), str(state)))
    return sum(
        [
            1
            async for _ in iter_jobs(
                client,
                state,
                limit=None,
                job_name=job_name,
                error_contains=error_contains,
                queue=queue,
            )
        ]
    )


YesOpt = Annotated[
    bool, typer.Option("--yes", "-y", help="Do it without asking (needed when not on a terminal).")
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Show what would be done; change nothing.")
]
IdsArg = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="[ID... | -]", help="Job ids, or - to read them from stdin.", show_default=False
    ),
]
