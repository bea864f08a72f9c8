"""``wg init`` and ``wg drop``: create a namespace explicitly, remove one for good.

Readers (``status``, ``inspect``, ``health``, the admin commands) never create
anything; writers (``enqueue``, ``worker``, ``demo``) create the namespace on first
use. ``wg init`` creates it without writing a job, e.g. so that ``wg health`` can run
before the first worker starts. ``wg drop`` deletes everything stored under the
namespace (jobs in every state, the worker registry, counters, the pause flag, and its
tables or keys); a SQLite file itself stays, with the other namespaces in it.
"""

from __future__ import annotations

import asyncio

import typer

from wg_cli.app import app
from wg_cli.commands.bulk import YesOpt
from wg_cli.errors import CliError, ExitCode
from wg_cli.output import document, emit, emit_line, stdout_console
from wg_cli.session import confirm_destructive, run
from wg_cli.settings import (
    JsonOpt,
    NamespaceOpt,
    OutputFormat,
    OutputOpt,
    Settings,
    UrlOpt,
    resolve,
)
from wg_core import Client, NamespaceNotFoundError, SchemaOutdatedError

__all__ = ["drop", "init"]


def _no_ids(settings: Settings, command: str) -> None:
    if settings.output is OutputFormat.ID:
        raise CliError(f"{command} prints no ids: use -o table, json or jsonl", ExitCode.USAGE)


def _print(settings: Settings, message: str, **fields: object) -> None:
    if settings.output is OutputFormat.JSON:
        emit(document(settings, **fields))
    elif settings.output is OutputFormat.JSONL:
        emit_line(document(settings, **fields))
    else:
        stdout_console().print(message)


@app.command()
def init(
    ctx: typer.Context,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    output: OutputOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Create the namespace's storage (tables, keys, SQLite file) if missing."""
    settings = resolve(ctx, url, namespace, output, json_output)
    _no_ids(settings, "init")

    async def existed() -> tuple[bool, bool]:
        """(whether the namespace exists, whether its layout is outdated)."""
        try:
            client = await Client.connect(settings.url, settings.namespace, create=False)
        except NamespaceNotFoundError:
            return False, False
        except SchemaOutdatedError:
            return True, True
        await client.close()
        return True, False

    async def nothing(client: Client) -> None:
        return None

    already, outdated = asyncio.run(existed())
    if not already:
        run(settings, nothing, create=True)
    state = "already exists" if already else "created"
    # init creates; it does not upgrade behind the operator's back (wg upgrade does).
    note = " Its storage layout is outdated: run wg upgrade." if outdated else ""
    _print(
        settings,
        f"Namespace {settings.namespace!r} {state} at {settings.display_url}.{note}",
        created=not already,
        outdated=outdated,
    )


@app.command()
def drop(
    ctx: typer.Context,
    yes: YesOpt = False,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    output: OutputOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Delete the namespace: every job in every state, its workers, counters and storage.

    Irreversible; asks first (--yes when not on a terminal). Running workers of the
    namespace should be stopped first: they would create it again.
    """
    settings = resolve(ctx, url, namespace, output, json_output)
    _no_ids(settings, "drop")

    async def body(client: Client) -> int:
        total = (await client.counts()).total
        confirm_destructive(
            f"Drop namespace {settings.namespace!r} at {settings.display_url}, deleting its "
            f"{total} job(s) in every state, its workers and counters?",
            yes=yes,
        )
        await client.backend.destroy()
        return total

    try:
        deleted = run(settings, body)
    except CliError as exc:
        if exc.code is not ExitCode.OUTDATED:
            raise
        # Dropping needs no upgrade, but the backend only opens a current layout: let a
        # writer's open upgrade it (idempotent, loses nothing), then drop it.
        deleted = run(settings, body, create=True)
    _print(
        settings,
        f"Dropped namespace {settings.namespace!r} ({deleted} job(s) deleted).",
        dropped=True,
        deleted=deleted,
    )
