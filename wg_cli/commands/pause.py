"""``wg pause`` and ``wg resume``: stop and restart claiming for a whole namespace."""

from __future__ import annotations

import typer

from wg_cli.app import app
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
