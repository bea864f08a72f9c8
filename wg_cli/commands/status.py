"""``wg status``: the namespace at a glance, once or refreshed (``--watch``).

Below the namespace's totals, one row per named queue (``Client.queues()``: every
queue holding a job, a pause flag or a counter, ``default`` always); ``wg queues``
prints that table alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.table import Table
from rich.text import Text

from wg_cli.app import app
from wg_cli.commands.common import duration_arg
from wg_cli.durations import format_duration, rfc3339
from wg_cli.errors import CliError, ExitCode
from wg_cli.output import (
    COUNTED_STATES,
    document,
    emit,
    emit_line,
    queue_document,
    stderr_console,
    stdout_console,
)
from wg_cli.session import run
from wg_cli.settings import (
    JsonOpt,
    NamespaceOpt,
    OutputFormat,
    OutputOpt,
    Settings,
    UrlOpt,
    resolve,
)
from wg_cli.tables import queues_table
from wg_core import Client, Counters, QueueInfo, StateCounts, WorkerInfo

__all__ = ["Snapshot", "status", "take_snapshot"]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What ``wg status`` (and ``wg health``) read in one go."""

    taken_at: float
    counts: StateCounts
    counters: Counters
    workers: list[WorkerInfo]
    paused: bool
    queues: list[QueueInfo]
    layout_version: int

    @property
    def oldest_queued_age(self) -> float | None:
        """Seconds the oldest queued job has waited, if any is queued."""
        oldest = self.counts.oldest_queued_at
        return None if oldest is None else max(0.0, self.taken_at - oldest)

    def to_json(self, settings: Settings) -> dict[str, Any]:
        """The ``status`` document."""
        counts = {state: getattr(self.counts, state) for state in COUNTED_STATES}
        return document(
            settings,
            generated_at=rfc3339(round(self.taken_at, 3)),
            paused=self.paused,
            counts={**counts, "total": self.counts.total},
            oldest_queued_at=rfc3339(self.counts.oldest_queued_at),
            oldest_queued_age_seconds=(
                None if self.oldest_queued_age is None else round(self.oldest_queued_age, 3)
            ),
            workers=len(self.workers),
            busy=sum(worker.running for worker in self.workers),
            concurrency=sum(worker.concurrency for worker in self.workers),
            processed=self.counters.processed,
            failed=self.counters.failed,
            layout_version=self.layout_version,
            queues=[queue_document(queue) for queue in self.queues],
        )


async def take_snapshot(client: Client) -> Snapshot:
    """Read counts, counters, workers, the pause flags, the queues and the layout."""
    counts = await client.counts()
    counters = await client.counters()
    workers = await client.workers()
    paused = await client.is_paused()
    queues = await client.queues()
    layout = await client.layout_version()
    return Snapshot(time.time(), counts, counters, workers, paused, queues, layout)


def _render(snapshot: Snapshot, settings: Settings) -> Group:
    header = Text.assemble(
        ("namespace ", "dim"),
        (settings.namespace, "bold"),
        ("  backend ", "dim"),
        settings.display_url,
    )
    if snapshot.paused:
        header.append("  PAUSED", style="bold yellow")
    counts = Table(show_edge=False, header_style="bold", box=None, padding=(0, 2, 0, 0))
    styles = {"retry": "yellow", "dead": "red", "running": "green", "cancelled": "dim"}
    for state in COUNTED_STATES:
        counts.add_column(state, justify="right", style=styles.get(state))
    counts.add_row(*(str(getattr(snapshot.counts, state)) for state in COUNTED_STATES))
    age = snapshot.oldest_queued_age
    busy = sum(worker.running for worker in snapshot.workers)
    slots = sum(worker.concurrency for worker in snapshot.workers)
    facts = Text.assemble(
        ("oldest queued ", "dim"),
        "-" if age is None else format_duration(age),
        ("  workers ", "dim"),
        f"{len(snapshot.workers)} ({busy}/{slots} busy)",
        ("  processed ", "dim"),
        str(snapshot.counters.processed),
        ("  failed ", "dim"),
        str(snapshot.counters.failed),
        ("  layout ", "dim"),
        f"v{snapshot.layout_version}",
    )
    queues = queues_table(snapshot.queues, namespace_paused=snapshot.paused)
    return Group(header, Text(""), counts, Text(""), facts, Text(""), queues)


@app.command()
def status(
    ctx: typer.Context,
    watch: Annotated[
        str | None,
        typer.Option(
            "--watch",
            "-w",
            metavar="SECONDS",
            help="Refresh every SECONDS (e.g. 2 or 2s) until Ctrl-C; "
            "with -o json, one compact document per line.",
        ),
    ] = None,
    count: Annotated[
        int | None,
        typer.Option("--count", min=1, help="With --watch: stop after this many refreshes."),
    ] = None,
    recount: Annotated[
        bool,
        typer.Option(
            "--recount",
            help="First count the stored jobs again and repair the kept state counts "
            "(PostgreSQL, MySQL/MariaDB: after a TRUNCATE or another writer that "
            "bypassed the counting triggers).",
        ),
    ] = False,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    output: OutputOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Jobs per state, age of the oldest queued job, workers, processed/failed totals,
    and the same per named queue."""
    settings = resolve(ctx, url, namespace, output, json_output)
    if settings.output is OutputFormat.ID:
        raise CliError("status has no ids to print: use -o table, json or jsonl", ExitCode.USAGE)
    interval = duration_arg(watch, "--watch")
    if interval is not None and interval <= 0:
        raise CliError("invalid --watch: the interval must be positive", ExitCode.USAGE)

    async def repair(client: Client) -> None:
        if await client.recount():
            stderr_console().print("recounted the stored jobs: the state counts are exact")
        else:
            stderr_console().print("nothing to recount: this backend counts the jobs each time")

    async def once(client: Client) -> None:
        if recount:
            await repair(client)
        snapshot = await take_snapshot(client)
        if settings.output is OutputFormat.JSON:
            emit(snapshot.to_json(settings))
        elif settings.output is OutputFormat.JSONL:
            emit_line(snapshot.to_json(settings))
        else:
            stdout_console().print(_render(snapshot, settings))

    async def watching(client: Client) -> None:
        assert interval is not None
        refreshes = 0
        if recount:
            await repair(client)
        if settings.machine:
            while count is None or refreshes < count:
                if refreshes:
                    await asyncio.sleep(interval)
                emit_line((await take_snapshot(client)).to_json(settings))
                refreshes += 1
            return
        from rich.live import Live

        console = stdout_console()
        with Live(console=console, auto_refresh=False) as live:
            while count is None or refreshes < count:
                if refreshes:
                    await asyncio.sleep(interval)
                live.update(_render(await take_snapshot(client), settings), refresh=True)
                refreshes += 1

    if interval is None:
        run(settings, once)
        return
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a watch ends
        run(settings, watching)
