"""``wg queues``: the namespace's named queues, with their jobs per state, pause flag
and totals (the table ``wg status`` ends with, alone)."""

from __future__ import annotations

import typer
from rich.text import Text

from wg_cli.app import app
from wg_cli.output import (
    document,
    emit,
    emit_line,
    print_ids,
    queue_document,
    stdout_console,
)
from wg_cli.session import run
from wg_cli.settings import JsonOpt, NamespaceOpt, OutputFormat, OutputOpt, UrlOpt, resolve
from wg_cli.tables import queues_table
from wg_core import Client, QueueInfo

__all__ = ["queues"]


@app.command()
def queues(
    ctx: typer.Context,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    output: OutputOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Named queues: jobs per state, paused, processed/failed (-o id: the names)."""
    settings = resolve(ctx, url, namespace, output, json_output)

    async def body(client: Client) -> tuple[list[QueueInfo], bool]:
        return await client.queues(), await client.is_paused()

    found, paused = run(settings, body)
    if settings.output is OutputFormat.JSON:
        emit(document(settings, paused=paused, queues=[queue_document(q) for q in found]))
    elif settings.output is OutputFormat.JSONL:
        for queue in found:
            emit_line(queue_document(queue))
    elif settings.output is OutputFormat.ID:
        print_ids(queue.name for queue in found)
    else:
        console = stdout_console()
        if paused:
            console.print(
                Text("The namespace is paused: no queue is claimed from (wg resume).", "yellow")
            )
        console.print(queues_table(found, namespace_paused=paused))
