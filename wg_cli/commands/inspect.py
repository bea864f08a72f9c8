"""``wg inspect``: list the jobs of a state, show one job, list worker pools."""

from __future__ import annotations

import enum
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Final

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from wg_cli.app import app
from wg_cli.commands.common import QueueFilterOpt, queue_arg
from wg_cli.durations import format_age, format_duration
from wg_cli.errors import CliError, ExitCode
from wg_cli.output import (
    document,
    emit,
    emit_line,
    job_document,
    print_ids,
    stdout_console,
    worker_document,
)
from wg_cli.session import check_ids, run
from wg_cli.settings import (
    JsonOpt,
    NamespaceOpt,
    OutputFormat,
    OutputOpt,
    Settings,
    UrlOpt,
    resolve,
)
from wg_cli.tables import jobs_table, workers_table
from wg_core import Client, JobInfo, JobState

__all__ = ["Order", "inspect_app", "iter_jobs"]

DEFAULT_LIMIT: Final = 50
PAGE: Final = 500

inspect_app = typer.Typer(
    name="inspect",
    help="List the jobs of a state, show one job, or list worker pools.",
    no_args_is_help=True,
)
app.add_typer(inspect_app)


class Order(enum.StrEnum):
    """Listing order: ``oldest`` is the state's natural order (next to run first)."""

    OLDEST = "oldest"
    NEWEST = "newest"


async def iter_jobs(
    client: Client,
    state: JobState,
    *,
    limit: int | None,
    offset: int = 0,
    newest_first: bool = False,
    job_name: str | None = None,
    error_contains: str | None = None,
    text_contains: str | None = None,
    queue: str | None = None,
) -> AsyncIterator[JobInfo]:
    """Up to ``limit`` jobs (all when ``None``) of ``state``, fetched in pages.

    Offset paging: jobs that change state meanwhile may be skipped or seen twice, which
    is acceptable for inspection (a stable cursor would need support in the core).
    """
    seen = 0
    while limit is None or seen < limit:
        size = PAGE if limit is None else min(PAGE, limit - seen)
        page = await client.list_jobs(
            state,
            limit=size,
            offset=offset + seen,
            newest_first=newest_first,
            job_name=job_name,
            error_contains=error_contains,
            text_contains=text_contains,
            queue=queue,
        )
        for job in page:
            yield job
        seen += len(page)
        if len(page) < size:
            return


def _list_state(
    settings: Settings,
    state: JobState,
    *,
    limit: int | None,
    every: bool,
    offset: int,
    job_name: str | None,
    error_contains: str | None,
    order: Order,
    search: str | None = None,
    queue: str | None = None,
) -> None:
    if every and limit is not None:
        raise CliError("give --limit or --all, not both", ExitCode.USAGE)
    streaming = settings.output in (OutputFormat.ID, OutputFormat.JSONL)
    if every or (limit is None and streaming):
        wanted: int | None = None
    else:
        wanted = DEFAULT_LIMIT if limit is None else limit
    newest = order is Order.NEWEST
    filtered = job_name is not None or error_contains is not None or search is not None

    async def body(client: Client) -> None:
        # One extra job tells whether there is a next page.
        probe = None if wanted is None else wanted + 1
        jobs_iter = iter_jobs(
            client,
            state,
            limit=probe,
            offset=offset,
            newest_first=newest,
            job_name=job_name,
            error_contains=error_contains,
            text_contains=search,
            queue=queue,
        )
        if streaming:
            shown = 0
            async for job in jobs_iter:
                if wanted is not None and shown == wanted:
                    break
                if settings.output is OutputFormat.ID:
                    typer.echo(job.job_id)
                else:
                    emit_line(job_document(job))
                shown += 1
            return
        jobs = [job async for job in jobs_iter]
        more = wanted is not None and len(jobs) > wanted
        jobs = jobs[:wanted] if wanted is not None else jobs
        # A queue alone is not a filter that hides the total: the queue's counts have it.
        total = None if filtered else getattr(await client.counts(queue=queue), str(state))
        if settings.output is OutputFormat.JSON:
            emit(
                document(
                    settings,
                    state=str(state),
                    order=str(order),
                    limit=wanted,
                    offset=offset,
                    filters={
                        "job_name": job_name,
                        "error_contains": error_contains,
                        "search": search,
                        "queue": queue,
                    },
                    count=len(jobs),
                    total=total,
                    next_offset=offset + len(jobs) if more else None,
                    jobs=[job_document(job) for job in jobs],
                )
            )
            return
        console = stdout_console()
        in_queue = "" if queue is None else f" of queue {queue!r}"
        if not jobs:
            console.print(
                Text(f"No {state} jobs{in_queue} in namespace {settings.namespace!r}.", "dim")
            )
            return
        where = f"{offset + 1}–{offset + len(jobs)}" + ("" if total is None else f" of {total}")
        title = f"{state} jobs{in_queue} {where}"
        table = jobs_table(
            jobs, str(state), title=title, width=console.width, queue_known=queue is not None
        )
        console.print(table)
        if more:
            console.print(Text(f"More: --offset {offset + len(jobs)} (or --all)", "dim"))

    run(settings, body)


