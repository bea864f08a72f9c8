"""``wg demo``: see wg work in a few seconds, with no server.

Enqueues a realistic mix into the configured backend (by default the SQLite file
``wg.db``): immediate jobs, jobs scheduled a few seconds out, jobs that fail and then
succeed on retry, and jobs that fail for good. A ``WorkerPool`` with the handlers of
``wg_cli.demo_jobs`` processes them under a live display (on stderr), then a summary
goes to stdout. Dead jobs stay in the store, so ``wg inspect dead`` shows them after.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from typing import Annotated, Final

import typer
from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from wg_cli import demo_jobs
from wg_cli.app import app
from wg_cli.commands.inspect import iter_jobs
from wg_cli.durations import format_duration
from wg_cli.errors import CliError, ExitCode
from wg_cli.output import document, emit, emit_line, job_document, stderr_console, stdout_console
from wg_cli.session import connect
from wg_cli.settings import (
    JsonOpt,
    NamespaceOpt,
    OutputFormat,
    OutputOpt,
    Settings,
    UrlOpt,
    resolve,
)
from wg_core import (
    DEFAULT_URL,
    Client,
    JobInfo,
    JobOptions,
    JobSpec,
    JobState,
    PoolStats,
    WorkerPool,
)

__all__ = ["demo", "demo_jobs_mix"]

DEADLINE: Final = 50.0
"""Seconds after which the demo stops waiting (it normally takes well under ten)."""

_NAMES: Final = ("ada", "grace", "linus", "guido", "barbara", "ken", "margaret", "alan")


def demo_jobs_mix(rng: random.Random) -> list[JobSpec]:
    """The demo's jobs: 59 of four kinds, with every way a job can end."""
    quick_retry = JobOptions(max_retries=3, retry_delay=0.5, timeout=30)
    specs: list[JobSpec] = []
    for n in range(30):
        name = rng.choice(_NAMES)
        email = demo_jobs.Email(
            to=f"{name}@example.com", subject=f"Welcome #{n}", work_ms=rng.randint(20, 120)
        )
        specs.append(JobSpec(payload=email, job_name="send_email"))
    for n in range(12):
        image = demo_jobs.ResizeImage(
            path=f"uploads/photo-{n:03}.jpg", work_ms=rng.randint(40, 150)
        )
        specs.append(JobSpec(payload=image, job_name="resize_image"))
    for n in range(6):
        reminder = demo_jobs.Email(to=f"{rng.choice(_NAMES)}@example.com", subject=f"Reminder {n}")
        specs.append(JobSpec(payload=reminder, job_name="send_email", delay=2 + n * 0.4))
    for n in range(6):
        charge = demo_jobs.ChargeCard(
            order=f"A-{1000 + n}", cents=rng.randint(500, 9000), fail_times=1 + n % 2
        )
        specs.append(JobSpec(payload=charge, job_name="charge_card", options=quick_retry))
    for address in ("not-an-address", "grace(at)example.com", ""):
        specs.append(
            JobSpec(payload=demo_jobs.Email(to=address, subject="Oops"), job_name="send_email")
        )
    for supplier in ("acme-parts", "globex"):
        specs.append(
            JobSpec(
                payload=demo_jobs.InventorySync(supplier=supplier),
                job_name="sync_inventory",
                options=JobOptions(max_retries=2, retry_delay=0.5, timeout=30),
            )
        )
    return specs


def _exports(settings: Settings) -> str:
    """A shell line that points later commands at the demo's store, if not the default."""
    parts = []
    if settings.url != DEFAULT_URL:
        parts.append(f"WG_URL='{settings.display_url}'")
    if settings.namespace != "wg":
        parts.append(f"WG_NAMESPACE={settings.namespace}")
    return f"export {' '.join(parts)}" if parts else ""


def _summary(
    settings: Settings, stats: PoolStats, enqueued: int, elapsed: float, dead: list[JobInfo]
) -> None:
    if settings.output is OutputFormat.JSON or settings.output is OutputFormat.JSONL:
        doc = document(
            settings,
            enqueued=enqueued,
            processed=stats.processed,
            retried=stats.retried,
            dead=stats.dead,
            released=stats.released,
            elapsed_seconds=round(elapsed, 3),
            dead_jobs=[job_document(job) for job in dead],
        )
        (emit if settings.output is OutputFormat.JSON else emit_line)(doc)
        return
    console = stdout_console()
    table = Table(title=f"wg demo — {format_duration(elapsed)}", title_justify="left")
    table.add_column("jobs")
    table.add_column("count", justify="right")
    table.add_row("enqueued", str(enqueued))
    table.add_row(Text("processed", "green"), str(stats.processed))
    table.add_row(Text("retried (failed attempts run again)", "yellow"), str(stats.retried))
    table.add_row(Text("dead (kept for inspection)", "red"), str(stats.dead))
    console.print(table)
    if dead:
        dead_table = Table(title="dead-letter queue", title_justify="left")
        dead_table.add_column("id", style="cyan", no_wrap=True)
        dead_table.add_column("job", no_wrap=True)
        dead_table.add_column("last error")
        for job in dead:
            dead_table.add_row(job.job_id, job.job_name or "-", Text(job.last_error or "-"))
        console.print(dead_table)
    hints = Table.grid(padding=(0, 3))
    hints.add_column(style="cyan", no_wrap=True)
    hints.add_column(no_wrap=True, overflow="ellipsis")
    hints.add_row("wg inspect dead", "the dead jobs, kept in the store")
    hints.add_row("wg retry --all --yes", "put them back in the queue")
    hints.add_row("wg-tui", "the live dashboard")
    hints.add_row("wg worker wg_cli.demo_jobs:handlers", "run the demo's handlers")
    console.print(Text("Next:", "bold"))
    exports = _exports(settings)
    if exports:
        console.print(Text(exports, "cyan"), soft_wrap=True)
    console.print(hints)


