"""``wg migrate``: copy (or move) a namespace's jobs from one backend to another.

A shell over ``wg_core.migrate_urls`` (see ``wg_core.migrating`` for what is copied
and the guarantees): a progress bar on stderr while it runs, then a summary per state,
or one JSON document. A source with active workers is refused (exit 5) unless
``--force``; the same URL on both sides, or a bad queue name, is a usage error.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from wg_cli.app import app
from wg_cli.commands.bulk import DryRunOpt
from wg_cli.commands.common import QueueFilterOpt, queue_arg
from wg_cli.errors import CliError, ExitCode
from wg_cli.output import document, emit, emit_line, stderr_console, stdout_console
from wg_cli.settings import JsonOpt, NamespaceOpt, OutputFormat, OutputOpt, resolve
from wg_core import ActiveWorkersError, MigrationReport, migrate_urls
from wg_core.migrating import COPIED_STATES, DEFAULT_BATCH

__all__ = ["migrate"]


def _run(
    source: str,
    target: str,
    namespace: str,
    *,
    queue: str | None,
    dry_run: bool,
    move: bool,
    force: bool,
    batch_size: int,
    show_progress: bool,
) -> MigrationReport:
    console = stderr_console()
    with Progress(
        TextColumn("copying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not (show_progress and console.is_terminal),
    ) as bar:
        task = bar.add_task("copying", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return asyncio.run(
            migrate_urls(
                source,
                target,
                namespace=namespace,
                queue=queue,
                dry_run=dry_run,
                move=move,
                force=force,
                batch_size=batch_size,
                on_progress=advance,
            )
        )


@app.command()
def migrate(
    ctx: typer.Context,
    source: Annotated[
        str,
        typer.Option("--from", help="URL of the backend to copy from.", show_default=False),
    ],
    target: Annotated[
        str, typer.Option("--to", help="URL of the backend to copy to.", show_default=False)
    ],
    queue: QueueFilterOpt = None,
    move: Annotated[
        bool,
        typer.Option("--move", help="Delete from the source each job the target has committed."),
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Run even though workers of the source are active."),
    ] = False,
    batch_size: Annotated[
        int,
        typer.Option("--batch-size", min=1, help="Jobs per page read from the source and written."),
    ] = DEFAULT_BATCH,
    dry_run: DryRunOpt = False,
    namespace: NamespaceOpt = None,
    output: OutputOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Copy every job of a namespace from one backend to another (ids kept).

    Queued jobs keep their order, scheduled and retry jobs their due times, dead jobs
    their errors, completed and cancelled ones their results. Running jobs are not
    copied. Safe to run again: ids the target has are skipped. The namespace is the
    same on both sides.
    """
    settings = resolve(ctx, None, namespace, output, json_output)
    if settings.output is OutputFormat.ID:
        raise CliError("migrate prints no ids: use -o table, json or jsonl", ExitCode.USAGE)
    queue = queue_arg(queue)
    try:
        report = _run(
            source,
            target,
            settings.namespace,
            queue=queue,
            dry_run=dry_run,
            move=move,
            force=force,
            batch_size=batch_size,
            show_progress=not settings.machine,
        )
    except ActiveWorkersError as exc:
        raise CliError(f"migrate refused: {exc} (--force)", ExitCode.REFUSED) from None
    except ValueError as exc:
        raise CliError(str(exc), ExitCode.USAGE) from None
    if settings.machine:
        doc = document(settings, **report.as_dict())
        doc["backend"] = report.source
        (emit if settings.output is OutputFormat.JSON else emit_line)(doc)
        return
    _print(report)


def _print(report: MigrationReport) -> None:
    console = stdout_console()
    verb = "would copy" if report.dry_run else "copied"
    console.print(f"{report.source} → {report.target}", soft_wrap=True)
    table = Table()
    table.add_column("state")
    table.add_column("in source", justify="right")
    if not report.dry_run:
        table.add_column("copied", justify="right")
        table.add_column("already there", justify="right")
    for state in COPIED_STATES:
        row = [str(state), str(report.found[state])]
        if not report.dry_run:
            row += [str(report.copied[state]), str(report.skipped[state])]
        table.add_row(*row)
    console.print(table)
    total = report.total_found if report.dry_run else report.total_copied
    lines = [f"Namespace {report.namespace!r}: {verb} {total} job(s)."]
    if report.running:
        lines.append(
            f"{report.running} running job(s) not copied: a worker holds them "
            "(run again once they have finished)."
        )
    if report.move and not report.dry_run:
        lines.append(f"Deleted from the source: {report.deleted}.")
    if report.paused:
        lines.append("Paused on the target as on the source: " + ", ".join(report.paused))
    if report.active_workers:
        lines.append(f"Forced past {report.active_workers} active worker(s) of the source.")
    if report.dry_run:
        lines.append("Nothing changed (dry run).")
    for line in lines:
        console.print(line, soft_wrap=True)
