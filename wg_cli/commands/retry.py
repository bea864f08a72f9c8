"""``wg retry``: put dead (or retry, or scheduled) jobs back in the queue now, or run
completed and cancelled jobs again."""

from __future__ import annotations

import enum
from typing import Annotated, Any

import typer

from wg_cli.app import app
from wg_cli.commands.bulk import (
    BulkResult,
    DryRunOpt,
    IdsArg,
    YesOpt,
    apply_per_id,
    classify,
    count_matching,
    report_bulk,
)
from wg_cli.commands.common import queue_arg
from wg_cli.commands.inspect import iter_jobs
from wg_cli.errors import CliError, ExitCode
from wg_cli.output import document, emit, emit_line, print_ids, stdout_console
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

__all__ = ["RetrySource", "retry"]

_RETRYABLE = (
    JobState.DEAD,
    JobState.RETRY,
    JobState.SCHEDULED,
    JobState.COMPLETED,
    JobState.CANCELLED,
)


class RetrySource(enum.StrEnum):
    """States ``retry --all`` takes jobs from."""

    DEAD = "dead"
    RETRY = "retry"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


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
    queue: Annotated[
        str | None,
        typer.Option(
            "--queue",
            metavar="QUEUE",
            help="With --all: only this queue's jobs.",
            show_default=False,
        ),
    ] = None,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    output: OutputOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Put dead (or retry, or scheduled) jobs back in the queue now; run completed
    or cancelled jobs again.

    Dead jobs start over with a fresh retry count, in their own queue at their own
    priority; a completed or cancelled job runs again with the same id and payload.
    Ids come from the arguments or, with -, from stdin:
    wg inspect dead -o id | wg retry - --yes
    """
    settings = resolve(ctx, url, namespace, output, json_output)
    queue_name = queue_arg(queue)
    if every:
        if job_ids:
            raise CliError("give ids or --all, not both", ExitCode.USAGE)
        _retry_all(
            settings,
            JobState(source),
            job_name,
            error_contains,
            queue_name,
            dry_run=dry_run,
            yes=yes,
        )
        return
    if job_name is not None or error_contains is not None or queue_name is not None:
        raise CliError(
            "--job-name, --error-contains and --queue filter --all "
            "(for ids: wg inspect dead --queue QUEUE -o id | wg retry - --yes)",
            ExitCode.USAGE,
        )
    ids, from_stdin = read_ids(job_ids or [])

    async def body(client: Client) -> BulkResult:
        if dry_run:
            return await classify(client, ids, _RETRYABLE, "retried")
        if from_stdin:
            confirm_destructive(
                f"Retry {len(ids)} job(s) in namespace {settings.namespace!r}?",
                yes=yes,
                stdin_used=True,
            )

        async def act(job_id: str) -> bool:
            return await client.retry_jobs([job_id]) == 1

        return await apply_per_id(client, ids, act, _RETRYABLE, "retried")

    result = run(settings, body) if ids else BulkResult()
    report_bulk(settings, result, action="retry", past="retried", dry_run=dry_run)


def _retry_all(
    settings: Settings,
    state: JobState,
    job_name: str | None,
    error_contains: str | None,
    queue: str | None,
    *,
    dry_run: bool,
    yes: bool,
) -> None:
    filters = {"job_name": job_name, "error_contains": error_contains, "queue": queue}

    async def body(client: Client) -> tuple[int, list[str]]:
        if dry_run:
            ids = [
                job.job_id
                async for job in iter_jobs(
                    client,
                    state,
                    limit=None,
                    job_name=job_name,
                    error_contains=error_contains,
                    queue=queue,
                )
            ]
            return len(ids), ids
        matched = await count_matching(client, state, job_name, error_contains, queue)
        if matched == 0:
            return 0, []
        where = "" if queue is None else f" of queue {queue!r}"
        confirm_destructive(
            f"Retry {matched} {state} job(s){where} in namespace {settings.namespace!r}?",
            yes=yes,
        )
        moved = await client.retry_all(
            state, job_name=job_name, error_contains=error_contains, queue=queue
        )
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
        where = "" if queue is None else f" of queue {queue!r}"
        stdout_console().print(f"{count} {state} job(s){where} {verb}.")
