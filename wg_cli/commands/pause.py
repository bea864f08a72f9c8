"""``wg pause`` and ``wg resume``: stop and restart claiming for a whole namespace, or
for one named queue (``--queue``). The two flags are independent: resuming a queue does
not resume a paused namespace, and resuming the namespace leaves a paused queue paused."""

from __future__ import annotations

from typing import Annotated

import typer

from wg_cli.app import app
from wg_cli.commands.common import queue_arg
from wg_cli.errors import CliError, ExitCode
from wg_cli.output import document, emit, emit_line, stdout_console
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
from wg_core import Client

__all__ = ["pause", "resume"]


QueueOpt = Annotated[
    str | None,
    typer.Option(
        "--queue",
        metavar="QUEUE",
        help="Only this named queue (default: the whole namespace).",
        show_default=False,
    ),
]


def _set_paused(settings: Settings, paused: bool, queue_name: str | None) -> None:
    if settings.output is OutputFormat.ID:
        raise CliError("pause/resume print no ids: use -o table, json or jsonl", ExitCode.USAGE)
    queue = queue_arg(queue_name)

    async def body(client: Client) -> tuple[bool, list[str]]:
        if paused:
            await client.pause(queue=queue)
        else:
            await client.resume(queue=queue)
        if paused:
            return True, []
        # What still stops claiming after a resume: the other flag, said so below.
        if queue is not None:
            return await client.is_paused(), []
        return False, [q.name for q in await client.queues() if q.paused]

    namespace_paused, paused_queues = run(settings, body)
    if settings.machine:
        doc = document(settings, paused=paused, queue=queue)
        (emit if settings.output is OutputFormat.JSON else emit_line)(doc)
    elif queue is not None:
        _say_queue(settings, queue, paused, namespace_paused=namespace_paused)
    elif paused:
        stdout_console().print(
            f"Namespace {settings.namespace!r} paused: workers stop claiming "
            "(running jobs finish). Undo with: wg resume"
        )
    else:
        console = stdout_console()
        console.print(f"Namespace {settings.namespace!r} resumed: workers claim again.")
        if paused_queues:
            console.print(
                f"Still paused on their own: {', '.join(paused_queues)} (wg resume --queue QUEUE)",
                style="yellow",
            )


def _say_queue(settings: Settings, queue: str, paused: bool, *, namespace_paused: bool) -> None:
    console = stdout_console()
    if paused:
        console.print(
            f"Queue {queue!r} of namespace {settings.namespace!r} paused: workers skip it "
            f"(running jobs finish). Undo with: wg resume --queue {queue}"
        )
        return
    console.print(f"Queue {queue!r} of namespace {settings.namespace!r} resumed.")
    if namespace_paused:
        console.print(
            "The namespace itself is still paused: nothing is claimed until: wg resume",
            style="yellow",
        )


@app.command()
def pause(
    ctx: typer.Context,
    queue: QueueOpt = None,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    output: OutputOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Tell every worker of the namespace (or of one --queue) to stop claiming jobs
    (running jobs finish)."""
    _set_paused(resolve(ctx, url, namespace, output, json_output), True, queue)


@app.command()
def resume(
    ctx: typer.Context,
    queue: QueueOpt = None,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    output: OutputOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Let the namespace's workers claim jobs again (or from one --queue again)."""
    _set_paused(resolve(ctx, url, namespace, output, json_output), False, queue)