@app.command()
def demo(
    ctx: typer.Context,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Jobs run at once.")] = 4,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed for the job mix.")] = None,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    output: OutputOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Enqueue a realistic mix of jobs, process them live, and summarize (a few seconds).

    Runs on the embedded SQLite file wg.db by default; the dead jobs stay there, so
    `wg inspect dead` shows them afterwards.
    """
    settings = resolve(ctx, url, namespace, output, json_output)
    if settings.output is OutputFormat.ID:
        raise CliError("demo prints no ids: use -o table, json or jsonl", ExitCode.USAGE)
    specs = demo_jobs_mix(random.Random(seed))

    async def body() -> tuple[PoolStats, float, list[JobInfo]]:
        client = await connect(settings, create=True)
        try:
            return await _run_demo(client, settings, specs, workers)
        finally:
            await client.close()

    stats, elapsed, dead = asyncio.run(body())
    _summary(settings, stats, len(specs), elapsed, dead)
    if elapsed >= DEADLINE:
        raise CliError(
            f"the demo did not finish within {DEADLINE:.0f}s; `wg status` shows what is left",
            ExitCode.FAILURE,
        )


async def _run_demo(
    client: Client, settings: Settings, specs: list[JobSpec], workers: int
) -> tuple[PoolStats, float, list[JobInfo]]:
    counts = await client.counts()
    pending = counts.queued + counts.scheduled + counts.retry + counts.running
    if pending:
        raise CliError(
            f"namespace {settings.namespace!r} already has {pending} unfinished job(s), which "
            "the demo's worker would run with the wrong handlers: use another --namespace, "
            "or empty it with: wg purge all",
            ExitCode.FAILURE,
        )
    ids = await client.enqueue_many(specs)
    started = time.monotonic()
    pool = WorkerPool(
        handlers=demo_jobs.handlers,
        url=settings.url,
        namespace=settings.namespace,
        workers=workers,
        scheduler_interval=0.25,
        retrier_interval=0.25,
        shutdown_timeout=5,
    )
    progress = Progress(
        TextColumn("[bold]wg demo"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("jobs finished"),
        TimeElapsedColumn(),
    )
    task = progress.add_task("jobs", total=len(ids))
    states = Text()
    wg_logger = logging.getLogger("wg")
    level = wg_logger.level
    # The pool logs each dead job; the live display and the summary already say it.
    wg_logger.setLevel(logging.ERROR)
    console = stderr_console()
    # A live display only on a terminal: elsewhere (a pipe, a log, CI) Rich leaves its
    # last frame without a line break, and the summary's title ran into it. There, one
    # line at the end says the same.
    live = (
        Live(Group(progress, states), console=console, refresh_per_second=10)
        if console.is_terminal
        else contextlib.nullcontext()
    )
    await pool.start()
    try:
        with live:
            while time.monotonic() - started < DEADLINE:
                counts = await client.counts()
                stats = pool.stats
                unfinished = counts.queued + counts.scheduled + counts.retry + counts.running
                progress.update(task, completed=len(ids) - unfinished)
                states.plain = (
                    f"{counts.queued} queued · {counts.scheduled} scheduled · "
                    f"{counts.retry} retry · {counts.running} running │ "
                    f"{stats.processed} ok · {stats.retried} retried · {stats.dead} dead"
                )
                if unfinished == 0:
                    break
                await asyncio.sleep(0.1)
    finally:
        pool.shutdown()
        await pool.wait_closed()
        wg_logger.setLevel(level)
    if not console.is_terminal:
        console.print(f"wg demo: {states.plain}", soft_wrap=True)
    elapsed = time.monotonic() - started
    # Only this run's dead jobs: earlier demos' may still be there.
    ours = set(ids)
    dead = [job async for job in iter_jobs(client, JobState.DEAD, limit=None) if job.job_id in ours]
    return pool.stats, elapsed, dead
