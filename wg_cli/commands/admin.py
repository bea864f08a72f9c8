"""``wg retry``, ``wg delete``, ``wg purge``, ``wg pause``, ``wg resume``.

Bulk commands report per job and end with exit code 3 when only some jobs were
handled (4 when none of the ids exists), so a script never mistakes a partial
requeue for success. Destructive commands ask on a terminal and refuse (exit 5)
without ``--yes`` elsewhere; ``--dry-run`` shows what would happen and changes nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from rich.text import Text

from wg_cli.app import app
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

__all__ = ["delete", "pause", "purge", "resume", "retry"]

_RETRYABLE = (JobState.DEAD, JobState.RETRY, JobState.SCHEDULED)


class RetrySource(enum.StrEnum):
    """States ``retry --all`` takes jobs from."""

    DEAD = "dead"
    RETRY = "retry"


class PurgeTarget(enum.StrEnum):
    """States ``purge`` empties (``all``: every state but running)."""

    QUEUED = "queued"
    SCHEDULED = "scheduled"
    RETRY = "retry"
    DEAD = "dead"
    ALL = "all"


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


async def _per_id(
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


async def _classify(
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


def _report_bulk(
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
    client: Client, state: JobState, job_name: str | None, error_contains: str | None
) -> int:
    """Jobs in ``state`` matching the filters (the core has no filtered count: page)."""
    if job_name is None and error_contains is None:
        return int(getattr(await client.counts(), str(state)))
    return sum(
        [
            1
            async for _ in iter_jobs(
                client, state, limit=None, job_name=job_name, error_contains=error_contains
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


@app.command()
def retry(
    ctx: typer.Context,
    job_ids: IdsArg = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every job of --from matching the filters.")
    ] = False,
    source: Annotated[
        RetrySource, typer.Option("--from", help="With --all: the state to requeue from.")
    ] = RetrySource.DEAD,
    job_name: Annotated[
        str | None, typer.Option("--job-name", "-j", help="With --all: only this job name.")
    ] = None,
    error_contains: Annotated[
        str | None,
        typer.Option(
            "--error-contains", "-e", help="With --all: only jobs whose error contains TEXT."
        ),
    ] = None,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    output: OutputOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Put dead (or retry, or scheduled) jobs back in the queue now.

    Dead jobs start over with a fresh retry count. Ids come from the arguments or, with
    -, from stdin: wg inspect dead -o id | wg retry - --yes
    """
    settings = resolve(ctx, url, namespace, output, json_output)
    if every:
        if job_ids:
            raise CliError("give ids or --all, not both", ExitCode.USAGE)
        _retry_all(settings, JobState(source), job_name, error_contains, dry_run=dry_run, yes=yes)
        return
    if job_name is not None or error_contains is not None:
        raise CliError("--job-name and --error-contains filter --all", ExitCode.USAGE)
    ids, from_stdin = read_ids(job_ids or [])

    async def body(client: Client) -> BulkResult:
        if dry_run:
            return await _classify(client, ids, _RETRYABLE, "retried")
        if from_stdin:
            confirm_destructive(
                f"Retry {len(ids)} job(s) in namespace {settings.namespace!r}?",
                yes=yes,
                stdin_used=True,
            )

        async def act(job_id: str) -> bool:
            return await client.retry_jobs([job_id]) == 1

        return await _per_id(client, ids, act, _RETRYABLE, "retried")

    result = run(settings, body) if ids else BulkResult()
    _report_bulk(settings, result, action="retry", past="retried", dry_run=dry_run)


def _retry_all(
    settings: Settings,
    state: JobState,
    job_name: str | None,
    error_contains: str | None,
    *,
    dry_run: bool,
    yes: bool,
) -> None:
    filters = {"job_name": job_name, "error_contains": error_contains}

    async def body(client: Client) -> tuple[int, list[str]]:
        if dry_run:
            ids = [
                job.job_id
                async for job in iter_jobs(
                    client, state, limit=None, job_name=job_name, error_contains=error_contains
                )
            ]
            return len(ids), ids
        matched = await count_matching(client, state, job_name, error_contains)
        if matched == 0:
            return 0, []
        confirm_destructive(
            f"Retry {matched} {state} job(s) in namespace {settings.namespace!r}?", yes=yes
        )
        moved = await client.retry_all(state, job_name=job_name, error_contains=error_contains)
        return moved, []

    count, ids = run(settings, body)
    if settings.output is OutputFormat.JSON:
        doc: dict[str, Any] = {"action": "retry", "from": str(state), "filters": filters}
        doc |= {"dry_run": dry_run, "matched": count, "retried": 0 if dry_run else count}
        if dry_run:
            doc["ids"] = ids
        emit(document(settings, **doc))
    elif settings.output is OutputFormat.JSONL:
        emit_line({"action": "retry", "dry_run": dry_run, "matched": count})
    elif settings.output is OutputFormat.ID:
        print_ids(ids)
    else:
        verb = "would be retried" if dry_run else "retried"
        stdout_console().print(f"{count} {state} job(s) {verb}.")


