"""``wg delete`` and ``wg purge``: remove jobs by id, or every job of a state."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from wg_cli.app import app
from wg_cli.commands.bulk import (
    BulkResult,
    DryRunOpt,
    IdsArg,
    YesOpt,
    apply_per_id,
    classify,
    report_bulk,
)
from wg_cli.commands.common import queue_arg
from wg_cli.errors import CliError, ExitCode
from wg_cli.output import document, emit, emit_line, stdout_console
from wg_cli.session import confirm_destructive, read_ids, run
from wg_cli.settings import (
    JsonOpt,
    NamespaceOpt,
    OutputFormat,
    OutputOpt,
    UrlOpt,
    resolve,
)
from wg_core import Client, JobState

__all__ = ["PurgeTarget", "delete", "purge"]

_REMOVABLE = (
    JobState.QUEUED,
    JobState.SCHEDULED,
    JobState.RETRY,
    JobState.DEAD,
    JobState.COMPLETED,
    JobState.CANCELLED,
)
"""Every state but running: a worker holds a running job (cancel it instead)."""


class PurgeTarget(enum.StrEnum):
    """States ``purge`` empties (``all``: every state but running)."""

    QUEUED = "queued"
    SCHEDULED = "scheduled"
    RETRY = "retry"
    DEAD = "dead"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    ALL = "all"


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
    """Delete jobs by id, in any state but running (completed and cancelled ones too)."""
    settings = resolve(ctx, url, namespace, output, json_output)
    ids, from_stdin = read_ids(job_ids or [])
    deletable = _REMOVABLE

    async def body(client: Client) -> BulkResult:
        if dry_run:
            return await classify(client, ids, deletable, "deleted")
        confirm_destructive(
            f"Delete {len(ids)} job(s) from namespace {settings.namespace!r}?",
            yes=yes,
            stdin_used=from_stdin,
        )

        async def act(job_id: str) -> bool:
            return await client.delete_jobs([job_id]) == 1

        return await apply_per_id(client, ids, act, deletable, "deleted")

    result = run(settings, body) if ids else BulkResult()
    report_bulk(settings, result, action="delete", past="deleted", dry_run=dry_run)


def _purge_target(name: str) -> PurgeTarget:
    cleaned = name.strip().lower()
    if cleaned == str(JobState.RUNNING):
        raise CliError(
            "running jobs cannot be purged: their workers hold them (cancel them: "
            "wg cancel --all --state running; or wait for them to finish)",
            ExitCode.USAGE,
        )
    try:
        return PurgeTarget(cleaned)
    except ValueError:
        choices = ", ".join(str(t) for t in PurgeTarget)
        raise CliError(f"cannot purge {name!r}: choose one of {choices}", ExitCode.USAGE) from None


@app.command()
def purge(
    ctx: typer.Context,
    target_name: Annotated[
        str,
        typer.Argument(
            metavar="queued|scheduled|retry|dead|completed|cancelled|all",
            help="The state to empty; all = every state but running (completed and "
            "cancelled included).",
            show_default=False,
        ),
    ],
    queue: Annotated[
        str | None,
        typer.Option(
            "--queue",
            metavar="QUEUE",
            help="Only this queue's jobs (default: every queue).",
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
    """Delete every job in a state (of one --queue, or of all). Running jobs are never
    purged."""
    settings = resolve(ctx, url, namespace, output, json_output)
    if settings.output is OutputFormat.ID:
        raise CliError("purge prints no ids: use -o table, json or jsonl", ExitCode.USAGE)
    target = _purge_target(target_name)
    queue_name = queue_arg(queue)
    where = "" if queue_name is None else f" of queue {queue_name!r}"
    states = list(_REMOVABLE) if target is PurgeTarget.ALL else [JobState(target)]

    async def body(client: Client) -> tuple[dict[str, int], dict[str, int]]:
        counts = await client.counts(queue=queue_name)
        matched = {str(state): int(getattr(counts, str(state))) for state in states}
        deleted = dict.fromkeys(matched, 0)
        total = sum(matched.values())
        if dry_run or total == 0:
            return matched, deleted
        what = "" if target is PurgeTarget.ALL else f" {target}"
        confirm_destructive(
            f"Delete {total}{what} job(s){where} from namespace {settings.namespace!r} "
            f"({settings.display_url})?",
            yes=yes,
        )
        for state in states:
            deleted[str(state)] = await client.purge(state, queue=queue_name)
        return matched, deleted

    matched, deleted = run(settings, body)
    if settings.output is OutputFormat.JSON:
        emit(
            document(
                settings,
                action="purge",
                state=str(target),
                queue=queue_name,
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
        stdout_console().print(f"Would delete {parts} job(s){where}; nothing changed (dry run).")
    else:
        parts = ", ".join(f"{n} {s}" for s, n in deleted.items())
        stdout_console().print(
            f"Deleted {parts} job(s){where} from namespace {settings.namespace!r}."
        )