LimitOpt = Annotated[
    int | None,
    typer.Option(
        "--limit",
        "-l",
        min=1,
        help=f"At most this many jobs [default: {DEFAULT_LIMIT}; all with -o id or jsonl].",
        show_default=False,
    ),
]
AllOpt = Annotated[bool, typer.Option("--all", "-A", help="Every matching job (no limit).")]
OffsetOpt = Annotated[int, typer.Option("--offset", min=0, help="Skip this many jobs first.")]
JobNameOpt = Annotated[
    str | None, typer.Option("--job-name", "-j", help="Only jobs with this job name.")
]
ErrorOpt = Annotated[
    str | None,
    typer.Option("--error-contains", "-e", help="Only jobs whose last error contains TEXT."),
]
SearchOpt = Annotated[
    str | None,
    typer.Option(
        "--search",
        "-s",
        metavar="TEXT",
        help="Only jobs whose stored envelope contains TEXT (id or a fragment of it, "
        "job name, payload, error; case-insensitive).",
    ),
]
OrderOpt = Annotated[
    Order,
    typer.Option(
        "--order",
        help="oldest: the state's own order (next to run, or first to die, first); "
        "newest: reversed.",
        case_sensitive=False,
    ),
]

_STATE_HELP = {
    JobState.QUEUED: "Jobs waiting to run, next to run first.",
    JobState.SCHEDULED: "Jobs scheduled for later, soonest due first.",
    JobState.RETRY: "Jobs waiting to be retried, soonest due first, with their last error.",
    JobState.RUNNING: "Jobs being run now, with their worker and lease.",
    JobState.DEAD: "Jobs that failed for good (the dead-letter queue), first to die first.",
    JobState.COMPLETED: "Jobs that completed, kept with their result for the retention "
    "period (the result is cut here: -o json or wg result ID print it whole).",
    JobState.CANCELLED: "Jobs cancelled before they ran or while they ran, kept for the "
    "retention period.",
}


def _register_state_command(state: JobState) -> None:
    def command(
        ctx: typer.Context,
        limit: LimitOpt = None,
        every: AllOpt = False,
        offset: OffsetOpt = 0,
        job_name: JobNameOpt = None,
        error_contains: ErrorOpt = None,
        search: SearchOpt = None,
        queue: QueueFilterOpt = None,
        order: OrderOpt = Order.OLDEST,
        url: UrlOpt = None,
        namespace: NamespaceOpt = None,
        output: OutputOpt = None,
        json_output: JsonOpt = False,
    ) -> None:
        settings = resolve(ctx, url, namespace, output, json_output)
        _list_state(
            settings,
            state,
            limit=limit,
            every=every,
            offset=offset,
            job_name=job_name,
            error_contains=error_contains,
            order=order,
            search=search,
            queue=queue_arg(queue),
        )

    command.__doc__ = _STATE_HELP[state]
    command.__name__ = f"inspect_{state}"
    inspect_app.command(name=str(state))(command)


for _state in JobState:
    _register_state_command(_state)


@inspect_app.command("job")
def inspect_job(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(metavar="ID", help="The job's id.")],
    raw: Annotated[
        bool, typer.Option("--raw", help="Print the stored text exactly as stored.")
    ] = False,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    output: OutputOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """One job in any state: the whole envelope, where it is and why it failed."""
    settings = resolve(ctx, url, namespace, output, json_output)
    [job_id] = check_ids([job_id.strip()])  # not a UUID: a usage error (2), not "not found"

    async def body(client: Client) -> None:
        job = await client.get_job(job_id)
        if job is None:
            raise CliError(
                f"no job {job_id!r} in namespace {settings.namespace!r}", ExitCode.NOT_FOUND
            )
        if raw:
            typer.echo(job.raw)
        elif settings.output is OutputFormat.JSON:
            emit(document(settings, job=job_document(job, envelope=True)))
        elif settings.output is OutputFormat.JSONL:
            emit_line(job_document(job, envelope=True))
        elif settings.output is OutputFormat.ID:
            typer.echo(job.job_id)
        else:
            _print_job(job)

    run(settings, body)