@app.command()
def delete(
    ctx: typer.Context,
    job_ids: IdsArg = None,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    output: OutputOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Delete jobs by id, in any state but running."""
    settings = resolve(ctx, url, namespace, output, json_output)
    ids, from_stdin = read_ids(job_ids or [])
    deletable = (JobState.QUEUED, JobState.SCHEDULED, JobState.RETRY, JobState.DEAD)

    async def body(client: Client) -> BulkResult:
        if dry_run:
            return await _classify(client, ids, deletable, "deleted")
        confirm_destructive(
            f"Delete {len(ids)} job(s) from namespace {settings.namespace!r}?",
            yes=yes,
            stdin_used=from_stdin,
        )

        async def act(job_id: str) -> bool:
            return await client.delete_jobs([job_id]) == 1

        return await _per_id(client, ids, act, deletable, "deleted")

    result = run(settings, body) if ids else BulkResult()
    _report_bulk(settings, result, action="delete", past="deleted", dry_run=dry_run)


@app.command()
def purge(
    ctx: typer.Context,
    target: Annotated[
        PurgeTarget,
        typer.Argument(
            metavar="queued|scheduled|retry|dead|all",
            help="The state to empty; all = every state but running.",
            case_sensitive=False,
        ),
    ],
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    output: OutputOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Delete every job in a state. Running jobs are never purged."""
    settings = resolve(ctx, url, namespace, output, json_output)
    if settings.output is OutputFormat.ID:
        raise CliError("purge prints no ids: use -o table, json or jsonl", ExitCode.USAGE)
    states = (
        [JobState.QUEUED, JobState.SCHEDULED, JobState.RETRY, JobState.DEAD]
        if target is PurgeTarget.ALL
        else [JobState(target)]
    )

    async def body(client: Client) -> tuple[dict[str, int], dict[str, int]]:
        counts = await client.counts()
        matched = {str(state): int(getattr(counts, str(state))) for state in states}
        deleted = dict.fromkeys(matched, 0)
        total = sum(matched.values())
        if dry_run or total == 0:
            return matched, deleted
        what = "" if target is PurgeTarget.ALL else f" {target}"
        confirm_destructive(
            f"Delete {total}{what} job(s) from namespace {settings.namespace!r} "
            f"({settings.display_url})?",
            yes=yes,
        )
        for state in states:
            deleted[str(state)] = await client.purge(state)
        return matched, deleted

    matched, deleted = run(settings, body)
    if settings.output is OutputFormat.JSON:
        emit(
            document(
                settings,
                action="purge",
                state=str(target),
                dry_run=dry_run,
                matched=matched,
                deleted=deleted,
                total=sum(deleted.values()),
            )
        )
    elif settings.output is OutputFormat.JSONL:
        for state, count in matched.items():
            emit_line({"state": state, "matched": count, "deleted": deleted[state]})
    elif dry_run:
        parts = ", ".join(f"{n} {s}" for s, n in matched.items())
        stdout_console().print(f"Would delete {parts} job(s); nothing changed (dry run).")
    else:
        parts = ", ".join(f"{n} {s}" for s, n in deleted.items())
        stdout_console().print(f"Deleted {parts} job(s) from namespace {settings.namespace!r}.")


def _set_paused(settings: Settings, paused: bool) -> None:
    if settings.output is OutputFormat.ID:
        raise CliError("pause/resume print no ids: use -o table, json or jsonl", ExitCode.USAGE)

    async def body(client: Client) -> None:
        if paused:
            await client.pause()
        else:
            await client.resume()

    run(settings, body)
    if settings.machine:
        doc = document(settings, paused=paused)
        (emit if settings.output is OutputFormat.JSON else emit_line)(doc)
    elif paused:
        stdout_console().print(
            f"Namespace {settings.namespace!r} paused: workers stop claiming "
            "(running jobs finish). Undo with: wg resume"
        )
    else:
        stdout_console().print(f"Namespace {settings.namespace!r} resumed: workers claim again.")


@app.command()
def pause(
    ctx: typer.Context,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    output: OutputOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Tell every worker of the namespace to stop claiming jobs (running jobs finish)."""
    _set_paused(resolve(ctx, url, namespace, output, json_output), True)


@app.command()
def resume(
    ctx: typer.Context,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    output: OutputOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Let the namespace's workers claim jobs again."""
    _set_paused(resolve(ctx, url, namespace, output, json_output), False)
