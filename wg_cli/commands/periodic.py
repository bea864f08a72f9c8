"""``wg periodic``: the namespace's periodic entries (``ls``) and running one now
(``run NAME``). Pools register the entries they run (``WorkerPool(periodic=...)``);
the registry keeps each entry's job, so ``run`` needs no code at hand."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from wg_cli.app import app
from wg_cli.durations import format_age, rfc3339
from wg_cli.output import document, emit, emit_line, emit_listing
from wg_cli.session import run
from wg_cli.settings import JsonOpt, NamespaceOpt, OutputFormat, OutputOpt, UrlOpt, resolve
from wg_core import Client, PeriodicInfo

__all__ = ["periodic_app", "periodic_document", "periodic_table"]

periodic_app = typer.Typer(
    name="periodic",
    help="Periodic (cron) entries that worker pools registered: list them, run one now.",
    no_args_is_help=True,
)
app.add_typer(periodic_app)


def periodic_document(entry: PeriodicInfo) -> dict[str, Any]:
    """One periodic entry as JSON (times RFC 3339 UTC)."""
    return {
        "name": entry.name,
        "schedule": entry.schedule,
        "job_name": entry.job_name,
        "queue": entry.queue,
        "priority": entry.priority,
        "next_run": rfc3339(entry.next_run),
        "last_tick": rfc3339(entry.last_tick),
        "last_run_at": rfc3339(entry.last_run_at),
        "last_job_id": entry.last_job_id,
        "registered_at": rfc3339(entry.registered_at),
    }


def periodic_table(entries: Iterable[PeriodicInfo]) -> Table:
    """One row per periodic entry, for people (the job names are in ``-o json``)."""
    now = time.time()
    # No borders, two spaces between columns (as ``wg queues``). On a narrow terminal
    # (80 columns: a pipe) the schedule wraps at its spaces (its time zone on a line of
    # its own) and the job id folds in two halves, whole (-o json has it on one line),
    # rather than a few characters a line.
    table = Table(header_style="bold", box=None, padding=(0, 2, 0, 0), show_edge=False)
    table.add_column("name", no_wrap=True)
    table.add_column("schedule", min_width=len("0 0 * * *"))
    for column in ("queue", "next run", "last run"):
        table.add_column(column, no_wrap=True)
    table.add_column("last job id", overflow="fold", min_width=18)
    for entry in entries:
        table.add_row(
            Text(entry.name, style="cyan"),
            Text(entry.schedule),
            Text(entry.queue if not entry.priority else f"{entry.queue} ({entry.priority:+d})"),
            Text(format_age(entry.next_run, now)),
            Text(format_age(entry.last_run_at, now) if entry.last_run_at else "never"),
            Text(entry.last_job_id or "-", style="dim" if entry.last_job_id is None else ""),
        )
    return table


@periodic_app.command("ls")
def periodic_ls(
    ctx: typer.Context,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    output: OutputOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Periodic entries: schedule, next run, last run, last job id (-o id: the names)."""
    settings = resolve(ctx, url, namespace, output, json_output)

    async def body(client: Client) -> list[PeriodicInfo]:
        return await client.periodic_entries()

    emit_listing(
        settings,
        "periodic",
        run(settings, body),
        to_document=periodic_document,
        to_id=lambda entry: entry.name,
        empty="No periodic entries: pools register theirs when they start.",
        table=periodic_table,
    )


@periodic_app.command("run")
def periodic_run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The entry's name (wg periodic ls).")],
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    output: OutputOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Enqueue one run of a periodic entry now; prints its job id (exit 4: no such entry).

    The run is recorded as the entry's last run; its schedule and ticks are unchanged."""
    settings = resolve(ctx, url, namespace, output, json_output)

    async def body(client: Client) -> str:
        return await client.run_periodic(name)

    job_id = run(settings, body)
    if settings.output is OutputFormat.JSON:
        emit(document(settings, periodic=name, id=job_id))
    elif settings.output is OutputFormat.JSONL:
        emit_line({"periodic": name, "id": job_id})
    else:
        typer.echo(job_id)