def _print_job(job: JobInfo) -> None:
    now = time.time()
    console = stdout_console()
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="dim", no_wrap=True)
    facts.add_column()
    env = job.envelope
    rows: list[tuple[str, str | None]] = [
        ("id", job.job_id),
        ("job", job.job_name),
        ("state", str(job.state)),
        ("queue", job.queue),
        ("priority", str(job.priority)),
        ("unique key", job.unique_key),
        ("limit key", job.limit_key),
        ("status", env.status if env else None),
        # Runs so far of runs allowed, as the TUI shows them (JobInfo.runs).
        ("attempts", f"{job.runs} run of {job.runs_allowed} allowed" if env else None),
        ("timeout", _seconds(env.timeout) if env else None),
        ("retry delay", _seconds(env.retry_delay) if env else None),
        ("created", format_age(env.created_at, now) if env else None),
        ("due", format_age(job.due_at, now) if job.due_at is not None else None),
        ("lease until", format_age(job.lease_until, now) if job.lease_until else None),
        ("worker", job.worker_id),
        # For a dead job the same field is its time of death, on every backend.
        ("died", _died(job, now))
        if job.state is JobState.DEAD
        else ("updated", _updated(job, now)),
        ("started", _age(job.started_at, now)),
        ("finished", _age(job.finished_at, now)),
        ("run time", None if job.run_time is None else format_duration(job.run_time)),
        ("expires", _age(job.expires_at, now)),
        ("progress", _progress(job, now)),
        ("cancel", "requested (the worker is stopping it)" if job.cancel_requested else None),
    ]
    for label, value in rows:
        if value is not None:
            facts.add_row(label, Text(value))
    console.print(facts)
    if job.last_error:
        console.print(Text("\nlast error", "dim"))
        console.print(Text(job.last_error, "red"))
    if job.state is JobState.COMPLETED:
        console.print(Text("\nresult", "dim"))
        _print_json(console, job.result)
    if env is None:
        console.print(Text("\nstored text (not a valid envelope)", "dim"))
        console.print(Text(job.raw))
    else:
        console.print(Text("\npayload", "dim"))
        _print_json(console, job.payload)


def _print_json(console: Console, value: object) -> None:
    from rich.syntax import Syntax  # only here: it costs ~50 ms at startup

    pretty = json.dumps(value, indent=2, ensure_ascii=False)
    console.print(Syntax(pretty, "json", theme="ansi_dark", background_color="default"))


def _age(timestamp: float | None, now: float) -> str | None:
    return None if timestamp is None else format_age(timestamp, now)


def _progress(job: JobInfo, now: float) -> str | None:
    progress = job.progress
    if progress is None:
        return None
    text = f"{progress.fraction:.0%}"
    if progress.message:
        text += f" {progress.message}"
    if progress.updated_at is not None:
        text += f" ({format_age(progress.updated_at, now)})"
    return text


def _died(job: JobInfo, now: float) -> str:
    return "-" if job.updated_at is None else format_age(job.updated_at, now)


def _updated(job: JobInfo, now: float) -> str | None:
    return None if job.updated_at is None else format_age(job.updated_at, now)


def _seconds(value: float | None) -> str:
    return "none" if value is None else format_duration(value)


@inspect_app.command("workers")
def inspect_workers(
    ctx: typer.Context,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    output: OutputOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Worker pools registered in the namespace, with their last heartbeat."""
    settings = resolve(ctx, url, namespace, output, json_output)

    async def body(client: Client) -> None:
        workers = await client.workers()
        paused = await client.is_paused()
        if settings.output is OutputFormat.JSON:
            emit(document(settings, paused=paused, workers=[worker_document(w) for w in workers]))
        elif settings.output is OutputFormat.JSONL:
            for worker in workers:
                emit_line(worker_document(worker))
        elif settings.output is OutputFormat.ID:
            print_ids(worker.worker_id for worker in workers)
        else:
            console = stdout_console()
            if paused:
                console.print(Text("Namespace is paused: workers do not claim jobs.", "yellow"))
            if not workers:
                console.print(Text(f"No workers in namespace {settings.namespace!r}.", "dim"))
            else:
                console.print(workers_table(workers))

    run(settings, body)
